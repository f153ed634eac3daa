// CO-RE ("compile once, run everywhere"): the field offsets, sizes and existence a program was
// compiled with (its own BTF) resolved against the running kernel's BTF, by field names.
import { type Btf, type BtfType, BtfError } from './btf.js';
import { CoreReloKind } from './ext.js';

export interface CoreResult {
  /** False when the type or field is missing from the target (exists relocations give 0 then). */
  found: boolean;
  value: number;
  /** Why it was not found, for the error when the program depends on it. */
  reason?: string;
}

/** "task_struct___v2" and "task_struct" are the same type to CO-RE (libbpf's flavors). */
const essentialName = (n: string) => { const i = n.indexOf('___'); return i < 0 ? n : n.slice(0, i); };

const isComposite = (t: BtfType) => t.kind === 'STRUCT' || t.kind === 'UNION';

/** Find a member by name in `t`, looking through anonymous struct/union members. Bit offset relative to t. */
function findMember(btf: Btf, t: BtfType, name: string, depth = 0): { type: number; bitOffset: number; bitfieldSize: number } | undefined {
  if (depth > 16) return undefined;
  for (const m of t.members ?? []) {
    if (m.name === name) return m;
    if (!m.name) {
      const inner = btf.resolve(m.type);
      if (!isComposite(inner)) continue;
      const f = findMember(btf, inner, name, depth + 1);
      if (f) return { ...f, bitOffset: m.bitOffset + f.bitOffset };
    }
  }
  return undefined;
}

/** Compatible kinds for the final field: both integers of any size, both pointers, same composite kind, … */
function compatible(local: BtfType, target: BtfType): boolean {
  const num = (t: BtfType) => t.kind === 'INT' || t.kind === 'ENUM' || t.kind === 'ENUM64';
  if (num(local) && num(target)) return true;
  if (local.kind === 'FWD' || target.kind === 'FWD') return true;
  return local.kind === target.kind;
}

/** Resolve one field relocation: `access` is clang's access string "0:3:1" (first index: array over the base pointer). */
export function resolveCoreRelo(local: Btf, target: Btf, typeId: number, access: string, kind: number): CoreResult {
  const lt = local.resolve(typeId);
  const name = essentialName(lt.name);
  if (kind === CoreReloKind.TYPE_ID_LOCAL) return { found: true, value: typeId };
  const candidates = name ? target.idsByName(name).map((id) => target.type(id)).filter((t) => t.kind === lt.kind || (isComposite(t) && isComposite(lt) && t.kind === lt.kind)) : [];
  if (kind === CoreReloKind.TYPE_EXISTS || kind === CoreReloKind.TYPE_ID_TARGET || kind === CoreReloKind.TYPE_SIZE || kind === CoreReloKind.TYPE_MATCHES) {
    const c = candidates[0];
    if (!c) return { found: kind === CoreReloKind.TYPE_EXISTS || kind === CoreReloKind.TYPE_MATCHES, value: 0, reason: `the kernel has no ${lt.kind.toLowerCase()} ${name}` };
    return { found: true, value: kind === CoreReloKind.TYPE_ID_TARGET ? c.id : kind === CoreReloKind.TYPE_SIZE ? target.sizeOf(c.id) : 1 };
  }
  if (kind > CoreReloKind.FIELD_RSHIFT_U64) throw new BtfError(`CO-RE relocation kind ${kind} (enum values) is not supported yet`);
  const path = access.split(':').map(Number);
  if (path.some((n) => !Number.isInteger(n) || n < 0)) throw new BtfError(`bad CO-RE access string "${access}"`);
  if (candidates.length === 0) return { found: false, value: 0, reason: `the kernel has no ${lt.kind.toLowerCase()} ${name}` };
  let lastReason = '';
  for (const cand of candidates) {
    const r = walk(local, target, lt, cand, path);
    if (typeof r === 'string') { lastReason = r; continue; }
    const ft = target.resolve(r.type);
    switch (kind) {
      case CoreReloKind.FIELD_BYTE_OFFSET: return { found: true, value: r.bitfieldSize ? Math.floor(r.bitOffset / 8) : r.bitOffset / 8 };
      case CoreReloKind.FIELD_BYTE_SIZE: return { found: true, value: target.sizeOf(r.type) };
      case CoreReloKind.FIELD_EXISTS: return { found: true, value: 1 };
      case CoreReloKind.FIELD_SIGNED: return { found: true, value: ft.int?.signed || ((ft.kind === 'ENUM' || ft.kind === 'ENUM64') && ft.kindFlag) ? 1 : 0 };
      default: {
        // LSHIFT/RSHIFT for bitfield reads into a u64 (little-endian).
        const size = target.sizeOf(r.type);
        const bitsInWord = r.bitfieldSize || size * 8;
        const startBit = r.bitOffset - Math.floor(r.bitOffset / 8) * 8;
        return { found: true, value: kind === CoreReloKind.FIELD_LSHIFT_U64 ? 64 - (startBit + bitsInWord) : 64 - bitsInWord };
      }
    }
  }
  return { found: false, value: 0, reason: lastReason };
}

function walk(local: Btf, target: Btf, lt: BtfType, tt: BtfType, path: number[]): { type: number; bitOffset: number; bitfieldSize: number } | string {
  let l = lt;
  let t = tt;
  let bitOffset = path[0]! * target.sizeOf(tt.id) * 8;
  let type = tt.id;
  let bitfieldSize = 0;
  for (const idx of path.slice(1)) {
    if (isComposite(l)) {
      const lm = l.members?.[idx];
      if (!lm) return `access index ${idx} is past the members of local ${l.name}`;
      if (!isComposite(t)) return `${t.name || t.kind} is not a struct or union in the kernel`;
      const tm = lm.name ? findMember(target, t, lm.name) : undefined;
      if (!tm) return `the kernel's ${t.kind.toLowerCase()} ${t.name} has no field ${lm.name || '(anonymous)'}`;
      bitOffset += tm.bitOffset;
      bitfieldSize = tm.bitfieldSize;
      type = tm.type;
      l = local.resolve(lm.type);
      t = target.resolve(tm.type);
      if (!compatible(l, t)) return `field ${lm.name} is a ${l.kind} locally and a ${t.kind} in the kernel`;
    } else if (l.kind === 'ARRAY') {
      if (t.kind !== 'ARRAY') return 'an array locally is not one in the kernel';
      if (idx >= t.array!.nelems && t.array!.nelems !== 0) return `index ${idx} is past the kernel's array of ${t.array!.nelems}`;
      bitOffset += idx * target.sizeOf(t.array!.type) * 8;
      type = t.array!.type;
      l = local.resolve(l.array!.type);
      t = target.resolve(t.array!.type);
      bitfieldSize = 0;
    } else {
      return `cannot index into a ${l.kind}`;
    }
  }
  return { type, bitOffset, bitfieldSize };
}

const CLASS_LD = 0x00, CLASS_LDX = 0x01, CLASS_ST = 0x02, CLASS_STX = 0x03, CLASS_ALU = 0x04, CLASS_ALU64 = 0x07;
/** libbpf's poison: a call to this helper number makes the verifier stop at an unresolved relocation. */
export const CORE_POISON_HELPER = 0xbad2310;

/** Patch the instruction at `insn` with a resolved value (libbpf's bpf_core_patch_insn). */
export function patchCoreInsn(insns: Buffer, insn: number, kind: number, r: CoreResult): void {
  const o = insn * 8;
  if (o + 8 > insns.length) throw new BtfError(`CO-RE relocation at instruction ${insn} is past the end of the program`);
  if (!r.found && kind !== CoreReloKind.FIELD_EXISTS && kind !== CoreReloKind.TYPE_EXISTS) {
    // Unresolvable and needed: poison so the verifier refuses it only if the code is reachable.
    insns.writeBigUInt64LE(0n, o);
    insns[o] = 0x85;
    insns.writeInt32LE(CORE_POISON_HELPER, o + 4);
    return;
  }
  const cls = insns[o]! & 0x07;
  const value = r.found ? r.value : 0;
  if (cls === CLASS_ALU || cls === CLASS_ALU64) {
    if ((insns[o]! & 0x08) !== 0) throw new BtfError(`CO-RE relocation at instruction ${insn}: a register-source ALU instruction`);
    insns.writeInt32LE(value, o + 4);
  } else if (cls === CLASS_LDX || cls === CLASS_ST || cls === CLASS_STX) {
    if (kind !== CoreReloKind.FIELD_BYTE_OFFSET) throw new BtfError(`CO-RE relocation at instruction ${insn}: only a field offset can patch a memory access`);
    insns.writeInt16LE(value, o + 2);
  } else if (cls === CLASS_LD && insns[o] === 0x18) {
    insns.writeInt32LE(value, o + 4);
    if (o + 16 <= insns.length) insns.writeInt32LE(0, o + 12);
  } else {
    throw new BtfError(`CO-RE relocation at instruction ${insn}: cannot patch opcode 0x${insns[o]!.toString(16)}`);
  }
}
