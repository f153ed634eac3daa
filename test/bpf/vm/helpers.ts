// Shared by the interpreter's tests: build a program with the Assembler and run it.
import assert from 'node:assert/strict';
import { Assembler, R10, R1, type Register } from '../../../src/bpf/asm/index.js';
import { VmError, type VmErrorKind, runProgram, type VmRunOptions, type VmRunResult } from '../../../src/bpf/vm/index.js';

/** Runs what `build` writes into a fresh Assembler; returns r0. */
export function r0Of(build: (a: Assembler) => Assembler, options: VmRunOptions = {}): bigint {
  return runProgram(build(new Assembler()).assemble(), options).returnValue;
}

export function runAsm(build: (a: Assembler) => Assembler, options: VmRunOptions = {}): VmRunResult {
  return runProgram(build(new Assembler()).assemble(), options);
}

/** An assert.throws matcher for a VmError of `kind` whose message matches `pattern`. */
export function vmError(kind: VmErrorKind, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof VmError, `expected a VmError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

/** Writes `bytes` to the stack at fp+`at` (a multiple of 8), zero-padded to whole u64s; clobbers r1. */
export function putBytes(a: Assembler, at: number, bytes: Uint8Array | string, scratch: Register = R1): Assembler {
  const b = Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  const padded = Buffer.alloc(Math.ceil(b.length / 8) * 8 || 8);
  b.copy(padded);
  for (let i = 0; i < padded.length; i += 8) a.ldImm64(scratch, padded.readBigUInt64LE(i)).stx('u64', R10, at + i, scratch);
  return a;
}

export const U64 = (1n << 64n) - 1n;
/** A signed number as the unsigned 64-bit value a register holds. */
export const u = (n: bigint | number): bigint => BigInt.asUintN(64, BigInt(n));
