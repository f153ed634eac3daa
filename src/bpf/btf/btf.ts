// BTF, the BPF Type Format (Documentation/bpf/btf.rst): the types of a kernel (/sys/kernel/btf/vmlinux)
// or of an object file's .BTF section, read into plain records. Malformed input is a BtfError.
import { readFileSync } from 'node:fs';

export class BtfError extends Error {
  override name = 'BtfError';
}

export const BtfKind = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;
export type BtfKindName = keyof typeof BtfKind;
const KIND_NAMES = Object.keys(BtfKind) as BtfKindName[];

export interface BtfMember { name: string; type: number; bitOffset: number; bitfieldSize: number }
export interface BtfParam { name: string; type: number }
export interface BtfEnumValue { name: string; value: bigint }
export interface BtfVarSecinfo { type: number; offset: number; size: number }

/** One type. Fields beyond id/kind/name are present for the kinds that have them. */
export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** Byte size: INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT. */
  size?: number;
  /** Referenced type: PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO (return), VAR, DECL_TAG. */
  type?: number;
  int?: { signed: boolean; char: boolean; bool: boolean; bitOffset: number; bits: number };
  array?: { type: number; indexType: number; nelems: number };
  members?: BtfMember[];
  params?: BtfParam[];
  values?: BtfEnumValue[];
  /** VAR linkage, FUNC linkage. */
  linkage?: number;
  secinfos?: BtfVarSecinfo[];
  /** FWD: union when true. ENUM: signed when true. */
  kindFlag: boolean;
  /** Byte offset of this type's record in the type section (for fixups before loading). */
  recordOffset: number;
}

const MAGIC = 0xeb9f;
const VOID: BtfType = { id: 0, kind: 'UNKN', name: 'void', kindFlag: false, recordOffset: -1 };

export class Btf {
  /** Types by id; [0] is void. */
  readonly types: BtfType[] = [VOID];
  #byName?: Map<string, number[]>;

  private constructor(readonly bytes: Buffer, readonly headerBytes: number, readonly typesOffset: number, readonly strings: Buffer) {}

  /** Parse raw BTF (the .BTF section or /sys/kernel/btf/vmlinux). */
  static parse(bytes: Buffer, what = 'BTF'): Btf {
    const fail = (m: string): never => { throw new BtfError(`${what}: ${m}`); };
    if (bytes.length < 24) fail(`truncated: ${bytes.length} bytes is shorter than the BTF header`);
    if (bytes.readUInt16LE(0) !== MAGIC) fail(bytes.readUInt16BE(0) === MAGIC ? 'big-endian BTF is not supported' : 'no BTF magic 0xeB9F');
    if (bytes[2] !== 1) fail(`BTF version ${bytes[2]} is not supported (only 1)`);
    const hdrLen = bytes.readUInt32LE(4);
    if (hdrLen < 24 || hdrLen > bytes.length) fail(`header length ${hdrLen} is out of range`);
    const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => bytes.readUInt32LE(o)) as [number, number, number, number];
    if (hdrLen + typeOff + typeLen > bytes.length) fail('truncated: the type section ends past the end of the data');
    if (hdrLen + strOff + strLen > bytes.length) fail('truncated: the string section ends past the end of the data');
    const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    const btf = new Btf(bytes, hdrLen, hdrLen + typeOff, strings);
    btf.#parseTypes(bytes.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen), fail);
    return btf;
  }

  /** The running kernel's BTF (Linux 5.4 with CONFIG_DEBUG_INFO_BTF), read once per process. */
  static kernel(): Btf {
    kernelBtf ??= Btf.parse(readFileSync(VMLINUX_PATH), VMLINUX_PATH);
    return kernelBtf;
  }

  string(off: number): string {
    if (off >= this.strings.length) throw new BtfError(`string offset ${off} is past the end of the string section (${this.strings.length} bytes)`);
    const end = this.strings.indexOf(0, off);
    if (end < 0) throw new BtfError(`string at offset ${off} is not NUL-terminated`);
    return this.strings.toString('latin1', off, end);
  }

  #parseTypes(d: Buffer, fail: (m: string) => never): void {
    let o = 0;
    const need = (n: number) => { if (o + n > d.length) fail(`truncated: type ${this.types.length} ends past the end of the type section`); };
    const str = (off: number) => { try { return this.string(off); } catch (e) { return fail(`type ${this.types.length}: ${(e as Error).message}`); } };
    while (o < d.length) {
      need(12);
      const id = this.types.length;
      const recordOffset = o;
      const name = str(d.readUInt32LE(o));
      const info = d.readUInt32LE(o + 4);
      const sizeOrType = d.readUInt32LE(o + 8);
      o += 12;
      const vlen = info & 0xffff;
      const kindNum = (info >>> 24) & 0x1f;
      const kindFlag = (info >>> 31) === 1;
      const kind = KIND_NAMES[kindNum];
      if (!kind || kind === 'UNKN') fail(`type ${id} has unknown kind ${kindNum}`);
      const t: BtfType = { id, kind, name, kindFlag, recordOffset };
      switch (kind) {
        case 'INT': {
          need(4);
          const v = d.readUInt32LE(o); o += 4;
          const enc = (v >>> 24) & 0xf;
          t.size = sizeOrType;
          t.int = { signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0, bitOffset: (v >>> 16) & 0xff, bits: v & 0xff };
          break;
        }
        case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'FUNC': case 'TYPE_TAG':
          t.type = sizeOrType;
          if (kind === 'FUNC') t.linkage = vlen;
          break;
        case 'FWD': break;
        case 'FLOAT': t.size = sizeOrType; break;
        case 'ARRAY':
          need(12);
          t.array = { type: d.readUInt32LE(o), indexType: d.readUInt32LE(o + 4), nelems: d.readUInt32LE(o + 8) };
          o += 12;
          break;
        case 'STRUCT': case 'UNION':
          need(12 * vlen);
          t.size = sizeOrType;
          t.members = [];
          for (let i = 0; i < vlen; i++, o += 12) {
            const off = d.readUInt32LE(o + 8);
            t.members.push({
              name: str(d.readUInt32LE(o)), type: d.readUInt32LE(o + 4),
              bitOffset: kindFlag ? off & 0xffffff : off, bitfieldSize: kindFlag ? off >>> 24 : 0,
            });
          }
          break;
        case 'ENUM':
          need(8 * vlen);
          t.size = sizeOrType;
          t.values = [];
          for (let i = 0; i < vlen; i++, o += 8) {
            t.values.push({ name: str(d.readUInt32LE(o)), value: kindFlag ? BigInt(d.readInt32LE(o + 4)) : BigInt(d.readUInt32LE(o + 4)) });
          }
          break;
        case 'ENUM64':
          need(12 * vlen);
          t.size = sizeOrType;
          t.values = [];
          for (let i = 0; i < vlen; i++, o += 12) {
            const v = (BigInt(d.readUInt32LE(o + 8)) << 32n) | BigInt(d.readUInt32LE(o + 4));
            t.values.push({ name: str(d.readUInt32LE(o)), value: kindFlag ? BigInt.asIntN(64, v) : v });
          }
          break;
        case 'FUNC_PROTO':
          need(8 * vlen);
          t.type = sizeOrType;
          t.params = [];
          for (let i = 0; i < vlen; i++, o += 8) t.params.push({ name: str(d.readUInt32LE(o)), type: d.readUInt32LE(o + 4) });
          break;
        case 'VAR':
          need(4);
          t.type = sizeOrType;
          t.linkage = d.readUInt32LE(o); o += 4;
          break;
        case 'DATASEC':
          need(12 * vlen);
          t.size = sizeOrType;
          t.secinfos = [];
          for (let i = 0; i < vlen; i++, o += 12) t.secinfos.push({ type: d.readUInt32LE(o), offset: d.readUInt32LE(o + 4), size: d.readUInt32LE(o + 8) });
          break;
        case 'DECL_TAG':
          need(4);
          t.type = sizeOrType;
          o += 4;
          break;
      }
      this.types.push(t);
    }
    // References must point at types that exist, so later walks need no checks.
    const n = this.types.length;
    for (const t of this.types) {
      const refs = [t.type, t.array?.type, t.array?.indexType, ...(t.members ?? []).map((m) => m.type), ...(t.params ?? []).map((p) => p.type), ...(t.secinfos ?? []).map((s) => s.type)];
      for (const r of refs) if (r !== undefined && r >= n) fail(`type ${t.id} (${t.kind} ${t.name}) refers to type ${r}, which does not exist`);
    }
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new BtfError(`no BTF type ${id} (there are ${this.types.length})`);
    return t;
  }

  /** Ids of every type named `name`, optionally of one kind. */
  idsByName(name: string, kind?: BtfKindName): number[] {
    if (!this.#byName) {
      this.#byName = new Map();
      for (const t of this.types) {
        if (!t.name || t.id === 0) continue;
        const l = this.#byName.get(t.name);
        if (l) l.push(t.id); else this.#byName.set(t.name, [t.id]);
      }
    }
    const ids = this.#byName.get(name) ?? [];
    return kind ? ids.filter((id) => this.types[id]!.kind === kind) : ids;
  }

  /** The one type of that name (and kind); throws naming the choices when there is none. */
  typeByName(name: string, kind?: BtfKindName): BtfType {
    const ids = this.idsByName(name, kind);
    if (ids.length === 0) throw new BtfError(`no BTF type ${kind ? `${kind} ` : ''}${name}`);
    return this.types[ids[0]!]!;
  }

  /** Skip typedefs and modifiers (const, volatile, restrict, type tags). */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let depth = 0; depth < 64; depth++) {
      if (t.kind !== 'TYPEDEF' && t.kind !== 'VOLATILE' && t.kind !== 'CONST' && t.kind !== 'RESTRICT' && t.kind !== 'TYPE_TAG') return t;
      t = this.type(t.type!);
    }
    throw new BtfError(`type ${id}: typedef chain too deep (a loop?)`);
  }

  /** Size in bytes of a type as C's sizeof would say. */
  sizeOf(id: number): number {
    for (let depth = 0; depth < 64; depth++) {
      const t = this.resolve(id);
      if (t.kind === 'PTR') return 8;
      if (t.kind === 'ARRAY') {
        const n = t.array!.nelems;
        return n === 0 ? 0 : n * this.sizeOf(t.array!.type);
      }
      if (t.kind === 'VAR') { id = t.type!; continue; }
      if (t.size !== undefined) return t.size;
      throw new BtfError(`type ${id} (${t.kind} ${t.name}) has no size`);
    }
    throw new BtfError(`type ${id}: nesting too deep`);
  }

  /** A C-like name: "struct task_struct", "u32", "char[16]", "int *". */
  typeName(id: number): string {
    const t = this.type(id);
    switch (t.kind) {
      case 'UNKN': return 'void';
      case 'STRUCT': case 'UNION': case 'ENUM': case 'ENUM64': return `${t.kind === 'ENUM64' ? 'enum' : t.kind.toLowerCase()} ${t.name || '(anon)'}`;
      case 'PTR': return `${this.typeName(t.type!)} *`;
      case 'ARRAY': return `${this.typeName(t.array!.type)}[${t.array!.nelems}]`;
      case 'CONST': case 'VOLATILE': case 'RESTRICT': return `${t.kind.toLowerCase()} ${this.typeName(t.type!)}`;
      case 'TYPE_TAG': return this.typeName(t.type!);
      default: return t.name || `(anon ${t.kind.toLowerCase()})`;
    }
  }
}

export const VMLINUX_PATH = '/sys/kernel/btf/vmlinux';
let kernelBtf: Btf | undefined;
