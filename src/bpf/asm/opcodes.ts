// The eBPF opcode byte and the special field values that give it meaning, as in the uapi headers
// <linux/bpf_common.h> and <linux/bpf.h>. The opcode byte is `class | op | source` for ALU and JMP
// classes and `class | size | mode` for load and store classes.
// Reference: Documentation/bpf/standardization/instruction-set.rst in the kernel tree.

/** Instruction class: the low 3 bits of the opcode. */
export const InsnClass = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  /** Jumps that compare the low 32 bits (Linux 5.1). */
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** ALU operation: bits 4..7 of the opcode in classes ALU and ALU64. */
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  /** Unsigned; signed with `off = 1` (Linux 6.6). */
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  /** Unsigned; signed with `off = 1` (Linux 6.6). */
  MOD: 0x90,
  XOR: 0xa0,
  /** Plain move; sign-extending with `off` = 8, 16 or 32 (Linux 6.6). */
  MOV: 0xb0,
  ARSH: 0xc0,
  /** Byte order conversion; `imm` is the width in bits (16, 32, 64). */
  END: 0xd0,
} as const;

/** Jump operation: bits 4..7 of the opcode in classes JMP and JMP32. */
export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** Conditional pseudo jump; `src = 0` is may_goto (Linux 6.9). */
  JCOND: 0xe0,
} as const;

/** Operand source of ALU and JMP instructions: the immediate or the src register. */
export const Source = {
  K: 0x00,
  X: 0x08,
} as const;

/** Source bit of the END (byte swap) operation in class ALU: the byte order to convert to. */
export const Endian = {
  TO_LE: 0x00,
  TO_BE: 0x08,
} as const;

/** Access size of load and store classes. */
export const Size = {
  W: 0x00,
  H: 0x08,
  B: 0x10,
  DW: 0x18,
} as const;

/** Addressing mode of load and store classes. */
export const Mode = {
  IMM: 0x00,
  /** Legacy packet access (socket filters); r6 must hold the skb. */
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  /** Sign-extending load, class LDX only (Linux 6.6). */
  MEMSX: 0x80,
  /** Atomic read-modify-write, class STX; the operation is in `imm`. */
  ATOMIC: 0xc0,
} as const;

/** Atomic operation, stored in `imm` of a STX | ATOMIC instruction (Linux 5.12; ADD since 3.18). */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  /** Flag: the old value is written back into the src register. */
  FETCH: 0x01,
  FETCH_ADD: 0x01,
  FETCH_OR: 0x41,
  FETCH_AND: 0x51,
  FETCH_XOR: 0xa1,
  XCHG: 0xe1,
  /** Compares with r0, and writes the old value into r0. */
  CMPXCHG: 0xf1,
  /** Load-acquire and store-release (Linux 6.15). */
  LOAD_ACQ: 0x100,
  STORE_REL: 0x110,
} as const;

/** `src` of a LD | IMM | DW (ld_imm64) instruction: what the 64-bit immediate refers to. */
export const PseudoLdImm64 = {
  /** A plain 64-bit constant. */
  NONE: 0,
  /** `imm` is a map fd; the kernel replaces it with the map's address. */
  MAP_FD: 1,
  /** `imm` is a map fd, the second slot's `imm` an offset into the map's value (array maps). */
  MAP_VALUE: 2,
  BTF_ID: 3,
  /** `imm` is the pc-relative offset of a subprogram (a callback). */
  FUNC: 4,
  /** `imm` indexes `fd_array` of the load attributes instead of being an fd. */
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;

/** `src` of a JMP | CALL instruction: what `imm` names. */
export const PseudoCall = {
  /** `imm` is a helper id. */
  HELPER: 0,
  /** `imm` is the pc-relative offset of a subprogram (bpf-to-bpf call). */
  CALL: 1,
  /** `imm` is the BTF id of a kernel function. */
  KFUNC_CALL: 2,
} as const;

/** `off` values that select a variant of an ALU operation (Linux 6.6). */
export const AluVariant = {
  /** DIV and MOD with `off = 1` are signed. */
  SIGNED: 1,
} as const;

/** `off` of an ALU64 | MOV | X instruction with an arena pointer cast (Linux 6.9). */
export const ADDR_SPACE_CAST_OFF = 1;
/** `off` of an ALU64 | MOV | X instruction the kernel uses for per-CPU addresses in xlated code. */
export const PERCPU_ADDR_OFF = -1;
/** The kernel's internal speculation barrier (ST | NOSPEC), visible in xlated dumps; not uapi. */
export const NOSPEC_MODE = 0xc0;

/** The opcode of a ld_imm64, which occupies two instruction slots. */
export const LD_IMM64_CODE = InsnClass.LD | Size.DW | Mode.IMM;

export const classOf = (code: number): number => code & 0x07;
export const opOf = (code: number): number => code & 0xf0;
export const sourceOf = (code: number): number => code & 0x08;
export const sizeOf = (code: number): number => code & 0x18;
export const modeOf = (code: number): number => code & 0xe0;
