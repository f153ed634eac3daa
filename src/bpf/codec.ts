// Key and value codecs for maps: a fixed size and how to turn a JS value into bytes and back.
export interface Codec<T> {
  readonly sizeBytes: number;
  encode(value: T, buf: Buffer, offset: number): void;
  decode(buf: Buffer, offset: number): T;
}

const num = <T>(sizeBytes: number, w: (b: Buffer, v: T, o: number) => void, r: (b: Buffer, o: number) => T): Codec<T> => ({
  sizeBytes, encode: (v, b, o) => { w(b, v, o); }, decode: (b, o) => r(b, o),
});

export const u8 = num<number>(1, (b, v, o) => b.writeUInt8(v, o), (b, o) => b.readUInt8(o));
export const u16 = num<number>(2, (b, v, o) => b.writeUInt16LE(v, o), (b, o) => b.readUInt16LE(o));
export const u32 = num<number>(4, (b, v, o) => b.writeUInt32LE(v >>> 0, o), (b, o) => b.readUInt32LE(o));
export const i32 = num<number>(4, (b, v, o) => b.writeInt32LE(v, o), (b, o) => b.readInt32LE(o));
export const u64 = num<bigint>(8, (b, v, o) => b.writeBigUInt64LE(v, o), (b, o) => b.readBigUInt64LE(o));
export const i64 = num<bigint>(8, (b, v, o) => b.writeBigInt64LE(v, o), (b, o) => b.readBigInt64LE(o));
/** Zero-size key of queue, stack, ring buffer and bloom filter maps. */
export const none: Codec<null> = { sizeBytes: 0, encode: () => {}, decode: () => null };

/** Raw bytes of a fixed size; shorter input is zero-padded, longer is an error. */
export const bytes = (sizeBytes: number): Codec<Buffer> => ({
  sizeBytes,
  encode(v, b, o) {
    if (v.length > sizeBytes) throw new RangeError(`${v.length} bytes do not fit a ${sizeBytes}-byte field`);
    b.fill(0, o, o + sizeBytes);
    v.copy(b, o);
  },
  decode: (b, o) => Buffer.from(b.subarray(o, o + sizeBytes)),
});

/** A NUL-padded string in a fixed-size field (at most sizeBytes bytes; no NUL needed when full). */
export const cstring = (sizeBytes: number): Codec<string> => {
  const raw = bytes(sizeBytes);
  return {
    sizeBytes,
    encode: (v, b, o) => raw.encode(Buffer.from(v), b, o),
    decode: (b, o) => {
      const s = b.subarray(o, o + sizeBytes);
      const end = s.indexOf(0);
      return s.subarray(0, end < 0 ? sizeBytes : end).toString();
    },
  };
};

/** Fields laid out in order at the offsets given (C struct with explicit padding). */
export function struct<T extends Record<string, unknown>>(
  sizeBytes: number,
  fields: { [K in keyof T]: { offset: number; codec: Codec<T[K]> } },
): Codec<T> {
  const entries = Object.entries(fields) as [keyof T, { offset: number; codec: Codec<T[keyof T]> }][];
  for (const [name, f] of entries) {
    if (f.offset + f.codec.sizeBytes > sizeBytes) throw new RangeError(`field ${String(name)} ends past the struct's ${sizeBytes} bytes`);
  }
  return {
    sizeBytes,
    encode(v, b, o) {
      b.fill(0, o, o + sizeBytes);
      for (const [name, f] of entries) f.codec.encode(v[name], b, o + f.offset);
    },
    decode(b, o) {
      const out = {} as T;
      for (const [name, f] of entries) out[name] = f.codec.decode(b, o + f.offset);
      return out;
    },
  };
}

/** LPM trie key: a prefix length in bits, then `dataBytes` of data (network byte order for IPs). */
export interface LpmKey { prefixLen: number; data: Buffer }
export const lpmKey = (dataBytes: number): Codec<LpmKey> => ({
  sizeBytes: 4 + dataBytes,
  encode(v, b, o) {
    if (v.prefixLen > dataBytes * 8) throw new RangeError(`prefix length ${v.prefixLen} exceeds ${dataBytes * 8} bits`);
    b.writeUInt32LE(v.prefixLen, o);
    bytes(dataBytes).encode(v.data, b, o + 4);
  },
  decode: (b, o) => ({ prefixLen: b.readUInt32LE(o), data: Buffer.from(b.subarray(o + 4, o + 4 + dataBytes)) }),
});

/** Per-CPU values: the kernel copies one value per possible CPU, each rounded up to 8 bytes. */
export function perCpu<T>(inner: Codec<T>, nCpus: number): Codec<T[]> {
  const stride = Math.ceil(inner.sizeBytes / 8) * 8;
  return {
    sizeBytes: stride * nCpus,
    encode(v, b, o) {
      if (v.length !== nCpus) throw new RangeError(`per-CPU value needs ${nCpus} entries (one per possible CPU), got ${v.length}`);
      b.fill(0, o, o + stride * nCpus);
      v.forEach((x, i) => inner.encode(x, b, o + i * stride));
    },
    decode: (b, o) => Array.from({ length: nCpus }, (_, i) => inner.decode(b, o + i * stride)),
  };
}
