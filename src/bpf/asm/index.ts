// The eBPF assembler: instructions and their wire format, a builder with labels and helpers by
// name, and a disassembler that prints what bpftool prints.

export { Assembler } from './builder.js';
export type { AssembledProgram, AtomicAluOp, AtomicSize, LoadSize, MapLike, MapReference, StoreSize } from './builder.js';
export { formatInstruction, formatInstructions } from './disasm.js';
export type { FormatOptions } from './disasm.js';
export { AsmError } from './errors.js';
export type { AsmErrorKind } from './errors.js';
export { findHelperId, helperId, helperName, HELPERS, HELPER_ID_LIMIT } from './helpers.js';
export {
  decodeInstructions,
  encodeInstructions,
  INSTRUCTION_SIZE_BYTES,
  isLoadImm64,
  loadImm64Slots,
  loadImm64Value,
} from './insn.js';
export type { Instruction } from './insn.js';
export * from './opcodes.js';
export { Register, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 } from './registers.js';
