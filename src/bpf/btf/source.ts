// Source lines of a loaded program, from the BTF and line info the kernel kept (what bpftool's
// "prog dump xlated" prints as "; …" comments).
import { Btf, type BtfType } from './btf.js';
import { BtfInfo, Cmd, FD, FuncInfo, LineInfo, ProgInfo, getFdById, lineInfoColumn, lineInfoLine, objGetInfo } from '../sys/index.js';

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

/** The source line the compiler recorded for an instruction (struct bpf_line_info, resolved). */
export interface SourceLine {
  /** The line's text without its leading white space, as bpftool prints it after "; ". */
  text: string;
  file: string;
  line: number;
  column: number;
}

/** What a program's BTF says about its xlated instructions, by instruction index. */
export interface ProgramDebugInfo {
  /** The source line of an instruction (the first line info at that index). */
  lines: Map<number, SourceLine>;
  /** The signature of the function that starts at an index, as bpftool prints it (functionSignature). */
  functions: Map<number, string>;
}

// BTF strings are bytes (Btf.string reads them as latin1); source text is UTF-8.
const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');
// bpftool drops leading white space as C's isspace() knows it, and keeps trailing white space.
const trimStart = (text: string): string => text.replace(/^[ \t\n\v\f\r]+/, '');

/**
 * Source lines and function signatures of a loaded program, from the func_info and line_info the
 * kernel kept with its BTF. Empty when it has none (programs built by the assembler, objects
 * built without -g).
 */
export function programDebugInfo(prog: FD): ProgramDebugInfo {
  const first = Buffer.alloc(ProgInfo.size);
  objGetInfo(prog, first, 'program');
  const n = ProgInfo.get(first, 'nr_line_info');
  const recSize = ProgInfo.get(first, 'line_info_rec_size') || LineInfo.size;
  const nf = ProgInfo.get(first, 'nr_func_info');
  const fRecSize = ProgInfo.get(first, 'func_info_rec_size') || FuncInfo.size;
  const btfId = ProgInfo.get(first, 'btf_id');
  const lines = new Map<number, SourceLine>();
  const functions = new Map<number, string>();
  if (!btfId) return { lines, functions };
  const lineBuf = Buffer.alloc(n * recSize);
  const funcBuf = Buffer.alloc(nf * fRecSize);
  objGetInfo(prog, ProgInfo.encode({
    nr_line_info: n, line_info_rec_size: recSize, line_info: lineBuf, nr_func_info: nf, func_info_rec_size: fRecSize, func_info: funcBuf,
  }), 'program');
  const btf = readKernelBtf(btfId);
  for (let i = 0; i < n; i++) {
    const l = LineInfo.decode(lineBuf, i * recSize);
    if (lines.has(l.insn_off)) continue;
    lines.set(l.insn_off, {
      text: trimStart(utf8(btf.string(l.line_off))), file: utf8(btf.string(l.file_name_off)),
      line: lineInfoLine(l.line_col), column: lineInfoColumn(l.line_col),
    });
  }
  for (let i = 0; i < nf; i++) {
    const f = FuncInfo.decode(funcBuf, i * fRecSize);
    const signature = functionSignature(btf, f.type_id);
    if (signature) functions.set(f.insn_off, signature);
  }
  return { lines, functions };
}

/**
 * Source line text per xlated instruction index, and function signatures, when the program was
 * loaded with BTF line info (programDebugInfo without file and line numbers).
 */
export function programSourceLines(prog: FD): { lines: Map<number, string>; functions: Map<number, string> } {
  const { lines, functions } = programDebugInfo(prog);
  return { lines: new Map([...lines].map(([i, l]) => [i, l.text])), functions };
}

// bpftool writes the signature into a 1024-byte buffer and prints nothing when it does not fit.
const SIGNATURE_MAX_BYTES = 1024;

/**
 * A BTF function type as bpftool spells it above the function's instructions:
 * "int count_write(__u32 weight)", "__u64 clamp(__u64 w, const char * why)" (every type word is
 * followed by a space, pointers included). Empty when bpftool prints none: kinds it does not spell
 * (type tags), or a signature longer than its buffer.
 */
export function functionSignature(btf: Btf, typeId: number): string {
  const text = typeWords(btf, typeId);
  return text !== undefined && Buffer.byteLength(text) < SIGNATURE_MAX_BYTES ? text : '';
}

function typeWords(btf: Btf, id: number, depth = 0): string | undefined {
  if (id === 0) return 'void ';
  if (depth > 64) return undefined;
  const t = btf.type(id);
  const inner = (ref: number) => typeWords(btf, ref, depth + 1);
  const prefixed = (word: string, ref: number) => { const s = inner(ref); return s === undefined ? undefined : `${word} ${s}`; };
  switch (t.kind) {
    case 'INT': case 'TYPEDEF': case 'FLOAT': return `${t.name} `;
    case 'STRUCT': case 'UNION': return `${t.kind.toLowerCase()} ${t.name} `;
    case 'ENUM': case 'ENUM64': return `enum ${t.name} `;
    case 'FWD': return `${t.kindFlag ? 'union' : 'struct'} ${t.name} `;
    case 'ARRAY': { const s = inner(t.array!.type); return s === undefined ? undefined : `${s}[${t.array!.nelems}]`; }
    case 'PTR': { const s = inner(t.type!); return s === undefined ? undefined : `${s}* `; }
    case 'CONST': case 'VOLATILE': case 'RESTRICT': return prefixed(t.kind.toLowerCase(), t.type!);
    case 'FUNC_PROTO': return functionWords(btf, t, undefined, depth);
    case 'FUNC': return functionWords(btf, btf.type(t.type!), t.name, depth);
    case 'VAR': { const s = inner(t.type!); return s === undefined ? undefined : `${t.linkage === 0 ? 'static ' : ''}${s} ${t.name}`; }
    case 'DATASEC': return `section ("${t.name}") `;
    default: return undefined;
  }
}

function functionWords(btf: Btf, proto: BtfType, name: string | undefined, depth: number): string | undefined {
  let text = typeWords(btf, proto.type ?? 0, depth + 1);
  if (text === undefined) return undefined;
  text += `${name ?? ''}(`;
  for (const [i, p] of (proto.params ?? []).entries()) {
    if (i) text += ', ';
    if (p.type === 0) { text += '...'; continue; }
    const words = typeWords(btf, p.type, depth + 1);
    if (words === undefined) return undefined;
    // A parameter without a name loses the type's trailing space: "int (int, char *)".
    text += p.name ? `${words}${p.name}` : words.replace(/ $/, '');
  }
  return `${text})`;
}
