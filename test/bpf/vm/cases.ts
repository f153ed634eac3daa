// Instruction cases shared by the interpreter's tests and the kernel cross-check: each builds a
// program whose r0 the kernel defines exactly.
import { Assembler, R0, R1, R2, R3, R4, R6, R10, type AssembledProgram } from '../../../src/bpf/asm/index.js';
import { Errno } from '../../../src/bpf/vm/index.js';
import { U64, putBytes, u } from './helpers.js';

const MIN64 = 1n << 63n;

/** r0 = a; r1 = b; r0 op= r1 (or the immediate). */
export type AluCase = [name: string, build: (a: Assembler) => Assembler, expected: bigint];

const ld = (a: Assembler, x: bigint, y?: bigint): Assembler => {
  a.ldImm64(R0, x);
  if (y !== undefined) a.ldImm64(R1, y);
  return a;
};

export const ALU64_CASES: AluCase[] = [
  ['add wraps at 2^64', (a) => ld(a, U64).add(R0, 1), 0n],
  ['sub below zero wraps', (a) => a.mov(R0, 0).sub(R0, 1), U64],
  ['mul wraps', (a) => ld(a, MIN64).mul(R0, 2), 0n],
  ['mul of large values keeps the low 64 bits', (a) => ld(a, 0x1_0000_0001n, 0x1_0000_0001n).mul(R0, R1), 0x2_0000_0001n],
  ['div is unsigned', (a) => ld(a, U64).div(R0, 2), U64 >> 1n],
  ['div by a zero register gives 0', (a) => ld(a, 7n, 0n).div(R0, R1), 0n],
  ['mod by a zero register leaves dst', (a) => ld(a, U64 - 5n, 0n).mod(R0, R1), U64 - 5n],
  ['mod is unsigned', (a) => ld(a, u(-7), 3n).mod(R0, R1), u(-7) % 3n],
  ['sdiv truncates towards zero', (a) => ld(a, u(-7)).sdiv(R0, 2), u(-3)],
  ['sdiv of two negatives', (a) => ld(a, u(-7), u(-2)).sdiv(R0, R1), 3n],
  ['sdiv LLONG_MIN by -1 wraps to LLONG_MIN', (a) => ld(a, MIN64, U64).sdiv(R0, R1), MIN64],
  ['sdiv by a zero register gives 0', (a) => ld(a, u(-7), 0n).sdiv(R0, R1), 0n],
  ['smod takes the dividend\'s sign', (a) => ld(a, u(-7)).smod(R0, 2), u(-1)],
  ['smod of a positive by a negative', (a) => ld(a, 7n, u(-2)).smod(R0, R1), 1n],
  ['smod LLONG_MIN by -1 is 0', (a) => ld(a, MIN64, U64).smod(R0, R1), 0n],
  ['smod by a zero register leaves dst', (a) => ld(a, u(-7), 0n).smod(R0, R1), u(-7)],
  ['or', (a) => ld(a, 0xf0n).or(R0, 0x0f), 0xffn],
  ['and with a sign-extended immediate', (a) => ld(a, U64).and(R0, -2), U64 - 1n],
  ['xor', (a) => ld(a, 0xffn).xor(R0, 0x0f), 0xf0n],
  ['lsh by 63', (a) => a.mov(R0, 1).lsh(R0, 63), MIN64],
  ['lsh by a register is masked with 63', (a) => ld(a, 1n, 65n).lsh(R0, R1), 2n],
  ['rsh is logical', (a) => ld(a, MIN64).rsh(R0, 63), 1n],
  ['rsh by a register of 64 shifts by 0', (a) => ld(a, 5n, 64n).rsh(R0, R1), 5n],
  ['arsh keeps the sign', (a) => ld(a, u(-8)).arsh(R0, 1), u(-4)],
  ['arsh by a register is masked', (a) => ld(a, MIN64, 127n).arsh(R0, R1), U64],
  ['neg', (a) => a.mov(R0, 1).neg(R0), U64],
  ['neg of LLONG_MIN', (a) => ld(a, MIN64).neg(R0), MIN64],
  ['mov of a negative immediate sign-extends', (a) => a.mov(R0, -2), U64 - 1n],
  ['mov of a register copies 64 bits', (a) => ld(a, 0n, 0x1234_5678_9abc_def0n).mov(R0, R1), 0x1234_5678_9abc_def0n],
  ['add of a negative immediate', (a) => a.mov(R0, 10).add(R0, -3), 7n],
  ['movsx 8', (a) => ld(a, 0n, 0x1_80n).movsx(R0, R1, 8), u(-128)],
  ['movsx 16', (a) => ld(a, 0n, 0x7fffn).movsx(R0, R1, 16), 0x7fffn],
  ['movsx 32', (a) => ld(a, 0n, 0x8000_0000n).movsx(R0, R1, 32), u(-0x8000_0000)],
  ['bswap16 zero-extends', (a) => ld(a, 0x0102_0304_0506_0708n).bswap(R0, 16), 0x0807n],
  ['bswap32', (a) => ld(a, 0x0102_0304_0506_0708n).bswap(R0, 32), 0x0807_0605n],
  ['bswap64', (a) => ld(a, 0x0102_0304_0506_0708n).bswap(R0, 64), 0x0807_0605_0403_0201n],
  ['le16 truncates', (a) => ld(a, 0x0102_0304_0506_0708n).toLe(R0, 16), 0x0708n],
  ['le32 truncates', (a) => ld(a, 0x0102_0304_0506_0708n).toLe(R0, 32), 0x0506_0708n],
  ['le64 is a no-op', (a) => ld(a, 0x0102_0304_0506_0708n).toLe(R0, 64), 0x0102_0304_0506_0708n],
  ['be16 swaps', (a) => ld(a, 0x0102_0304_0506_0708n).toBe(R0, 16), 0x0807n],
  ['be32 swaps', (a) => ld(a, 0x0102_0304_0506_0708n).toBe(R0, 32), 0x0807_0605n],
  ['be64 swaps', (a) => ld(a, 0x0102_0304_0506_0708n).toBe(R0, 64), 0x0807_0605_0403_0201n],
  ['ld_imm64 of an unsigned constant', (a) => a.ldImm64(R0, 0xdead_beef_cafe_f00dn), 0xdead_beef_cafe_f00dn],
  ['ld_imm64 of a negative constant', (a) => a.ldImm64(R0, -2n), U64 - 1n],
];

export const ALU32_CASES: AluCase[] = [
  ['add32 wraps and zero-extends', (a) => ld(a, U64).add32(R0, 1), 0n],
  ['add32 ignores the upper half', (a) => ld(a, 0x1_0000_0001n).add32(R0, 1), 2n],
  ['mov32 of -1 zero-extends', (a) => a.mov32(R0, -1), 0xffff_ffffn],
  ['mov32 of a register keeps the low half', (a) => ld(a, 0n, 0xaaaa_bbbb_cccc_ddddn).mov32(R0, R1), 0xcccc_ddddn],
  ['sub32 below zero', (a) => a.mov(R0, 0).sub32(R0, 1), 0xffff_ffffn],
  ['mul32 keeps 32 bits', (a) => ld(a, 0x1_0000n).mul32(R0, 0x1_0000), 0n],
  ['div32 by a zero register gives 0', (a) => ld(a, 7n, 0n).div32(R0, R1), 0n],
  ['div32 uses the low halves', (a) => ld(a, 0x5_0000_0008n, 0x7_0000_0002n).div32(R0, R1), 4n],
  ['mod32 by a zero register leaves the low half of dst, zero-extended', (a) => ld(a, 0x1_0000_0005n, 0n).mod32(R0, R1), 5n],
  ['mod32', (a) => ld(a, 17n).mod32(R0, 5), 2n],
  ['sdiv32 truncates towards zero', (a) => ld(a, 0xffff_fff9n).sdiv32(R0, 2), 0xffff_fffdn],
  ['sdiv32 INT_MIN by -1 wraps', (a) => ld(a, 0x8000_0000n, 0xffff_ffffn).sdiv32(R0, R1), 0x8000_0000n],
  ['smod32 takes the dividend\'s sign', (a) => ld(a, 0xffff_fff9n).smod32(R0, 2), 0xffff_ffffn],
  ['smod32 by a zero register leaves the low half', (a) => ld(a, 0x1_ffff_fff9n, 0n).smod32(R0, R1), 0xffff_fff9n],
  ['or32 zero-extends', (a) => ld(a, U64).or32(R0, 0), 0xffff_ffffn],
  ['and32', (a) => ld(a, 0xff00_ff00n).and32(R0, 0x0ff0), 0x0f00n],
  ['xor32', (a) => ld(a, U64).xor32(R0, -1), 0n],
  ['lsh32 by 31', (a) => a.mov(R0, 1).lsh32(R0, 31), 0x8000_0000n],
  ['lsh32 drops bits past 32', (a) => a.mov(R0, 3).lsh32(R0, 31), 0x8000_0000n],
  ['lsh32 by a register is masked with 31', (a) => ld(a, 1n, 33n).lsh32(R0, R1), 2n],
  ['rsh32 is logical on the low half', (a) => ld(a, 0xffff_ffff_8000_0000n).rsh32(R0, 31), 1n],
  ['arsh32 keeps the sign of bit 31', (a) => ld(a, 0x8000_0000n).arsh32(R0, 4), 0xf800_0000n],
  ['neg32', (a) => a.mov(R0, 1).neg32(R0), 0xffff_ffffn],
  ['movsx32 8', (a) => ld(a, 0n, 0x80n).movsx32(R0, R1, 8), 0xffff_ff80n],
  ['movsx32 16', (a) => ld(a, 0n, 0xffff_8000n).movsx32(R0, R1, 16), 0xffff_8000n],
];

/** [name, a, op, b, is32, taken] */
export type JmpCase = [string, bigint, keyof Assembler & string, bigint | number, boolean];

export const JMP_CASES: JmpCase[] = [
  ['jeq equal', 5n, 'jeq', 5n, true],
  ['jeq different', 5n, 'jeq', 6n, false],
  ['jne', 5n, 'jne', 6n, true],
  ['jgt is unsigned: -1 > 1', U64, 'jgt', 1n, true],
  ['jge equal', 3n, 'jge', 3n, true],
  ['jlt is unsigned: 1 < -1', 1n, 'jlt', U64, true],
  ['jle', 4n, 'jle', 3n, false],
  ['jsgt is signed: -1 > 1 is false', U64, 'jsgt', 1n, false],
  ['jsge', u(-5), 'jsge', u(-5), true],
  ['jslt: -1 < 1', U64, 'jslt', 1n, true],
  ['jslt: LLONG_MIN < LLONG_MAX', MIN64, 'jslt', MIN64 - 1n, true],
  ['jsle', 2n, 'jsle', u(-2), false],
  ['jset with a common bit', 0b1010n, 'jset', 0b0010n, true],
  ['jset without', 0b1010n, 'jset', 0b0101n, false],
  ['jeq with an immediate -1 (sign-extended)', U64, 'jeq', -1, true],
  ['jgt with an immediate -1 is unsigned 2^64-1', 5n, 'jgt', -1, false],
  ['jslt with an immediate', u(-3), 'jslt', -2, true],
  ['jeq32 compares the low halves', 0x1_0000_0001n, 'jeq32', 1n, true],
  ['jeq32 with immediate 0xffffffff', 0x5_ffff_ffffn, 'jeq32', 0xffff_ffff, true],
  ['jgt32 is unsigned on 32 bits', 0xffff_ffffn, 'jgt32', 1n, true],
  ['jslt32: bit 31 is the sign', 0x8000_0000n, 'jslt32', 0, true],
  ['jsgt32 ignores the upper half', 0x8000_0000_0000_0001n, 'jsgt32', 0, true],
  ['jset32 ignores the upper half', 0x1_0000_0000n, 'jset32', 0xffff_ffff, false],
  ['jle32', 0x7_0000_0002n, 'jle32', 3n, true],
  ['jne32', 0x1_0000_0000n, 'jne32', 0n, false],
];

/** r0 = 1 if `a op b` jumps, else 0. */
export function jumpProgram(asm: Assembler, a: bigint, op: JmpCase[2], b: bigint | number): Assembler {
  asm.mov(R0, 0).ldImm64(R1, a);
  if (typeof b === 'bigint') asm.ldImm64(R2, b);
  const jump = asm[op] as (this: Assembler, d: typeof R1, s: typeof R2 | number, l: string) => Assembler;
  jump.call(asm, R1, typeof b === 'bigint' ? R2 : b, 'yes');
  return asm.exit().label('yes').mov(R0, 1).exit();
}

const onStack = (build: (a: Assembler) => Assembler, initial: bigint) => (a: Assembler) => build(a.ldImm64(R1, initial).stx('u64', R10, -8, R1));
/** Atomic operations on a u64 at fp-8: [name, program (without exit), r0]. */
export const ATOMIC_CASES: AluCase[] = [
  ['add', onStack((a) => a.mov(R2, 5).atomic('add', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 10n), 15n],
  ['fetch_add returns the old value in src', onStack((a) => a.mov(R2, 5).atomicFetch('add', 'u64', R10, -8, R2).mov(R0, R2), 10n), 10n],
  ['and', onStack((a) => a.mov(R2, 0b0110).atomic('and', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 0b1100n), 0b0100n],
  ['or', onStack((a) => a.mov(R2, 0b0011).atomic('or', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 0b1100n), 0b1111n],
  ['xor', onStack((a) => a.mov(R2, 0b0110).atomic('xor', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 0b1100n), 0b1010n],
  ['fetch_or', onStack((a) => a.mov(R2, 1).atomicFetch('or', 'u64', R10, -8, R2).mov(R0, R2), 6n), 6n],
  ['fetch_xor leaves memory xored', onStack((a) => a.mov(R2, 1).atomicFetch('xor', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 6n), 7n],
  ['fetch_and', onStack((a) => a.mov(R2, 2).atomicFetch('and', 'u64', R10, -8, R2).ldx('u64', R0, R10, -8), 6n), 2n],
  ['32-bit add wraps within 32 bits', onStack((a) => a.mov(R2, 1).atomic('add', 'u32', R10, -8, R2).ldx('u64', R0, R10, -8), 0x5_ffff_ffffn), 0x5_0000_0000n],
  ['32-bit fetch_add zero-extends the old value', onStack((a) => a.mov(R2, 1).atomicFetch('add', 'u32', R10, -8, R2).mov(R0, R2), 0x5_ffff_ffffn), 0xffff_ffffn],
  ['xchg', onStack((a) => a.mov(R2, 7).xchg('u64', R10, -8, R2).ldx('u64', R0, R10, -8).add(R0, R2), 100n), 107n],
  ['cmpxchg stores when memory equals r0, r0 = old', onStack((a) => a.mov(R0, 3).mov(R2, 9).cmpxchg('u64', R10, -8, R2).ldx('u64', R1, R10, -8).lsh(R0, 8).or(R0, R1), 3n), 0x309n],
  ['cmpxchg leaves memory when it differs', onStack((a) => a.mov(R0, 4).mov(R2, 9).cmpxchg('u64', R10, -8, R2).ldx('u64', R1, R10, -8).lsh(R0, 8).or(R0, R1), 3n), 0x303n],
  ['32-bit cmpxchg compares the low half of r0', onStack((a) => a.ldImm64(R0, 0x7_0000_0003n).mov(R2, 9).cmpxchg('u32', R10, -8, R2).ldx('u32', R0, R10, -8), 3n), 9n],
];

/** strtol / strtoul: [text, flags, helper, characters consumed or -errno, *res]. */
export const STRTO_CASES: [string, number, 'strtol' | 'strtoul', number, bigint][] = [
  ['600', 0, 'strtoul', 3, 600n],
  ['  \t12', 10, 'strtoul', 5, 12n],
  ['\xa07', 0, 'strtoul', 2, 7n], // the kernel's isspace includes 0xa0
  ['-0', 0, 'strtol', 2, 0n],
  ['-9223372036854775808', 0, 'strtol', 20, u(-(1n << 63n))],
  ['-9223372036854775809', 0, 'strtol', -Errno.ERANGE, 0n],
  ['18446744073709551615', 0, 'strtoul', 20, (1n << 64n) - 1n],
  ['18446744073709551616', 0, 'strtoul', -Errno.ERANGE, 0n],
  ['99999999999999999999999', 10, 'strtoul', -Errno.ERANGE, 0n],
  ['9223372036854775808', 0, 'strtoul', 19, 1n << 63n],
  ['0x', 16, 'strtoul', -Errno.EINVAL, 0n],
  ['0x', 0, 'strtoul', 1, 0n],
  ['0XfF', 0, 'strtoul', 4, 255n],
  ['0x1g', 16, 'strtoul', 3, 1n],
  ['ff', 16, 'strtoul', 2, 255n],
  ['ff', 10, 'strtoul', -Errno.EINVAL, 0n],
  ['08', 0, 'strtoul', 1, 0n],
  ['12', 0x20 | 10, 'strtoul', -Errno.EINVAL, 0n],
  ['12', 2, 'strtoul', -Errno.EINVAL, 0n],
  ['--1', 0, 'strtol', -Errno.EINVAL, 0n],
  ['+1', 0, 'strtol', -Errno.EINVAL, 0n],
  ['   ', 0, 'strtol', -Errno.EINVAL, 0n],
  ['-', 0, 'strtol', -Errno.EINVAL, 0n],
  [`${'0'.repeat(70)}1`, 10, 'strtoul', 63, 0n],
  [`${' '.repeat(10)}-${'0'.repeat(70)}`, 10, 'strtol', 10 + 1 + 63, 0n],
  ['12 34', 10, 'strtol', 2, 12n],
];


/**
 * helper(text, len(text), flags, &res), res pre-filled with 0x5555 (a failure must leave 0 in it).
 * `ctx`: r0 = the result, res stored at ctx+8 (a 16-byte bytes context); `ret`: r0 = the result
 * only; `res`: r0 = res (for program types whose context cannot be written, as socket filters).
 */
export function strtoProgram(text: string, flags: number, helper: 'strtol' | 'strtoul', output: 'ctx' | 'ret' | 'res' = 'ctx'): AssembledProgram {
  const bytes = Buffer.from(text, 'latin1');
  const a = new Assembler().mov(R6, R1);
  putBytes(a, -96, bytes);
  a.ldImm64(R1, 0x5555n).stx('u64', R10, -8, R1)
    .mov(R1, R10).add(R1, -96).mov(R2, bytes.length).mov(R3, flags).mov(R4, R10).add(R4, -8).call(helper);
  if (output === 'ctx') a.ldx('u64', R1, R10, -8).stx('u64', R6, 8, R1);
  if (output === 'res') a.ldx('u64', R0, R10, -8);
  return a.exit().assemble();
}
