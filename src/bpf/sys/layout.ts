// A tiny struct-layout description for the kernel ABI: fields in declaration order, natural
// alignment, little- or big-endian as the host is. Every layout names the C expression it mirrors
// so test/bpf/sys/layout.test.ts can check sizes and offsets against the installed uapi header.
import { addressOf } from './libc.js';
import { endianness } from 'node:os';

const LE = endianness() === 'LE';

export interface Bytes { readonly bytes: number }
export const bytes = (n: number): Bytes => ({ bytes: n });
/** u64 holding a user-space pointer: encode() takes a Buffer (its address is taken) or a bigint. */
export type FieldType = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64' | 'ptr' | Bytes;
export type Spec = Readonly<Record<string, FieldType>>;

export type FieldValue<T extends FieldType> = T extends 'u64' | 's64' ? bigint : T extends 'ptr' ? bigint : T extends Bytes ? Buffer : number;
export type Decoded<S extends Spec> = { -readonly [K in keyof S]: FieldValue<S[K]> };
export type Encodable<S extends Spec> = {
  [K in keyof S]?: S[K] extends 'ptr' ? Buffer | Uint8Array | bigint | null : S[K] extends Bytes ? Buffer | string : FieldValue<S[K]> | number;
};

interface Field { name: string; type: FieldType; offset: number; size: number }

const SIZES = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8, ptr: 8 } as const;
const sizeOf = (t: FieldType): number => (typeof t === 'object' ? t.bytes : SIZES[t]);
const alignOf = (t: FieldType): number => (typeof t === 'object' ? 1 : sizeOf(t));

export class Layout<S extends Spec> {
  readonly fields: readonly Field[];
  readonly size: number;
  readonly #byName = new Map<string, Field>();

  /**
   * @param cType the C type it mirrors, e.g. "union bpf_attr"
   * @param cPrefix the member path inside cType, e.g. "link_create." ("" for anonymous members)
   * @param cNames field names that differ in C (unions, bitfields: null means "not addressable")
   */
  constructor(
    readonly cType: string,
    readonly cPrefix: string,
    spec: S,
    readonly cNames: Partial<Record<keyof S, string | null>> = {},
  ) {
    let off = 0;
    let maxAlign = 1;
    const fields: Field[] = [];
    for (const [name, type] of Object.entries(spec)) {
      const a = alignOf(type);
      maxAlign = Math.max(maxAlign, a);
      off = Math.ceil(off / a) * a;
      const f = { name, type, offset: off, size: sizeOf(type) };
      fields.push(f);
      this.#byName.set(name, f);
      off += f.size;
    }
    this.fields = fields;
    this.size = Math.ceil(off / maxAlign) * maxAlign;
  }

  offsetOf(name: keyof S & string): number {
    const f = this.#byName.get(name);
    if (!f) throw new Error(`${this.cType}: no field ${name}`);
    return f.offset;
  }

  /** Encode into a new zeroed buffer (or `into`, which must be at least `size` bytes). */
  encode(values: Encodable<S>, into?: Buffer): Buffer {
    const buf = into ?? Buffer.alloc(this.size);
    for (const [name, v] of Object.entries(values as Record<string, unknown>)) {
      if (v === undefined) continue;
      const f = this.#byName.get(name);
      if (!f) throw new Error(`${this.cType}: no field ${name}`);
      writeField(buf, f, v);
    }
    return buf;
  }

  /** Records one after another in one new buffer (a kernel array of these structs). */
  encodeAll(records: readonly Encodable<S>[]): Buffer {
    const buf = Buffer.alloc(this.size * records.length);
    records.forEach((r, i) => this.encode(r, buf.subarray(i * this.size, (i + 1) * this.size)));
    return buf;
  }

  decode(buf: Buffer, offset = 0): Decoded<S> {
    const out: Record<string, unknown> = {};
    for (const f of this.fields) out[f.name] = readField(buf, offset + f.offset, f.type);
    return out as Decoded<S>;
  }

  /** Read one field without decoding the rest. */
  get<K extends keyof S & string>(buf: Buffer, name: K): FieldValue<S[K]> {
    const f = this.#byName.get(name);
    if (!f) throw new Error(`${this.cType}: no field ${name}`);
    return readField(buf, f.offset, f.type) as FieldValue<S[K]>;
  }
}

function writeField(buf: Buffer, f: Field, v: unknown): void {
  const o = f.offset;
  const t = f.type;
  if (typeof t === 'object') {
    const src = typeof v === 'string' ? Buffer.from(v) : (v as Buffer);
    if (src.length > t.bytes) throw new Error(`field ${f.name}: ${src.length} bytes do not fit in ${t.bytes}`);
    buf.fill(0, o, o + t.bytes);
    src.copy(buf, o);
    return;
  }
  switch (t) {
    case 'u8': buf.writeUInt8(Number(v), o); return;
    case 'u16': LE ? buf.writeUInt16LE(Number(v), o) : buf.writeUInt16BE(Number(v), o); return;
    case 'u32': LE ? buf.writeUInt32LE(Number(v) >>> 0, o) : buf.writeUInt32BE(Number(v) >>> 0, o); return;
    case 's32': LE ? buf.writeInt32LE(Number(v), o) : buf.writeInt32BE(Number(v), o); return;
    case 'u64': LE ? buf.writeBigUInt64LE(BigInt(v as number), o) : buf.writeBigUInt64BE(BigInt(v as number), o); return;
    case 's64': LE ? buf.writeBigInt64LE(BigInt(v as number), o) : buf.writeBigInt64BE(BigInt(v as number), o); return;
    case 'ptr': {
      const addr = v === null ? 0n : typeof v === 'bigint' ? v : addressOf(v as Buffer);
      LE ? buf.writeBigUInt64LE(addr, o) : buf.writeBigUInt64BE(addr, o);
      return;
    }
  }
}

function readField(buf: Buffer, o: number, t: FieldType): unknown {
  if (typeof t === 'object') return Buffer.from(buf.subarray(o, o + t.bytes));
  switch (t) {
    case 'u8': return buf.readUInt8(o);
    case 'u16': return LE ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
    case 'u32': return LE ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
    case 's32': return LE ? buf.readInt32LE(o) : buf.readInt32BE(o);
    case 'u64': case 'ptr': return LE ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o);
    case 's64': return LE ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o);
  }
}

/** Host-order u32 / u64 at a byte offset (Layout.offsetOf), for a loop that refills one buffer. */
export const readU32 = (buf: Buffer, o: number): number => (LE ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
export const writeU32 = (buf: Buffer, o: number, v: number): void => { LE ? buf.writeUInt32LE(v >>> 0, o) : buf.writeUInt32BE(v >>> 0, o); };
export const readU64 = (buf: Buffer, o: number): bigint => (LE ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
export const writeU64 = (buf: Buffer, o: number, v: bigint): void => { LE ? buf.writeBigUInt64LE(v, o) : buf.writeBigUInt64BE(v, o); };

/** A NUL-terminated C string field as a JS string. */
export const cString = (b: Buffer): string => {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString();
};
