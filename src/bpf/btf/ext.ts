// .BTF.ext: per-section function info, line info and CO-RE relocations (libbpf's btf_ext).
// Offsets in the records are bytes into the ELF section; strings are in the object's .BTF.
import { type Btf, BtfError } from './btf.js';

export interface FuncInfo { insnOffset: number; typeId: number }
export interface LineInfo { insnOffset: number; fileNameOff: number; lineOff: number; lineCol: number }
/** bpf_core_relo_kind: which value the instruction needs. */
export const CoreReloKind = {
  FIELD_BYTE_OFFSET: 0, FIELD_BYTE_SIZE: 1, FIELD_EXISTS: 2, FIELD_SIGNED: 3, FIELD_LSHIFT_U64: 4, FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6, TYPE_ID_TARGET: 7, TYPE_EXISTS: 8, TYPE_SIZE: 9, ENUMVAL_EXISTS: 10, ENUMVAL_VALUE: 11, TYPE_MATCHES: 12,
} as const;
export interface CoreRelo { insnOffset: number; typeId: number; accessString: string; kind: number }

export interface BtfExt {
  funcInfo: Map<string, FuncInfo[]>;
  lineInfo: Map<string, LineInfo[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

export function parseBtfExt(bytes: Buffer, btf: Btf, what = '.BTF.ext'): BtfExt {
  const fail = (m: string): never => { throw new BtfError(`${what}: ${m}`); };
  if (bytes.length < 24) fail(`truncated: ${bytes.length} bytes is shorter than its header`);
  if (bytes.readUInt16LE(0) !== 0xeb9f) fail('no BTF magic 0xeB9F');
  const hdrLen = bytes.readUInt32LE(4);
  if (hdrLen < 24 || hdrLen > bytes.length) fail(`header length ${hdrLen} is out of range`);
  const str = (off: number) => { try { return btf.string(off); } catch (e) { return fail((e as Error).message); } };
  const section = <T>(off: number, len: number, minRec: number, rec: (b: Buffer, o: number) => T): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    if (len === 0) return out;
    const start = hdrLen + off;
    if (start + len > bytes.length) fail('truncated: an info section ends past the end of the data');
    const d = bytes.subarray(start, start + len);
    if (d.length < 4) fail('info section shorter than its record size field');
    const recSize = d.readUInt32LE(0);
    if (recSize < minRec || recSize > 1024) fail(`record size ${recSize} is out of range (at least ${minRec})`);
    let o = 4;
    while (o < d.length) {
      if (o + 8 > d.length) fail('truncated section header in an info section');
      const name = str(d.readUInt32LE(o));
      const n = d.readUInt32LE(o + 4);
      o += 8;
      if (o + n * recSize > d.length) fail(`truncated: ${n} records for section ${name} end past the end of their info section`);
      const list = out.get(name) ?? [];
      for (let i = 0; i < n; i++, o += recSize) list.push(rec(d, o));
      out.set(name, list);
    }
    return out;
  };
  const u = (b: Buffer, o: number) => b.readUInt32LE(o);
  const funcInfo = section(u(bytes, 8), u(bytes, 12), 8, (b, o) => ({ insnOffset: u(b, o), typeId: u(b, o + 4) }));
  const lineInfo = section(u(bytes, 16), u(bytes, 20), 16, (b, o) => ({ insnOffset: u(b, o), fileNameOff: u(b, o + 4), lineOff: u(b, o + 8), lineCol: u(b, o + 12) }));
  const coreRelos = hdrLen >= 32
    ? section(u(bytes, 24), u(bytes, 28), 16, (b, o) => ({ insnOffset: u(b, o), typeId: u(b, o + 4), accessString: str(u(b, o + 8)), kind: u(b, o + 12) }))
    : new Map<string, CoreRelo[]>();
  return { funcInfo, lineInfo, coreRelos };
}
