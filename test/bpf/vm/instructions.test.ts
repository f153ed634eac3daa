// The interpreter's instruction semantics: tables of ALU, JMP, load/store, atomic and call cases
// with the results the kernel gives, including the edge cases (division by zero, 32-bit zero
// extension, masked shifts, sign extension, signed compares).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Assembler, R0, R1, R2, R6, R10, type Instruction } from '../../../src/bpf/asm/index.js';
import { VmProgram, alu32, alu64, bswap, compare, createVmMap, runProgram } from '../../../src/bpf/vm/index.js';
import { AluOp, JmpOp } from '../../../src/bpf/asm/index.js';
import { ALU32_CASES, ALU64_CASES, ATOMIC_CASES, JMP_CASES, jumpProgram } from './cases.js';
import { U64, r0Of, runAsm, u, vmError } from './helpers.js';

describe('VM: ALU', () => {
  for (const [name, build, expected] of ALU64_CASES) {
    it(`alu64: ${name}`, () => assert.equal(r0Of((a) => build(a).exit()), expected));
  }
  for (const [name, build, expected] of ALU32_CASES) {
    it(`alu32: ${name}`, () => assert.equal(r0Of((a) => build(a).exit()), expected));
  }

  it('exports the arithmetic for other tools', () => {
    assert.equal(alu64(AluOp.DIV, 1n, 0n), 0n);
    assert.equal(alu32(AluOp.MOD, 0x1_0000_0003n, 0n), 3n);
    assert.equal(bswap(0x1234n, 16), 0x3412n);
    assert.equal(compare(JmpOp.JSLT, U64, 0n, false), true);
  });
});

describe('VM: jumps', () => {
  for (const [name, a, op, b, taken] of JMP_CASES) {
    it(name, () => assert.equal(r0Of((asm) => jumpProgram(asm, a, op, b)), taken ? 1n : 0n));
  }

  it('ja and gotol jump; a loop runs until its condition', () => {
    assert.equal(r0Of((a) => a.mov(R0, 1).ja('end').mov(R0, 2).label('end').exit()), 1n);
    assert.equal(r0Of((a) => a.mov(R0, 1).gotol('end').mov(R0, 2).label('end').exit()), 1n);
    // r0 = sum of 1..10
    assert.equal(r0Of((a) => a.mov(R0, 0).mov(R1, 10).label('loop').add(R0, R1).sub(R1, 1).jne(R1, 0, 'loop').exit()), 55n);
  });

  it('may_goto falls through until its budget is spent', () => {
    const insns: Instruction[] = [
      { code: 0xb7, dst: 0, src: 0, off: 0, imm: 7 },
      { code: 0xe5, dst: 0, src: 0, off: 1, imm: 0 }, // may_goto +1
      { code: 0xb7, dst: 0, src: 0, off: 0, imm: 8 },
      { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    ];
    assert.equal(runProgram(insns).returnValue, 8n);
  });
});

describe('VM: loads and stores', () => {
  it('stores and loads every size, little-endian', () => {
    const v = 0x0102_0304_0506_0708n;
    const load = (size: 'u8' | 'u16' | 'u32' | 'u64', off: number) => r0Of((a) => a.ldImm64(R1, v).stx('u64', R10, -8, R1).ldx(size, R0, R10, -8 + off).exit());
    assert.equal(load('u64', 0), v);
    assert.equal(load('u32', 0), 0x0506_0708n);
    assert.equal(load('u32', 4), 0x0102_0304n);
    assert.equal(load('u16', 2), 0x0506n);
    assert.equal(load('u8', 7), 0x01n);
  });

  it('narrow stores change only their bytes', () => {
    assert.equal(r0Of((a) => a.st('u64', R10, -8, 0).st('u8', R10, -7, 0xab).st('u16', R10, -4, 0xbeef).ldx('u64', R0, R10, -8).exit()), 0xbeef_0000_ab00n);
  });

  it('st sign-extends a u64 immediate and truncates narrower ones', () => {
    assert.equal(r0Of((a) => a.st('u64', R10, -8, -1).ldx('u64', R0, R10, -8).exit()), U64);
    assert.equal(r0Of((a) => a.st('u64', R10, -8, 0).st('u32', R10, -8, -1).ldx('u64', R0, R10, -8).exit()), 0xffff_ffffn);
    assert.equal(r0Of((a) => a.st('u64', R10, -8, 0).st('u8', R10, -8, 0x1ff).ldx('u64', R0, R10, -8).exit()), 0xffn);
  });

  it('sign-extending loads (ldsx)', () => {
    const ldsx = (size: 's8' | 's16' | 's32', v: bigint) => r0Of((a) => a.ldImm64(R1, v).stx('u64', R10, -8, R1).ldx(size, R0, R10, -8).exit());
    assert.equal(ldsx('s8', 0x80n), u(-128));
    assert.equal(ldsx('s8', 0x7fn), 0x7fn);
    assert.equal(ldsx('s16', 0xfffen), u(-2));
    assert.equal(ldsx('s32', 0x8000_0000n), u(-0x8000_0000));
    assert.equal(ldsx('s32', 0x1234_5678n), 0x1234_5678n);
  });

  it('spills a pointer to the stack and loads it back', () => {
    // r1 = fp-16 saved at fp-8, reloaded, then used: *(fp-16) = 42
    assert.equal(r0Of((a) => a.mov(R1, R10).add(R1, -16).stx('u64', R10, -8, R1).ldx('u64', R2, R10, -8).st('u64', R2, 0, 42).ldx('u64', R0, R10, -16).exit()), 42n);
  });
});

describe('VM: atomics', () => {
  for (const [name, build, expected] of ATOMIC_CASES) it(name, () => assert.equal(r0Of((a) => build(a).exit()), expected));

  it('atomics on a map value are seen by user space', () => {
    const counters = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1, name: 'counters' });
    const prog = new Assembler()
      .st('u32', R10, -4, 0).ldMapFd(R1, counters).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
      .jeq(R0, 0, 'out').mov(R1, 3).atomic('add', 'u64', R0, 0, R1)
      .label('out').mov(R0, 0).exit()
      .assemble();
    const vm = new VmProgram(prog);
    for (let i = 0; i < 5; i++) vm.run();
    assert.equal(counters.lookup(Buffer.alloc(4))!.readBigUInt64LE(0), 15n);
  });

  it('atomics must be aligned', () => {
    assert.throws(() => runAsm((a) => a.st('u64', R10, -16, 0).st('u64', R10, -8, 0).mov(R1, R10).add(R1, -12).mov(R2, 1).atomic('add', 'u64', R1, 0, R2).mov(R0, 0).exit()), vmError('misaligned'));
  });
});

describe('VM: calls', () => {
  it('bpf-to-bpf calls get their own stack; r6-r9 survive, r0 returns', () => {
    const r0 = r0Of((a) => a
      .mov(R6, 5).st('u64', R10, -8, 1000).mov(R1, 10).callLocal('double')
      .add(R0, R6).ldx('u64', R1, R10, -8).add(R0, R1).exit()
      .label('double')
      .st('u64', R10, -8, 7) // the callee's own fp-8
      .mov(R6, 99).mov(R0, R1).mul(R0, 2).exit());
    assert.equal(r0, 20n + 5n + 1000n);
  });

  it('a subprogram may use its caller\'s stack through a pointer', () => {
    assert.equal(r0Of((a) => a
      .st('u64', R10, -8, 0).mov(R1, R10).add(R1, -8).callLocal('set').ldx('u64', R0, R10, -8).exit()
      .label('set').st('u64', R1, 0, 77).mov(R0, 0).exit()), 77n);
  });

  it('a subprogram does not see its caller\'s r6-r9', () => {
    assert.throws(() => runAsm((a) => a.mov(R6, 1).callLocal('f').exit().label('f').mov(R0, R6).exit()), vmError('uninitialised-register', /r6 is read before it is written.*subprogram/));
  });

  it('calls clobber r1-r5', () => {
    assert.throws(() => runAsm((a) => a.mov(R1, 1).call('ktime_get_ns').mov(R0, R1).exit()), vmError('uninitialised-register', /r1 is read before.*instruction 2: \(bf\) r0 = r1.*calls clobber r1-r5/));
  });

  it('more than 8 frames is an error', () => {
    assert.throws(() => runAsm((a) => a.callLocal('f').exit().label('f').callLocal('f').exit()), vmError('call-depth', /8 frames/));
  });
});
