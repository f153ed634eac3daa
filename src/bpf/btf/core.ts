// CO-RE ("compile once, run everywhere"): the field offsets, sizes and existence, type facts and enum
// values a program was compiled with (its own BTF) resolved against the running kernel's BTF, by
// names. The rules are libbpf's (src/relo_core.c: bpf_core_calc_relo_insn and what it calls), so an
// object relocates here as it does under libbpf and bpftool.
import { type Btf, type BtfType, BtfError } from './btf.js';
import { CoreReloKind } from './ext.js';

export interface CoreResult {
  /**
   * Whether the target has the field, type or enumerator (for TYPE_MATCHES: a type that matches).
   * When false, existence and type relocations give 0; field and enum-value reads are poisoned.
   */
  found: boolean;
  /** The value to patch in: a bigint for ENUMVAL_VALUE (an enumerator may be 64 bits), a number otherwise. */
  value: number | bigint;
  /** Why it was not found, for the error when the program depends on it. */
  reason?: string;
}

const KIND_NAMES = Object.fromEntries(Object.entries(CoreReloKind).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>;
const isFieldKind = (kind: number) => kind <= CoreReloKind.FIELD_RSHIFT_U64;
const isEnumValKind = (kind: number) => kind === CoreReloKind.ENUMVAL_EXISTS || kind === CoreReloKind.ENUMVAL_VALUE;

/**
 * libbpf's flavors: "task_struct___v2" is task_struct to CO-RE. The suffix starts at the last
 * "___" that has a non-underscore on both sides (bpf_core_essential_name_len).
 */
export function essentialName(n: string): string {
  for (let i = n.length - 5; i >= 0; i--) {
    if (n[i] !== '_' && n[i + 1] === '_' && n[i + 2] === '_' && n[i + 3] === '_' && n[i + 4] !== '_') return n.slice(0, i + 1);
  }
  return n;
}

/** The void type has no name in BTF; Btf calls it "void" for printing. */
const btfName = (t: BtfType) => (t.id === 0 ? '' : t.name);
const isComposite = (t: BtfType) => t.kind === 'STRUCT' || t.kind === 'UNION';
const isEnum = (t: BtfType) => t.kind === 'ENUM' || t.kind === 'ENUM64';
/** Same kind, or enum and enum64 (btf_kind_core_compat). */
const kindsCompat = (a: BtfType, b: BtfType) => a.kind === b.kind || (isEnum(a) && isEnum(b));
/** Names equal but for flavors; an anonymous target matches only an anonymous local (bpf_core_names_match). */
const namesMatch = (local: string, target: string) => (target === '' ? local === '' : essentialName(local) === essentialName(target));
/** A type as C spells it, for messages: "struct task_struct", "unsigned int", "a pointer". */
function describe(t: BtfType): string {
  const name = btfName(t) || '(anon)';
  switch (t.kind) {
    case 'STRUCT': case 'UNION': case 'ENUM': return `${t.kind.toLowerCase()} ${name}`;
    case 'ENUM64': return `enum ${name}`;
    case 'FWD': return `${t.kindFlag ? 'union' : 'struct'} ${name} (forward declaration)`;
    case 'TYPEDEF': return `typedef ${name}`;
    case 'INT': case 'FLOAT': return name;
    case 'UNKN': return 'void';
    case 'PTR': return 'a pointer';
    case 'ARRAY': return 'an array';
    case 'FUNC_PROTO': return 'a function prototype';
    default: return `${t.kind.toLowerCase()} ${name}`;
  }
}

const byEssentialName = new WeakMap<Btf, Map<string, number[]>>();
const recordsSignedness = new WeakMap<Btf, boolean>();

/**
 * An enumerator's value as C has it. BTF from pahole 1.24 / clang 15 on (Linux 6.0: enum64 and
 * kind_flag for signed enums) says whether an enum is signed, so an unsigned 0xeffffffc stays
 * positive; older BTF does not, and its 32-bit values are taken as signed, as libbpf takes all
 * of them (libbpf, through 1.7 at least, gives 0xffffffffeffffffc for an unsigned 0xeffffffc).
 */
function enumValue(btf: Btf, t: BtfType, value: bigint): bigint {
  let known = recordsSignedness.get(btf);
  if (known === undefined) {
    known = btf.someRecord((kind, kindFlag) => kind === 'ENUM64' || (kind === 'ENUM' && kindFlag));
    recordsSignedness.set(btf, known);
  }
  return t.kind === 'ENUM' && !known ? BigInt.asIntN(32, value) : value;
}

/** Target types a local type may relocate to: compatible kind, same essential name (bpf_core_add_cands). */
function candidates(target: Btf, lt: BtfType): BtfType[] {
  let index = byEssentialName.get(target);
  if (!index) byEssentialName.set(target, index = new Map());
  const ess = essentialName(lt.name);
  let ids = index.get(ess);
  if (!ids) {
    // Names that start with the essential name: "task_struct" and "task_struct___v2" alike.
    ids = target.idsWithNamePrefix(ess).filter((id) => essentialName(target.type(id).name) === ess);
    index.set(ess, ids);
  }
  return ids.map((id) => target.type(id)).filter((t) => kindsCompat(t, lt));
}

/** What one matching candidate gives; `bitOffset` for field relocations, which must agree too. */
interface CandidateResult { id: number; value: number | bigint; bitOffset?: number }

/**
 * Resolve one relocation. `access` is clang's access string: "0:3:1" for a field (first index:
 * array over the base pointer), the enumerator's index in the local enum for enum values, "0" for
 * type relocations. Every candidate of the same essential name is tried, as libbpf does; when
 * several match and give different values the relocation is ambiguous and this throws.
 * Kernel module BTF is not searched (libbpf looks there when vmlinux has no candidate).
 */
export function resolveCoreRelo(local: Btf, target: Btf, typeId: number, access: string, kind: number): CoreResult {
  if (kind === CoreReloKind.TYPE_ID_LOCAL) return { found: true, value: typeId };
  const what = KIND_NAMES[kind];
  if (!what) throw new BtfError(`CO-RE relocation kind ${kind} is not known (libbpf knows 0 to 12)`);
  const lt = local.type(typeId);
  if (!lt.name) throw new BtfError(`CO-RE ${what} relocation of an anonymous ${lt.kind.toLowerCase()} (local type ${typeId}): kernel types are found by name; give the type a name (libbpf refuses these too)`);
  const cands = candidates(target, lt);
  const name = describe(lt);
  const kernelName = describe({ ...lt, name: essentialName(lt.name) });

  let match: (cand: BtfType) => CandidateResult | string;
  let missing: string;
  if (isFieldKind(kind)) {
    const path = parseAccess(access);
    const spec = localFieldSpec(local, lt, path, access);
    match = (cand) => {
      const r = matchField(local, target, spec, cand);
      return typeof r === 'string' ? r : { id: cand.id, value: fieldValue(target, r, kind), bitOffset: r.bitOffset };
    };
    missing = `the kernel has no ${kernelName}`;
  } else if (isEnumValKind(kind)) {
    const path = parseAccess(access);
    const le = local.resolve(typeId);
    if (!isEnum(le) || path.length !== 1 || path[0]! >= le.values!.length) {
      throw new BtfError(`bad CO-RE ${what} relocation: "${access}" is not an enumerator index of local ${describe(le)}`);
    }
    const enumerator = le.values![path[0]!]!.name;
    const wanted = essentialName(enumerator);
    match = (cand) => {
      const te = target.resolve(cand.id);
      if (!isEnum(te)) return `${describe(cand)} is not an enum in the kernel`;
      const v = te.values!.find((e) => essentialName(e.name) === wanted);
      if (!v) return `the kernel's ${describe(te)} has no enumerator ${wanted}`;
      return { id: cand.id, value: kind === CoreReloKind.ENUMVAL_VALUE ? enumValue(target, te, v.value) : 1 };
    };
    missing = `the kernel has no ${kernelName}, so no enumerator ${wanted}`;
  } else {
    if (access !== '0') throw new BtfError(`bad CO-RE ${what} relocation: access string "${access}" (type relocations have "0")`);
    match = (cand) => {
      if (kind === CoreReloKind.TYPE_MATCHES) {
        const why: string[] = [];
        if (!typesMatch(local, typeId, target, cand.id, false, 32, why)) return `the kernel's ${describe(cand)} (type ${cand.id}) does not match the local one: ${why.reverse().join(': ') || 'different'}`;
      } else if (!typesCompat(local, typeId, target, cand.id, 32)) {
        return `the kernel's ${describe(cand)} (type ${cand.id}) is not compatible with the local one`;
      }
      return { id: cand.id, value: kind === CoreReloKind.TYPE_ID_TARGET ? cand.id : kind === CoreReloKind.TYPE_SIZE ? target.sizeOf(cand.id) : 1 };
    };
    missing = `the kernel has no ${kernelName}`;
  }

  const matched: CandidateResult[] = [];
  const reasons: string[] = [];
  for (const cand of cands) {
    const r = match(cand);
    if (typeof r === 'string') reasons.push(r); else matched.push(r);
  }
  if (matched.length === 0) return { found: false, value: kind === CoreReloKind.ENUMVAL_VALUE ? 0n : 0, reason: reasons.length ? [...new Set(reasons)].join('; ') : missing };
  const first = matched[0]!;
  for (const r of matched.slice(1)) {
    if (r.bitOffset !== first.bitOffset || r.value !== first.value) {
      const show = (c: CandidateResult) => `type ${c.id} gives ${r.bitOffset !== first.bitOffset ? `bit offset ${c.bitOffset}` : String(c.value)}`;
      throw new BtfError(`CO-RE ${what} relocation of ${name} is ambiguous: ${matched.length} kernel types match and disagree (${show(first)}, ${show(r)}): the kernel defines ${kernelName} more than once (libbpf refuses this relocation too)`);
    }
  }
  return { found: true, value: first.value };
}

function parseAccess(access: string): number[] {
  const path = access.split(':').map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (path.length === 0 || path.some((n) => !Number.isSafeInteger(n))) throw new BtfError(`bad CO-RE access string "${access}"`);
  return path;
}

/** One step of a field access: a named member (matched by name in the target) or an array index. */
type Accessor = { member: string; memberType: number } | { index: number };

/**
 * The local access path as libbpf's high-level spec: named members and array indices. Members of
 * anonymous structs and unions are not steps of their own: the target is searched through its
 * anonymous members for the name, wherever the kernel nests it.
 */
function localFieldSpec(local: Btf, lt: BtfType, path: number[], access: string): Accessor[] {
  const bad = (m: string): never => { throw new BtfError(`bad CO-RE field access "${access}" on local ${describe(lt)}: ${m}`); };
  const spec: Accessor[] = [{ index: path[0]! }];
  let t = local.resolve(lt.id);
  let lastMemberWasLast = false;
  for (const idx of path.slice(1)) {
    if (isComposite(t)) {
      const m = t.members![idx] ?? bad(`index ${idx} is past the ${t.members!.length} members of ${describe(t)}`);
      if (m.name) spec.push({ member: m.name, memberType: m.type });
      lastMemberWasLast = idx === t.members!.length - 1;
      t = local.resolve(m.type);
    } else if (t.kind === 'ARRAY') {
      if (idx >= t.array!.nelems && !(t.array!.nelems === 0 && lastMemberWasLast)) bad(`index ${idx} is past an array of ${t.array!.nelems}`);
      spec.push({ index: idx });
      lastMemberWasLast = false;
      t = local.resolve(t.array!.type);
    } else {
      bad(`cannot index into a ${t.kind}`);
    }
  }
  return spec;
}

/** Find a member by name in `t`, looking through anonymous struct/union members. Bit offset relative to t. */
function findMember(btf: Btf, t: BtfType, name: string, depth = 0): { type: number; bitOffset: number; bitfieldSize: number; isLast: boolean } | undefined {
  if (depth > 16) return undefined;
  const members = t.members ?? [];
  for (const [i, m] of members.entries()) {
    if (m.name === name) return { ...m, isLast: i === members.length - 1 };
    if (!m.name) {
      const inner = btf.resolve(m.type);
      if (!isComposite(inner)) continue;
      const f = findMember(btf, inner, name, depth + 1);
      if (f) return { ...f, bitOffset: m.bitOffset + f.bitOffset };
    }
  }
  return undefined;
}

/** Whether a local field may relocate to the target's field of the same name (bpf_core_fields_are_compat). */
function fieldsCompat(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < 32; depth++) {
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (isComposite(l) && isComposite(t)) return true;
    if (!kindsCompat(l, t)) return false;
    switch (l.kind) {
      case 'PTR': case 'FLOAT': return true;
      case 'FWD': case 'ENUM': case 'ENUM64': return !l.name || !t.name || essentialName(l.name) === essentialName(t.name);
      // Integers of any size and sign relocate; only the old bitfield-like encoding does not.
      case 'INT': return l.int!.bitOffset === 0 && t.int!.bitOffset === 0;
      case 'ARRAY': localId = l.array!.type; targetId = t.array!.type; continue;
      default: return false;
    }
  }
  throw new BtfError('CO-RE: field types nest too deeply');
}

interface FieldMatch { type: number; bitOffset: number; bitfieldSize: number; named: boolean }

function matchField(local: Btf, target: Btf, spec: Accessor[], cand: BtfType): FieldMatch | string {
  let t = target.resolve(cand.id);
  let type = t.id;
  let bitOffset = (spec[0] as { index: number }).index * target.sizeOf(cand.id) * 8;
  let bitfieldSize = 0;
  let lastMemberWasLast = false;
  let named = false;
  for (const acc of spec.slice(1)) {
    if ('member' in acc) {
      if (!isComposite(t)) return `${describe(t)} is not a struct or union in the kernel`;
      const tm = findMember(target, t, acc.member);
      if (!tm) return `the kernel's ${describe(t)} has no field ${acc.member}`;
      if (!fieldsCompat(local, acc.memberType, target, tm.type)) {
        return `field ${acc.member} is ${local.typeName(acc.memberType)} locally and ${target.typeName(tm.type)} in the kernel`;
      }
      bitOffset += tm.bitOffset;
      bitfieldSize = tm.bitfieldSize;
      lastMemberWasLast = tm.isLast;
      named = true;
      type = tm.type;
    } else {
      if (t.kind !== 'ARRAY') return `${describe(t)} is not an array in the kernel`;
      const flex = t.array!.nelems === 0 && lastMemberWasLast;
      if (!flex && acc.index >= t.array!.nelems) return `index ${acc.index} is past the kernel's array of ${t.array!.nelems}`;
      type = t.array!.type;
      bitOffset += acc.index * target.sizeOf(type) * 8;
      bitfieldSize = 0;
      lastMemberWasLast = false;
      named = false;
    }
    t = target.resolve(type);
  }
  return { type, bitOffset, bitfieldSize, named };
}

/** The value of a field relocation from the target field (bpf_core_calc_field_relo). */
function fieldValue(target: Btf, f: FieldMatch, kind: number): number {
  if (kind === CoreReloKind.FIELD_EXISTS) return 1;
  if (!f.named) {
    // The access ends at an array element (or the base pointer): only offset and size make sense.
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET) return Math.floor(f.bitOffset / 8);
    if (kind === CoreReloKind.FIELD_BYTE_SIZE) return target.sizeOf(f.type);
    throw new BtfError(`CO-RE ${KIND_NAMES[kind]} relocation cannot apply to an array element`);
  }
  const mt = target.resolve(f.type);
  let byteSize: number, byteOffset: number, bitSize: number;
  if (f.bitfieldSize) {
    // The smallest aligned load, from the field type's size up, that holds the whole bitfield.
    bitSize = f.bitfieldSize;
    byteSize = mt.size!;
    byteOffset = Math.floor(Math.floor(f.bitOffset / 8) / byteSize) * byteSize;
    while (f.bitOffset + bitSize - byteOffset * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new BtfError(`CO-RE: the kernel's bitfield at bit ${f.bitOffset} (${bitSize} bits) cannot be read with a 64-bit load`);
      byteSize *= 2;
      byteOffset = Math.floor(Math.floor(f.bitOffset / 8) / byteSize) * byteSize;
    }
  } else {
    byteSize = target.sizeOf(f.type);
    byteOffset = Math.floor(f.bitOffset / 8);
    bitSize = byteSize * 8;
  }
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET: return byteOffset;
    case CoreReloKind.FIELD_BYTE_SIZE: return byteSize;
    case CoreReloKind.FIELD_SIGNED: return (isEnum(mt) && mt.kindFlag) || (mt.kind === 'INT' && mt.int!.signed) ? 1 : 0;
    // Little-endian: shift the field's top bit to bit 63, then down to bit 0.
    case CoreReloKind.FIELD_LSHIFT_U64: return 64 - (f.bitOffset + bitSize - byteOffset * 8);
    default: return 64 - bitSize;
  }
}

/**
 * Compatibility for TYPE_EXISTS, TYPE_SIZE and TYPE_ID_TARGET (bpf_core_types_are_compat): past
 * the root's name, names are ignored; kinds must agree; pointers, arrays and function prototypes
 * are compared through what they refer to.
 */
export function typesCompat(local: Btf, localId: number, target: Btf, targetId: number, level = 2): boolean {
  if (!kindsCompat(local.type(localId), target.type(targetId))) return false;
  for (let depth = 0; depth < 32; depth++) {
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (!kindsCompat(l, t)) return false;
    switch (l.kind) {
      case 'UNKN': case 'STRUCT': case 'UNION': case 'ENUM': case 'ENUM64': case 'FWD': return true;
      case 'INT': return l.int!.bitOffset === 0 && t.int!.bitOffset === 0;
      case 'PTR': localId = l.type!; targetId = t.type!; continue;
      case 'ARRAY': localId = l.array!.type; targetId = t.array!.type; continue;
      case 'FUNC_PROTO': {
        if (l.params!.length !== t.params!.length) return false;
        for (const [i, p] of l.params!.entries()) {
          if (level <= 0) throw new BtfError('CO-RE: function prototypes nest too deeply');
          if (!typesCompat(local, local.resolve(p.type).id, target, target.resolve(t.params![i]!.type).id, level - 1)) return false;
        }
        localId = l.type!; targetId = t.type!;
        continue;
      }
      default: return false;
    }
  }
  throw new BtfError('CO-RE: types nest too deeply');
}

/**
 * TYPE_MATCHES (bpf_core_types_match, libbpf 1.0): typedefs and modifiers skipped, names equal but
 * for flavors at every level, same kinds (an enum matches an enum64; behind a pointer a struct or
 * union matches a forward declaration of the same kind). Integers: same size and signedness.
 * Enums: same size, every local enumerator named in the target (values may differ). Structs and
 * unions: every local member has a target member of the same name and matching type (behind a
 * pointer, names and kinds only). Arrays: same length, matching elements. Function prototypes:
 * same parameter count, matching parameters and return type. `why` collects the first mismatch.
 */
function typesMatch(local: Btf, localId: number, target: Btf, targetId: number, behindPtr: boolean, level: number, why: string[]): boolean {
  if (level <= 0) throw new BtfError('CO-RE: types nest too deeply to match');
  const no = (m: string) => { why.push(m); return false; };
  for (let depth = 0; depth < 32; depth++) {
    const l = local.resolve(localId);
    const t = target.resolve(targetId);
    if (!namesMatch(btfName(l), btfName(t))) return no(`${describe(l)} is ${describe(t)} in the kernel`);
    switch (l.kind) {
      case 'UNKN': return t.kind === 'UNKN' || no(`void is ${describe(t)} in the kernel`);
      case 'FWD':
        // A forward declaration's kind_flag says union (1) or struct (0).
        if (t.kind === 'FWD') return l.kindFlag === t.kindFlag || no('a forward declaration of another kind');
        return (behindPtr && (t.kind === (l.kindFlag ? 'UNION' : 'STRUCT'))) || no(`a forward declaration is ${describe(t)} in the kernel`);
      case 'ENUM': case 'ENUM64': {
        if (!isEnum(t)) return no(`${describe(l)} is ${describe(t)} in the kernel`);
        if (l.size !== t.size) return no(`${describe(l)} is ${l.size} bytes, ${t.size} in the kernel`);
        const lost = l.values!.find((lv) => !t.values!.some((tv) => namesMatch(lv.name, tv.name)));
        return !lost || no(`the kernel's ${describe(t)} has no enumerator ${essentialName(lost.name)}`);
      }
      case 'STRUCT': case 'UNION':
        if (behindPtr) {
          if (t.kind === l.kind) return true;
          return (t.kind === 'FWD' && t.kindFlag === (l.kind === 'UNION')) || no(`${describe(l)} is ${describe(t)} in the kernel`);
        }
        if (t.kind !== l.kind) return no(`${describe(l)} is ${describe(t)} in the kernel`);
        if (l.members!.length > t.members!.length) return no(`${describe(l)} has ${l.members!.length} members, the kernel's ${t.members!.length}`);
        for (const lm of l.members!) {
          const sub: string[] = [];
          const ok = t.members!.some((tm) => namesMatch(lm.name, tm.name) && typesMatch(local, lm.type, target, tm.type, behindPtr, level - 1, sub));
          if (!ok) {
            why.push(...(sub.length ? sub : [`the kernel's ${describe(t)} has no member ${lm.name || '(anon)'}`]));
            return no(`member ${lm.name || '(anon)'}`);
          }
        }
        return true;
      case 'INT':
        if (t.kind !== 'INT') return no(`${describe(l)} is ${describe(t)} in the kernel`);
        if (l.size !== t.size || l.int!.signed !== t.int!.signed) {
          return no(`${l.name}: ${l.size} bytes ${l.int!.signed ? 'signed' : 'unsigned'}, ${t.size} bytes ${t.int!.signed ? 'signed' : 'unsigned'} in the kernel`);
        }
        return true;
      case 'PTR':
        if (t.kind !== 'PTR') return no(`a pointer is ${describe(t)} in the kernel`);
        behindPtr = true;
        localId = l.type!; targetId = t.type!;
        continue;
      case 'ARRAY':
        if (t.kind !== 'ARRAY') return no(`an array is ${describe(t)} in the kernel`);
        if (l.array!.nelems !== t.array!.nelems) return no(`an array of ${l.array!.nelems} is an array of ${t.array!.nelems} in the kernel`);
        localId = l.array!.type; targetId = t.array!.type;
        continue;
      case 'FUNC_PROTO':
        if (t.kind !== 'FUNC_PROTO') return no(`a function prototype is ${describe(t)} in the kernel`);
        if (l.params!.length !== t.params!.length) return no(`a function of ${l.params!.length} parameters has ${t.params!.length} in the kernel`);
        for (const [i, p] of l.params!.entries()) {
          if (!typesMatch(local, p.type, target, t.params![i]!.type, behindPtr, level - 1, why)) return no(`parameter ${i + 1}`);
        }
        localId = l.type!; targetId = t.type!;
        continue;
      default:
        return no(`a ${l.kind} cannot be matched`);
    }
  }
  throw new BtfError('CO-RE: types nest too deeply to match');
}

const CLASS_LD = 0x00, CLASS_LDX = 0x01, CLASS_ST = 0x02, CLASS_STX = 0x03, CLASS_ALU = 0x04, CLASS_ALU64 = 0x07;
const LD_IMM64 = 0x18;
/** libbpf's poison: a call to this helper number makes the verifier stop at an unresolved relocation. */
export const CORE_POISON_HELPER = 0xbad2310;

/** Whether an unresolved relocation poisons its instruction (reads need the value) or patches in 0 (existence, type facts). */
const poisonsWhenMissing = (kind: number) => (isFieldKind(kind) && kind !== CoreReloKind.FIELD_EXISTS) || kind === CoreReloKind.ENUMVAL_VALUE;

/** Patch the instruction at `insn` with a resolved value (libbpf's bpf_core_patch_insn). */
export function patchCoreInsn(insns: Buffer, insn: number, kind: number, r: CoreResult): void {
  const o = insn * 8;
  const fail = (m: string): never => { throw new BtfError(`CO-RE ${KIND_NAMES[kind] ?? kind} relocation at instruction ${insn}: ${m}`); };
  if (o + 8 > insns.length) fail('past the end of the program');
  const ldImm64 = insns[o] === LD_IMM64;
  if (ldImm64 && o + 16 > insns.length) fail('a 64-bit load cut off by the end of the program');
  if (!r.found && poisonsWhenMissing(kind)) {
    // Unresolvable and needed: poison so the verifier refuses it only if the code is reachable. Both
    // halves of a 64-bit load: a lone second half is an "unknown opcode 00" even in dead code.
    for (const at of ldImm64 ? [o, o + 8] : [o]) {
      insns.writeBigUInt64LE(0n, at);
      insns[at] = 0x85;
      insns.writeInt32LE(CORE_POISON_HELPER, at + 4);
    }
    return;
  }
  const value = BigInt.asIntN(64, BigInt(r.found ? r.value : 0));
  const cls = insns[o]! & 0x07;
  if (cls === CLASS_ALU || cls === CLASS_ALU64) {
    if ((insns[o]! & 0x08) !== 0) fail('a register-source ALU instruction has no immediate');
    // The immediate is sign-extended to 64 bits by ALU64, zero-extended by 32-bit ALU.
    const max = cls === CLASS_ALU64 ? 1n << 31n : 1n << 32n;
    if (value < -(1n << 31n) || value >= max) fail(`value ${value} does not fit the instruction's 32-bit immediate`);
    insns.writeUInt32LE(Number(BigInt.asUintN(32, value)), o + 4);
  } else if (cls === CLASS_LDX || cls === CLASS_ST || cls === CLASS_STX) {
    if (kind !== CoreReloKind.FIELD_BYTE_OFFSET) fail('only a field offset can patch a memory access');
    if (value > 0x7fffn) fail(`offset ${value} does not fit the instruction's 16-bit offset`);
    insns.writeInt16LE(Number(value), o + 2);
  } else if (cls === CLASS_LD && ldImm64) {
    if (insns[o + 1]! >> 4 !== 0 || insns.readInt16LE(o + 2) !== 0 || insns.readUInt32LE(o + 8) !== 0) fail('a 64-bit load of an unexpected form (a map or other pseudo load)');
    insns.writeUInt32LE(Number(BigInt.asUintN(32, value)), o + 4);
    insns.writeUInt32LE(Number(BigInt.asUintN(32, value >> 32n)), o + 12);
  } else {
    fail(`cannot patch opcode 0x${insns[o]!.toString(16)}`);
  }
}
