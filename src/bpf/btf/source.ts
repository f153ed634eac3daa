// Source lines of a loaded program, from the BTF and line info the kernel kept (what bpftool's
// "prog dump xlated" prints as "; …" comments).
import { Btf } from './btf.js';
import { BtfInfo, Cmd, FD, ProgInfo, getFdById, objGetInfo } from '../sys/index.js';

/** The raw BTF of a kernel BTF object, by id. */
export function readKernelBtf(id: number): Btf {
  const fd = getFdById(Cmd.BTF_GET_FD_BY_ID, id, 'btf');
  if (!fd) throw new Error(`BTF id ${id} does not exist (any more)`);
  try {
    const first = Buffer.alloc(BtfInfo.size);
    objGetInfo(fd, first, 'BTF');
    const size = BtfInfo.get(first, 'btf_size');
    const raw = Buffer.alloc(size);
    objGetInfo(fd, BtfInfo.encode({ btf: raw, btf_size: size }), 'BTF');
    return Btf.parse(raw, `BTF id ${id}`);
  } finally { fd.close(); }
}

/**
 * Source line per xlated instruction index, when the program was loaded with BTF line info.
 * Empty when it was not (programs built by the assembler, objects without -g).
 */
export function programSourceLines(prog: FD): { lines: Map<number, string>; functions: Map<number, string> } {
  const first = Buffer.alloc(ProgInfo.size);
  objGetInfo(prog, first, 'program');
  const n = ProgInfo.get(first, 'nr_line_info');
  const recSize = ProgInfo.get(first, 'line_info_rec_size') || 16;
  const nf = ProgInfo.get(first, 'nr_func_info');
  const fRecSize = ProgInfo.get(first, 'func_info_rec_size') || 8;
  const btfId = ProgInfo.get(first, 'btf_id');
  const lines = new Map<number, string>();
  const functions = new Map<number, string>();
  if (!btfId) return { lines, functions };
  const lineBuf = Buffer.alloc(n * recSize);
  const funcBuf = Buffer.alloc(nf * fRecSize);
  objGetInfo(prog, ProgInfo.encode({
    nr_line_info: n, line_info_rec_size: recSize, line_info: lineBuf, nr_func_info: nf, func_info_rec_size: fRecSize, func_info: funcBuf,
  }), 'program');
  const btf = readKernelBtf(btfId);
  for (let i = 0; i < n; i++) {
    const insn = lineBuf.readUInt32LE(i * recSize);
    if (!lines.has(insn)) lines.set(insn, btf.string(lineBuf.readUInt32LE(i * recSize + 8)).trim());
  }
  for (let i = 0; i < nf; i++) {
    const f = btf.type(funcBuf.readUInt32LE(i * fRecSize + 4));
    const proto = f.type !== undefined ? btf.type(f.type) : undefined;
    if (!proto?.params) continue;
    // bpftool's spelling: "int sysctl_policy(struct bpf_sysctl * ctx)"
    const params = proto.params.map((p) => `${btf.typeName(p.type)}${p.name ? ` ${p.name}` : ''}`).join(', ');
    functions.set(funcBuf.readUInt32LE(i * fRecSize), `${btf.typeName(proto.type!)} ${f.name}(${params})`);
  }
  return { lines, functions };
}
