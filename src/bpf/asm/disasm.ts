// Disassembler that prints instructions exactly as `bpftool prog dump xlated` and the kernel's
// verifier log do, because that text is what people already know how to read. The rules follow
// the kernel's printer (kernel/bpf/disasm.c) as of Linux 6.18; for classic instructions that is
// also what older bpftool releases print, while bpftool 7.1 (Debian 12) predates the Linux 6.6
// instructions (sdiv, movsx, bswap, ldsx, gotol) and prints "BUG_..." lines for them.
// Golden outputs of both are in test/fixtures/asm/.

import { helperName, HELPER_ID_LIMIT } from './helpers.js';
import { type Instruction, encodeInstructions, isLoadImm64, loadImm64Value } from './insn.js';
import {
  ADDR_SPACE_CAST_OFF,
  AluOp,
  AluVariant,
  AtomicOp,
  Endian,
  InsnClass,
  JmpOp,
  Mode,
  NOSPEC_MODE,
  PERCPU_ADDR_OFF,
  PseudoCall,
  PseudoLdImm64,
  Size,
  Source,
  classOf,
  modeOf,
  opOf,
  sizeOf,
  sourceOf,
} from './opcodes.js';

export interface FormatOptions {
  /**
   * Text for the map that a ld_imm64 refers to, given its `imm`: an fd in a program being built,
   * a map id in an xlated dump. Default `map[fd:N]`; bpftool's is `(id) => \`map[id:${id}]\``.
   */
  readonly mapText?: (imm: number) => string;
  /**
   * Name of a call target that is not a known helper id, before the `#imm` (bpftool looks up
   * /proc/kallsyms for the rewritten calls of xlated code). Return undefined for the default.
   */
  readonly callName?: (insn: Instruction) => string | undefined;
  /** Also print each instruction's bytes on the next line, as `bpftool ... opcodes` does. */
  readonly opcodes?: boolean;
  /**
   * Lines to print above the instruction at an index, each ending with a newline (bpftool's
   * function signatures and "; source line" comments). Not asked for the second slot of a ld_imm64.
   */
  readonly linesBefore?: (index: number) => string;
}

// C's printf prints a NULL string as "(null)"; the kernel's tables have holes that reach it.
const NULL_TEXT = '(null)';

const aluText: Record<number, string> = {
  [AluOp.ADD]: '+=', [AluOp.SUB]: '-=', [AluOp.MUL]: '*=', [AluOp.DIV]: '/=', [AluOp.OR]: '|=',
  [AluOp.AND]: '&=', [AluOp.LSH]: '<<=', [AluOp.RSH]: '>>=', [AluOp.NEG]: 'neg', [AluOp.MOD]: '%=',
  [AluOp.XOR]: '^=', [AluOp.MOV]: '=', [AluOp.ARSH]: 's>>=', [AluOp.END]: 'endian',
};
const signedAluText: Record<number, string> = { [AluOp.DIV]: 's/=', [AluOp.MOD]: 's%=' };
const movsxText: Record<number, string> = { 8: '(s8)', 16: '(s16)', 32: '(s32)' };
const atomicAluText: Record<number, string> = {
  [AtomicOp.ADD]: 'add', [AtomicOp.AND]: 'and', [AtomicOp.OR]: 'or', [AtomicOp.XOR]: 'xor',
};
const sizeText: Record<number, string> = { [Size.W]: 'u32', [Size.H]: 'u16', [Size.B]: 'u8', [Size.DW]: 'u64' };
const signedSizeText: Record<number, string> = { [Size.W]: 's32', [Size.H]: 's16', [Size.B]: 's8' };
const jmpText: Record<number, string> = {
  [JmpOp.JA]: 'jmp', [JmpOp.JEQ]: '==', [JmpOp.JGT]: '>', [JmpOp.JLT]: '<', [JmpOp.JGE]: '>=',
  [JmpOp.JLE]: '<=', [JmpOp.JSET]: '&', [JmpOp.JNE]: '!=', [JmpOp.JSGT]: 's>', [JmpOp.JSLT]: 's<',
  [JmpOp.JSGE]: 's>=', [JmpOp.JSLE]: 's<=', [JmpOp.CALL]: 'call', [JmpOp.EXIT]: 'exit',
};

/** `%02x` */
const hex2 = (byte: number): string => byte.toString(16).padStart(2, '0');
/** `%+d` */
const signed = (value: number): string => (value < 0 ? `${value}` : `+${value}`);
/** `0x%x` of a value the kernel casts to u32 */
const hexU32 = (value: number): string => `0x${(value >>> 0).toString(16)}`;
const text = (table: Record<number, string>, key: number): string => table[key] ?? NULL_TEXT;

/**
 * The text of the instruction at `index`, as the kernel prints it without the index:
 * `(b7) r0 = 1`. `insns` is the whole program because a ld_imm64 reads the next slot.
 */
export function formatInstruction(insns: readonly Instruction[], index: number, options: FormatOptions = {}): string {
  const insn = insns[index];
  if (insn === undefined) throw new RangeError(`no instruction at ${index} of ${insns.length}`);
  const cls = classOf(insn.code);
  const head = `(${hex2(insn.code)})`;
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64:
      return `${head} ${formatAlu(insn, cls)}`;
    case InsnClass.STX:
      return formatStx(insn, head);
    case InsnClass.ST:
      if (modeOf(insn.code) === Mode.MEM) return `${head} *(${text(sizeText, sizeOf(insn.code))} *)(r${insn.dst} ${signed(insn.off)}) = ${insn.imm}`;
      if (modeOf(insn.code) === NOSPEC_MODE) return `${head} nospec`;
      return `BUG_st_${hex2(insn.code)}`;
    case InsnClass.LDX: {
      const mode = modeOf(insn.code);
      if (mode !== Mode.MEM && mode !== Mode.MEMSX) return `BUG_ldx_${hex2(insn.code)}`;
      const size = text(mode === Mode.MEM ? sizeText : signedSizeText, sizeOf(insn.code));
      return `${head} r${insn.dst} = *(${size} *)(r${insn.src} ${signed(insn.off)})`;
    }
    case InsnClass.LD:
      return formatLd(insns, index, head, options);
    default:
      return formatJmp(insn, cls, head, options);
  }
}

function formatAlu(insn: Instruction, cls: number): string {
  const op = opOf(insn.code);
  const r = cls === InsnClass.ALU ? 'w' : 'r';
  if (op === AluOp.END) {
    if (cls === InsnClass.ALU64) return `r${insn.dst} = bswap${insn.imm} r${insn.dst}`;
    const order = sourceOf(insn.code) === Endian.TO_BE ? 'be' : 'le';
    return `r${insn.dst} = ${order}${insn.imm} r${insn.dst}`;
  }
  if (op === AluOp.NEG) return `${r}${insn.dst} = -${r}${insn.dst}`;
  const isMovReg64 = insn.code === (InsnClass.ALU64 | AluOp.MOV | Source.X);
  if (isMovReg64 && insn.off === ADDR_SPACE_CAST_OFF) {
    const imm = insn.imm >>> 0;
    return `r${insn.dst} = addr_space_cast(r${insn.src}, ${imm >>> 16}, ${imm & 0xffff})`;
  }
  if (isMovReg64 && insn.off === PERCPU_ADDR_OFF) return `r${insn.dst} = &(void __percpu *)(r${insn.src})`;
  const isSigned = (op === AluOp.DIV || op === AluOp.MOD) && insn.off === AluVariant.SIGNED;
  const opText = isSigned ? text(signedAluText, op) : text(aluText, op);
  if (sourceOf(insn.code) === Source.X) {
    const cast = op === AluOp.MOV ? movsxText[insn.off] ?? '' : '';
    return `${r}${insn.dst} ${opText} ${cast}${r}${insn.src}`;
  }
  return `${r}${insn.dst} ${opText} ${insn.imm}`;
}

function formatStx(insn: Instruction, head: string): string {
  const size = text(sizeText, sizeOf(insn.code));
  const mode = modeOf(insn.code);
  const place = `(r${insn.dst} ${signed(insn.off)})`;
  if (mode === Mode.MEM) return `${head} *(${size} *)${place} = r${insn.src}`;
  if (mode !== Mode.ATOMIC) return `BUG_${hex2(insn.code)}`;
  const width = sizeOf(insn.code) === Size.DW ? '64' : '';
  switch (insn.imm) {
    case AtomicOp.ADD:
    case AtomicOp.AND:
    case AtomicOp.OR:
    case AtomicOp.XOR:
      return `${head} lock *(${size} *)${place} ${text(aluText, insn.imm)} r${insn.src}`;
    case AtomicOp.FETCH_ADD:
    case AtomicOp.FETCH_AND:
    case AtomicOp.FETCH_OR:
    case AtomicOp.FETCH_XOR:
      return `${head} r${insn.src} = atomic${width}_fetch_${text(atomicAluText, opOf(insn.imm))}((${size} *)${place}, r${insn.src})`;
    case AtomicOp.CMPXCHG:
      return `${head} r0 = atomic${width}_cmpxchg((${size} *)${place}, r0, r${insn.src})`;
    case AtomicOp.XCHG:
      return `${head} r${insn.src} = atomic${width}_xchg((${size} *)${place}, r${insn.src})`;
    case AtomicOp.LOAD_ACQ:
      return `${head} r${insn.dst} = load_acquire((${size} *)(r${insn.src} ${signed(insn.off)}))`;
    case AtomicOp.STORE_REL:
      return `${head} store_release((${size} *)${place}, r${insn.src})`;
    default:
      return `BUG_${hex2(insn.code)}`;
  }
}

function formatLd(insns: readonly Instruction[], index: number, head: string, options: FormatOptions): string {
  const insn = insns[index]!;
  const size = text(sizeText, sizeOf(insn.code));
  switch (modeOf(insn.code)) {
    case Mode.ABS:
      return `${head} r0 = *(${size} *)skb[${insn.imm}]`;
    case Mode.IND:
      return `${head} r0 = *(${size} *)skb[r${insn.src} + ${insn.imm}]`;
    case Mode.IMM:
      if (isLoadImm64(insn)) return `${head} r${insn.dst} = ${formatImm64(insn, insns[index + 1], options)}`;
  }
  return `BUG_ld_${hex2(insn.code)}`;
}

/** The operand of a ld_imm64, as bpftool's print_imm shows it. */
function formatImm64(insn: Instruction, next: Instruction | undefined, options: FormatOptions): string {
  const mapText = options.mapText ?? ((fd: number) => `map[fd:${fd}]`);
  const nextImm = next?.imm ?? 0;
  switch (insn.src) {
    case PseudoLdImm64.MAP_FD:
      return mapText(insn.imm >>> 0);
    case PseudoLdImm64.MAP_VALUE:
      return `${mapText(insn.imm >>> 0)}[0]+${nextImm >>> 0}`;
    case PseudoLdImm64.MAP_IDX_VALUE:
      return `map[idx:${insn.imm >>> 0}]+${nextImm >>> 0}`;
    case PseudoLdImm64.FUNC:
      return `subprog[${signed(insn.imm)}]`;
    default:
      return `0x${loadImm64Value(insn, next).toString(16)}`;
  }
}

function formatJmp(insn: Instruction, cls: number, head: string, options: FormatOptions): string {
  const op = opOf(insn.code);
  if (op === JmpOp.CALL) {
    if (insn.src === PseudoCall.CALL) return `${head} call pc${options.callName?.(insn) ?? signed(insn.imm)}`;
    return `${head} call ${callTarget(insn, options)}#${insn.imm}`;
  }
  if (insn.code === (InsnClass.JMP | JmpOp.JA)) return `${head} goto pc${signed(insn.off)}`;
  if (insn.code === (InsnClass.JMP | JmpOp.JCOND) && insn.src === 0) return `${head} may_goto pc${signed(insn.off)}`;
  if (insn.code === (InsnClass.JMP32 | JmpOp.JA)) return `${head} gotol pc${signed(insn.imm)}`;
  if (insn.code === (InsnClass.JMP | JmpOp.EXIT)) return `${head} exit`;
  const r = cls === InsnClass.JMP32 ? 'w' : 'r';
  const operand = sourceOf(insn.code) === Source.X ? `${r}${insn.src}` : hexU32(insn.imm);
  return `${head} if ${r}${insn.dst} ${text(jmpText, op)} ${operand} goto pc${signed(insn.off)}`;
}

function callTarget(insn: Instruction, options: FormatOptions): string {
  if (insn.src === PseudoCall.HELPER && insn.imm >= 0 && insn.imm < HELPER_ID_LIMIT) {
    const name = helperName(insn.imm);
    if (name !== undefined) return `bpf_${name}`;
  }
  const custom = options.callName?.(insn);
  if (custom !== undefined) return custom;
  return insn.src === PseudoCall.KFUNC_CALL ? 'kernel-function' : 'unknown';
}

/** `% 4d: ` of bpftool: right-aligned in 4 columns, and always a leading space. */
function indexPrefix(index: number): string {
  return ` ${index}`.padStart(4);
}

/**
 * A whole program as `bpftool prog dump xlated` prints it: one line per instruction, numbered
 * by slot, the second slot of each ld_imm64 skipped. Every line ends with a newline.
 */
export function formatInstructions(insns: readonly Instruction[], options: FormatOptions = {}): string {
  let out = '';
  for (let index = 0; index < insns.length; index++) {
    const insn = insns[index]!;
    if (options.linesBefore) out += options.linesBefore(index);
    out += `${indexPrefix(index)}: ${formatInstruction(insns, index, options)}\n`;
    const double = isLoadImm64(insn);
    if (options.opcodes) {
      const slots = double && index + 1 < insns.length ? insns.slice(index, index + 2) : [insn];
      const bytes = [...encodeInstructions(slots)].map(hex2).join(' ');
      out += `       ${bytes}\n`;
    }
    if (double) index++;
  }
  return out;
}
