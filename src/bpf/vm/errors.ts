// Errors of the interpreter. A program fault is a VmError that names the instruction (index and
// disassembly), what went wrong and how to fix it; a map operation from user space that the kernel
// would refuse is a VmMapError with the errno name the kernel would give.

/** What kind of fault stopped a program; lets callers and tests tell faults apart without regexes. */
export type VmErrorKind =
  /** The program is malformed: unknown opcode, jump out of range, reserved fields, missing exit. */
  | 'invalid-program'
  /** A register was read before it was written (the verifier's "!read_ok"). */
  | 'uninitialised-register'
  /** Stack bytes were read before they were written. */
  | 'uninitialised-stack'
  /** A load, store or helper buffer past the end (or before the start) of its memory. */
  | 'out-of-bounds'
  /** A load or store through a register that holds 0 (a map lookup that found nothing). */
  | 'null-pointer'
  /** A load or store through a scalar, a map pointer, or memory that was already released. */
  | 'invalid-pointer'
  /** A stack access not aligned to its size (the verifier requires it). */
  | 'misaligned'
  /** An access to the program context that the program type does not allow. */
  | 'invalid-context-access'
  /** Arithmetic or a comparison the interpreter cannot give a kernel-exact result for (pointers). */
  | 'pointer-arithmetic'
  /** A helper that the interpreter does not implement, or one called with bad arguments. */
  | 'helper'
  /** ld_imm64 of a map fd that is not one of the run's maps. */
  | 'unknown-map'
  /** bpf-to-bpf calls nested deeper than the kernel's 8 frames. */
  | 'call-depth'
  /** The instruction budget ran out (an endless or very long loop). */
  | 'budget-exceeded'
  /** The program returned a value its program type may not return. */
  | 'invalid-return';

export class VmError extends Error {
  override readonly name = 'VmError';

  constructor(
    readonly kind: VmErrorKind,
    /** What is wrong, e.g. `reading 8 uninitialised stack bytes at fp-16`. */
    readonly problem: string,
    /** What to do about it; empty when there is nothing useful to say. */
    readonly fix: string,
    /** Slot index of the faulting instruction, when there is one. */
    readonly index?: number,
    /** Its disassembly (`(79) r1 = *(u64 *)(r10 -16)`), when there is one. */
    readonly instruction?: string,
  ) {
    const where = index === undefined ? '' : ` (at instruction ${index}${instruction ? `: ${instruction}` : ''})`;
    super(`${problem}${where}${fix ? `; ${fix}` : ''}`);
  }
}

/** Linux errno values of the codes the interpreter's maps and helpers return. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EOPNOTSUPP: 95,
  ENOTSUPP: 524,
} as const;
export type ErrnoName = keyof typeof Errno;

const MAP_FIX: Partial<Record<ErrnoName, string>> = {
  E2BIG: 'the map is full: delete entries or create it with a larger maxEntries',
  ENOSPC: 'the map is full: delete entries or create it with a larger maxEntries',
  EEXIST: 'the key exists and NOEXIST was given: update without the flag',
  ENOENT: 'the key does not exist (EXIST was given, or there is nothing to return)',
  EINVAL: 'the kernel rejects this argument for this map type',
  ENOTSUPP: 'this map type does not support the operation from user space',
};

/**
 * A map operation refused as the kernel's bpf(2) would refuse it. `code` is the errno name, as in
 * SysError from the syscall layer, so code written against BpfMap can test `e.code === 'E2BIG'`.
 */
export class VmMapError extends Error {
  override readonly name = 'VmMapError';
  readonly errno: number;

  constructor(
    readonly code: ErrnoName,
    /** e.g. `updating HASH map counts`. */
    readonly op: string,
    readonly details?: string,
  ) {
    super(`${code} ${op}: ${details ?? MAP_FIX[code] ?? 'refused'}`);
    this.errno = Errno[code];
  }
}
