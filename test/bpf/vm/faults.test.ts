// Faults: every bad access, bad program and runaway loop is a VmError that names the instruction
// (index and disassembly) and the problem; nothing is read from outside memory the program owns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Assembler, R0, R1, R2, R3, R6, R10, type Instruction } from '../../../src/bpf/asm/index.js';
import { VmError, VmProgram, createVmMap, createVmRingBuf, formatTrace, runProgram } from '../../../src/bpf/vm/index.js';
import { r0Of, runAsm, vmError } from './helpers.js';

const sysctlRead = { ctx: { kind: 'sysctl', name: 'kernel/ostype', write: false, currentValue: 'Linux\n' } } as const;

describe('VM: faults name the instruction', () => {
  it('reading an uninitialised register', () => {
    assert.throws(() => runAsm((a) => a.mov(R0, 0).mov(R0, R2).exit()), (e: unknown) => {
      assert.ok(e instanceof VmError);
      assert.equal(e.kind, 'uninitialised-register');
      assert.equal(e.index, 1);
      assert.equal(e.instruction, '(bf) r0 = r2');
      assert.match(e.message, /^r2 is read before it is written \(at instruction 1: \(bf\) r0 = r2\); /);
      return true;
    });
  });

  it('exit without r0', () => {
    assert.throws(() => runAsm((a) => a.exit()), vmError('uninitialised-register', /r0 is read before/));
  });

  it('reading stack bytes never written', () => {
    assert.throws(() => runAsm((a) => a.ldx('u64', R0, R10, -8).exit()), vmError('uninitialised-stack', /load of 8 bytes at fp-8 reads stack bytes never written.*\(79\) r0 = \*\(u64 \*\)\(r10 -8\)/));
    // half written
    assert.throws(() => runAsm((a) => a.st('u32', R10, -8, 1).ldx('u64', R0, R10, -8).exit()), vmError('uninitialised-stack', /from fp-4/));
  });

  it('stack accesses outside the 512 bytes', () => {
    assert.throws(() => runAsm((a) => a.st('u64', R10, -520, 0).mov(R0, 0).exit()), vmError('out-of-bounds', /fp-520 .*out of bounds: the stack is fp-512..fp-1/));
    assert.throws(() => runAsm((a) => a.st('u64', R10, 0, 0).mov(R0, 0).exit()), vmError('out-of-bounds'));
  });

  it('misaligned stack access', () => {
    assert.throws(() => runAsm((a) => a.st('u64', R10, -12, 0).mov(R0, 0).exit()), vmError('misaligned', /8 bytes at fp-12/));
  });

  it('a load through NULL (a lookup that found nothing)', () => {
    const map = createVmMap({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 4, name: 'm' });
    const prog = new Assembler()
      .st('u32', R10, -4, 1).ldMapFd(R1, map).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
      .ldx('u64', R0, R0, 0).exit().assemble();
    assert.throws(() => runProgram(prog), vmError('null-pointer', /load through r0, which is NULL.*instruction 6/));
  });

  it('a load through a number', () => {
    assert.throws(() => runAsm((a) => a.mov(R1, 4096).ldx('u64', R0, R1, 0).exit()), vmError('invalid-pointer', /the number 4096, not a pointer/));
  });

  it('map values are bounds-checked', () => {
    const map = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 12, maxEntries: 1, name: 'small' });
    const look = (build: (a: Assembler) => Assembler) => runProgram(build(new Assembler()
      .st('u32', R10, -4, 0).ldMapFd(R1, map).mov(R2, R10).add(R2, -4).call('map_lookup_elem').jne(R0, 0, 'ok').exit().label('ok')).assemble());
    assert.equal(look((a) => a.ldx('u32', R0, R0, 8).exit()).returnValue, 0n);
    assert.throws(() => look((a) => a.ldx('u64', R0, R0, 8).exit()), vmError('out-of-bounds', /map_value\(small\)\+8 \(8 bytes\) is out of bounds: map_value\(small\) has 12 bytes/));
    assert.throws(() => look((a) => a.add(R0, -1).ldx('u8', R0, R0, 0).exit()), vmError('out-of-bounds'));
  });

  it('a map pointer is not memory', () => {
    const map = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1, name: 'arr' });
    assert.throws(() => runProgram(new Assembler().ldMapFd(R1, map).ldx('u64', R0, R1, 0).exit().assemble()), vmError('invalid-pointer', /map pointer/));
  });

  it('pointers only move by adding or subtracting numbers', () => {
    assert.throws(() => runAsm((a) => a.mov(R1, R10).mul(R1, 2).mov(R0, 0).exit()), vmError('pointer-arithmetic', /mul on a pointer/));
    assert.throws(() => runAsm((a) => a.mov(R1, R10).add32(R1, 2).mov(R0, 0).exit()), vmError('pointer-arithmetic', /32-bit arithmetic on a pointer/));
    assert.throws(() => runAsm((a) => a.mov32(R1, R10).mov(R0, 0).exit()), vmError('pointer-arithmetic'));
    // pointer - pointer in the same memory is their distance
    assert.equal(r0Of((a) => a.mov(R1, R10).add(R1, -24).mov(R0, R10).sub(R0, R1).exit()), 24n);
    // scalar + pointer is a pointer
    assert.equal(r0Of((a) => a.st('u64', R10, -8, 5).mov(R1, -8).add(R1, R10).ldx('u64', R0, R1, 0).exit()), 5n);
  });

  it('pointer comparisons: against NULL and within one region only', () => {
    assert.equal(r0Of((a) => a.mov(R0, 1).jeq(R10, 0, 'z').exit().label('z').mov(R0, 2).exit()), 1n);
    assert.equal(r0Of((a) => a.mov(R0, 1).jne(R10, 0, 'nz').exit().label('nz').mov(R0, 2).exit()), 2n);
    assert.equal(r0Of((a) => a.mov(R1, R10).add(R1, -8).mov(R0, 1).jgt(R10, R1, 'gt').exit().label('gt').mov(R0, 2).exit()), 2n);
    assert.throws(() => runAsm((a) => a.mov(R0, 1).jeq(R10, 5, 'z').exit().label('z').exit()), vmError('pointer-arithmetic', /with the number 5/));
    assert.throws(() => runAsm((a) => a.mov(R0, 0).jsgt(R10, 0, 'z').exit().label('z').exit()), vmError('pointer-arithmetic', /signed comparison/));
  });

  it('a partial read of a spilled pointer', () => {
    assert.throws(() => runAsm((a) => a.stx('u64', R10, -8, R10).ldx('u32', R0, R10, -8).exit()), vmError('pointer-arithmetic', /part of a pointer spilled to fp-8/));
    assert.throws(() => runAsm((a) => a.stx('u32', R10, -8, R10).mov(R0, 0).exit()), vmError('pointer-arithmetic', /4-byte store of a pointer/));
  });

  it('storing a pointer into a map value', () => {
    const map = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1, name: 'arr' });
    assert.throws(() => runProgram(new Assembler().ldMapValue(R1, map, 0).stx('u64', R1, 0, R10).mov(R0, 0).exit().assemble()), vmError('pointer-arithmetic', /storing a pointer/));
  });

  it('a program returning a pointer', () => {
    assert.throws(() => runAsm((a) => a.mov(R0, R10).exit()), vmError('pointer-arithmetic', /returns a pointer/));
  });
});

describe('VM: context access (struct bpf_sysctl)', () => {
  it('stores into ctx->write are refused', () => {
    assert.throws(() => runAsm((a) => a.mov(R2, 0).stx('u32', R1, 0, R2).mov(R0, 1).exit(), sysctlRead), vmError('invalid-context-access', /ctx->write.*instruction 1/));
  });
  it('file_pos takes only a 4-byte stx', () => {
    assert.throws(() => runAsm((a) => a.st('u32', R1, 4, 0).mov(R0, 1).exit(), sysctlRead), vmError('invalid-context-access', /BPF_ST/));
    assert.throws(() => runAsm((a) => a.mov(R2, 0).stx('u16', R1, 4, R2).mov(R0, 1).exit(), sysctlRead), vmError('invalid-context-access', /2-byte store/));
  });
  it('loads: aligned, within 8 bytes, at most 4 bytes', () => {
    assert.throws(() => runAsm((a) => a.ldx('u64', R0, R1, 0).exit(), sysctlRead), vmError('invalid-context-access'));
    assert.throws(() => runAsm((a) => a.ldx('u32', R0, R1, 8).exit(), sysctlRead), vmError('invalid-context-access', /offset 8/));
    assert.throws(() => runAsm((a) => a.ldx('u16', R0, R1, 1).exit(), sysctlRead), vmError('invalid-context-access'));
  });
  it('the context pointer must not be moved', () => {
    assert.throws(() => runAsm((a) => a.add(R1, 4).ldx('u32', R0, R1, 0).exit(), sysctlRead), vmError('invalid-context-access', /modified context pointer/));
  });
  it('atomics on the context are refused', () => {
    assert.throws(() => runAsm((a) => a.mov(R2, 1).atomic('add', 'u32', R1, 4, R2).mov(R0, 1).exit(), sysctlRead), vmError('invalid-context-access'));
  });
  it('a cgroup-sysctl program returns 0 or 1', () => {
    assert.throws(() => runAsm((a) => a.mov(R0, 2).exit(), sysctlRead), vmError('invalid-return', /returned 2/));
  });
  it('helpers that take memory refuse the context', () => {
    assert.throws(() => runAsm((a) => a.mov(R6, R1).mov(R2, R1).mov(R3, 8).call('sysctl_get_current_value').mov(R0, 1).exit(), sysctlRead), vmError('helper', /points at the context/));
  });
  it('a bytes context is plain memory, writable by default, and comes back in the result', () => {
    const r = runAsm((a) => a.ldx('u32', R0, R1, 0).add(R0, 1).stx('u32', R1, 4, R0).exit(), { ctx: { kind: 'bytes', bytes: Buffer.from([41, 0, 0, 0, 0, 0, 0, 0]) } });
    assert.equal(r.returnValue, 42n);
    assert.deepEqual([...r.ctxBytes!], [41, 0, 0, 0, 42, 0, 0, 0]);
    assert.throws(() => runAsm((a) => a.ldx('u32', R0, R1, 8).exit(), { ctx: { kind: 'bytes', bytes: Buffer.alloc(8) } }), vmError('out-of-bounds', /ctx\+8/));
    assert.throws(() => runAsm((a) => a.st('u8', R1, 0, 1).mov(R0, 0).exit(), { ctx: { kind: 'bytes', bytes: Buffer.alloc(8), writable: false } }), vmError('invalid-context-access', /read-only/));
  });
});

describe('VM: ring buffer records', () => {
  it('a record used after submit', () => {
    const rb = createVmRingBuf(4096, 'events');
    const prog = new Assembler()
      .ldMapFd(R1, rb).mov(R2, 8).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, 'out').mov(R6, R0)
      .mov(R1, R0).mov(R2, 0).call('ringbuf_submit').st('u64', R6, 0, 1)
      .label('out').mov(R0, 0).exit().assemble();
    assert.throws(() => runProgram(prog), vmError('invalid-pointer', /already submitted or discarded/));
  });
  it('a reservation never released', () => {
    const rb = createVmRingBuf(4096, 'events');
    const prog = new Assembler().ldMapFd(R1, rb).mov(R2, 8).mov(R3, 0).call('ringbuf_reserve').mov(R0, 0).exit().assemble();
    assert.throws(() => runProgram(prog), vmError('helper', /reserved at instruction 4 was neither submitted nor discarded/));
  });
  it('submitting a moved pointer, or twice', () => {
    const rb = createVmRingBuf(4096, 'events');
    const moved = new Assembler().ldMapFd(R1, rb).mov(R2, 8).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, 'out')
      .mov(R1, R0).add(R1, 8).mov(R2, 0).call('ringbuf_submit').label('out').mov(R0, 0).exit().assemble();
    assert.throws(() => runProgram(moved), vmError('helper', /moved/));
  });
});

describe('VM: the budget', () => {
  it('an endless loop stops with a clear error', () => {
    assert.throws(() => runAsm((a) => a.mov(R0, 0).label('l').add(R0, 1).ja('l'), { budget: 1000 }), vmError('budget-exceeded', /executed 1000 instructions without finishing/));
  });
  it('counts every executed instruction (a ld_imm64 once)', () => {
    const r = runAsm((a) => a.ldImm64(R0, 1n).mov(R1, 3).label('l').sub(R1, 1).jne(R1, 0, 'l').exit());
    assert.equal(r.instructionsExecuted, 1 + 1 + 3 * 2 + 1);
  });
  it('the default budget is a million instructions', () => {
    assert.throws(() => runAsm((a) => a.mov(R0, 0).label('l').ja('l')), vmError('budget-exceeded', /1000000/));
  });
});

describe('VM: programs refused before running', () => {
  const raw = (...insns: Instruction[]) => () => new VmProgram(insns);
  const exit: Instruction = { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
  it('an unknown opcode', () => {
    assert.throws(raw({ code: 0xff, dst: 0, src: 0, off: 0, imm: 0 }, exit), vmError('invalid-program', /instruction 0/));
  });
  it('a jump out of the program or into a ld_imm64', () => {
    assert.throws(raw({ code: 0x05, dst: 0, src: 0, off: 5, imm: 0 }, exit), vmError('invalid-program', /jump out of range to 6/));
    assert.throws(() => new VmProgram(new Assembler().ja('x').ldImm64(R0, 1n).label('x').exit().assemble().instructions.map((i, n) => (n === 0 ? { ...i, off: 1 } : i))), vmError('invalid-program', /middle of a ld_imm64/));
  });
  it('no exit at the end', () => {
    assert.throws(raw({ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }), vmError('invalid-program', /last instruction/));
  });
  it('division by a constant zero, shifts past the width, writes to r10', () => {
    assert.throws(raw({ code: 0x37, dst: 0, src: 0, off: 0, imm: 0 }, exit), vmError('invalid-program', /division by zero/));
    assert.throws(raw({ code: 0x67, dst: 0, src: 0, off: 0, imm: 64 }, exit), vmError('invalid-program', /invalid shift/));
    assert.throws(raw({ code: 0xb7, dst: 10, src: 0, off: 0, imm: 0 }, exit), vmError('invalid-program', /read-only/));
  });
  it('an unknown map fd', () => {
    const prog = new Assembler().ldMapFd(R1, { fd: 3 }).mov(R0, 0).exit().assemble();
    assert.throws(() => new VmProgram(prog), vmError('unknown-map', /map fd 3 is not one of the run's maps/));
    // ... unless a VM map is bound to it
    const map = createVmMap({ type: 'HASH', keySize: 4, valueSize: 4, maxEntries: 1 });
    assert.equal(new VmProgram(prog, { mapsByFd: new Map([[3, map]]) }).run().returnValue, 0n);
  });
  it('a helper the interpreter does not implement, unless given', () => {
    const prog = new Assembler().mov(R1, 0).call('get_socket_cookie').exit().assemble();
    assert.throws(() => new VmProgram(prog), vmError('helper', /bpf_get_socket_cookie#46 is not implemented/));
    assert.equal(runProgram(prog, { helpers: { get_socket_cookie: () => 77n } }).returnValue, 77n);
  });
});

describe('VM: trace', () => {
  it('records each executed instruction, the registers it changed and what it stored', () => {
    const r = runAsm((a) => a.mov(R0, 5).st('u64', R10, -8, 7).ldx('u64', R1, R10, -8).add(R0, R1).exit(), { trace: true });
    assert.deepEqual(r.trace!.map((s) => s.index), [0, 1, 2, 3, 4]);
    assert.deepEqual(r.trace![0]!.changes, [{ register: 0, value: '5' }]);
    assert.equal(r.trace![1]!.note, '*(u64 *)(fp-8) = 7');
    assert.equal(r.trace![3]!.text, '(0f) r0 += r1');
    const text = formatTrace(r.trace!);
    assert.match(text, /^ {3}0: \(b7\) r0 = 5 +; r0 = 5$/m);
    assert.match(text, /^ {3}3: \(0f\) r0 \+= r1 +; r0 = 12$/m);
  });
});
