// Map values (and any bytes) decoded into JavaScript values by their BTF type, at run time.
import { type Btf, BtfError } from './btf.js';

/** What a BTF-typed value becomes: numbers (bigint past 32 bits), strings for char arrays, objects, arrays. */
export type BtfValue = number | bigint | boolean | string | null | BtfValue[] | { [field: string]: BtfValue };

/**
 * Decode `buf` at `offset` as type `id` of `btf`. Integers up to 32 bits are numbers, wider ones
 * bigints; char arrays are strings (up to the first NUL; one that starts with NUL and holds other
 * bytes is an array of numbers); enums are their value's name when known;
 * pointers are bigints; structs are objects (anonymous members merged in), unions give every member.
 */
export function decodeValue(btf: Btf, id: number, buf: Buffer, offset = 0): BtfValue {
  return decode(btf, id, buf, offset, 0);
}

function readUInt(buf: Buffer, o: number, size: number): bigint {
  if (o + size > buf.length) throw new BtfError(`value too short: need ${o + size} bytes, have ${buf.length}`);
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[o + i]!);
  return v;
}

const narrow = (v: bigint, bits: number): number | bigint => (bits <= 32 ? Number(v) : v);

function decode(btf: Btf, id: number, buf: Buffer, o: number, depth: number): BtfValue {
  if (depth > 32) throw new BtfError(`type ${id}: nested too deeply`);
  const t = btf.resolve(id);
  switch (t.kind) {
    case 'INT': {
      const i = t.int!;
      let v = readUInt(buf, o, t.size!);
      if (i.bitOffset || i.bits !== t.size! * 8) v = (v >> BigInt(i.bitOffset)) & ((1n << BigInt(i.bits)) - 1n);
      if (i.bool) return v !== 0n;
      if (i.signed) v = BigInt.asIntN(i.bits, v);
      return narrow(v, i.bits);
    }
    case 'ENUM': case 'ENUM64': {
      let v = readUInt(buf, o, t.size!);
      if (t.kindFlag) v = BigInt.asIntN(t.size! * 8, v);
      const named = t.values!.find((e) => e.value === v);
      return named ? named.name : narrow(v, t.size! * 8);
    }
    case 'PTR': return readUInt(buf, o, 8);
    case 'FLOAT':
      if (o + t.size! > buf.length) throw new BtfError('value too short for a float');
      return t.size === 4 ? buf.readFloatLE(o) : t.size === 8 ? buf.readDoubleLE(o) : readUInt(buf, o, t.size!);
    case 'ARRAY': {
      const a = t.array!;
      const elem = btf.resolve(a.type);
      const elemSize = btf.sizeOf(a.type);
      if (elem.kind === 'INT' && elem.size === 1 && (elem.int!.char || !elem.int!.signed || elem.name === 'char')) {
        const bytes = buf.subarray(o, o + a.nelems);
        if (bytes.length < a.nelems) throw new BtfError('value too short for its char array');
        const end = bytes.indexOf(0);
        // A char array that reads as text is a string; other bytes stay numbers. One that starts
        // with NUL but holds other bytes after it is not "" (bpftool prints "", losing them).
        const text = bytes.subarray(0, end < 0 ? bytes.length : end);
        const hiddenBytes = end === 0 && !bytes.every((b) => b === 0);
        if (hiddenBytes) { /* bytes, below */ } else if (elem.name === 'char' || /^[\x20-\x7e]*$/.test(text.toString('latin1')) && end >= 0 && bytes.subarray(end).every((b) => b === 0)) return text.toString('utf8');
      }
      const out: BtfValue[] = [];
      for (let i = 0; i < a.nelems; i++) out.push(decode(btf, a.type, buf, o + i * elemSize, depth + 1));
      return out;
    }
    case 'STRUCT': case 'UNION': {
      const out: { [field: string]: BtfValue } = {};
      for (const m of t.members!) {
        const byteOff = o + Math.floor(m.bitOffset / 8);
        let v: BtfValue;
        if (m.bitfieldSize) {
          const mt = btf.resolve(m.type);
          const size = mt.size ?? 8;
          const raw = (readUInt(buf, byteOff, Math.min(size, buf.length - byteOff)) >> BigInt(m.bitOffset % 8)) & ((1n << BigInt(m.bitfieldSize)) - 1n);
          v = narrow(mt.int?.signed ? BigInt.asIntN(m.bitfieldSize, raw) : raw, m.bitfieldSize);
        } else {
          v = decode(btf, m.type, buf, byteOff, depth + 1);
        }
        if (!m.name && v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, v);
        else out[m.name || `(anon@${m.bitOffset / 8})`] = v;
      }
      return out;
    }
    case 'DATASEC': {
      const out: { [name: string]: BtfValue } = {};
      for (const s of t.secinfos!) out[btf.type(s.type).name] = decode(btf, s.type, buf, o + s.offset, depth + 1);
      return out;
    }
    case 'VAR': return decode(btf, t.type!, buf, o, depth + 1);
    case 'UNKN': case 'FWD': return null;
    default: throw new BtfError(`cannot decode a value of kind ${t.kind}`);
  }
}
