import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AsmError,
  decodeInstructions,
  encodeInstructions,
  type Instruction,
  loadImm64Slots,
  loadImm64Value,
} from '../../../src/bpf/asm/index.js';

/** A small deterministic generator, so a failure names bytes that can be replayed. */
function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

describe('instruction encoding', () => {
  it('lays out code, registers, off and imm little-endian', () => {
    const bytes = encodeInstructions([{ code: 0xb7, dst: 1, src: 2, off: -2, imm: 0x01020304 }]);
    assert.equal(bytes.toString('hex'), 'b721feff04030201');
  });

  it('round-trips every 8-byte slot of arbitrary bytes exactly', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const bytes = pseudoRandomBytes(8 * 64, seed);
      assert.deepEqual(encodeInstructions(decodeInstructions(bytes)), bytes, `seed ${seed}`);
    }
  });

  it('keeps odd field values and both halves of a ld_imm64', () => {
    const odd: Instruction[] = [
      { code: 0xff, dst: 15, src: 15, off: -32768, imm: -2147483648 },
      { code: 0x00, dst: 0, src: 0, off: 32767, imm: 2147483647 },
      ...loadImm64Slots(3, 6, 0xfedcba9876543210n),
      // A second slot with non-zero fields the kernel would reject, kept as it is.
      { code: 0x18, dst: 1, src: 0, off: 0, imm: 1 },
      { code: 0x00, dst: 9, src: 4, off: -1, imm: -1 },
    ];
    const decoded = decodeInstructions(encodeInstructions(odd));
    assert.deepEqual(decoded, odd);
    assert.equal(loadImm64Value(decoded[2]!, decoded[3]), 0xfedcba9876543210n);
  });

  it('accepts an unsigned 32-bit imm and decodes it as signed', () => {
    const [insn] = decodeInstructions(encodeInstructions([{ code: 0x04, dst: 1, src: 0, off: 0, imm: 0xffffffff }]));
    assert.equal(insn!.imm, -1);
  });

  it('splits 64-bit constants into slots', () => {
    const [low, high] = loadImm64Slots(1, 0, -1n);
    assert.equal(low.imm, -1);
    assert.equal(high.imm, -1);
    assert.equal(high.code, 0);
    assert.equal(loadImm64Value(low, high), 0xffffffffffffffffn);
  });

  it('refuses fields that do not fit, naming the instruction and the range', () => {
    assert.throws(
      () => encodeInstructions([{ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }, { code: 0x07, dst: 16, src: 0, off: 0, imm: 0 }]),
      (error: unknown) =>
        error instanceof AsmError && error.kind === 'invalid-instruction' && /instruction 1: dst = 16/.test(error.message) && /0 to 15/.test(error.message),
    );
    assert.throws(() => encodeInstructions([{ code: 0x07, dst: 1, src: 0, off: 40000, imm: 0 }]), /off = 40000/);
    assert.throws(() => encodeInstructions([{ code: 0x07, dst: 1, src: 0, off: 0, imm: 2 ** 32 }]), /imm = 4294967296/);
    assert.throws(() => encodeInstructions([{ code: 0x07, dst: 1, src: 0, off: 0.5, imm: 0 }]), /off = 0.5/);
  });

  it('refuses a byte count that is not a whole number of instructions', () => {
    assert.throws(
      () => decodeInstructions(Buffer.alloc(12)),
      (error: unknown) => error instanceof AsmError && error.kind === 'invalid-bytes' && /12 bytes/.test(error.message),
    );
  });

  it('decodes from a Uint8Array view at an offset', () => {
    const backing = Buffer.concat([Buffer.alloc(3), Buffer.from('9500000000000000', 'hex')]);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 3, 8);
    assert.deepEqual(decodeInstructions(view), [{ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }]);
  });
});
