// Kernel cross-check of the interpreter: the same programs run in the kernel (SOCKET_FILTER, via
// BPF_PROG_TEST_RUN) and in the VM give the same return value; the same map operations give the
// same results and errors; a ring buffer fills up at the same record. Needs root.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Assembler, R0, R1, R2, R3, R4, R10, type AssembledProgram } from '../../../src/bpf/asm/index.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { bytes } from '../../../src/bpf/codec.js';
import { Program, VerifierError } from '../../../src/bpf/prog.js';
import { createRingBuf } from '../../../src/bpf/ringbuf.js';
import { mapGetNextKey } from '../../../src/bpf/sys/index.js';
import { VmMapError, createVmMap, createVmRingBuf, runProgram, type VmMap, type VmMapType } from '../../../src/bpf/vm/index.js';
import { kernel } from '../../helpers/env.js';
import { ALU32_CASES, ALU64_CASES, ATOMIC_CASES, JMP_CASES, STRTO_CASES, jumpProgram, strtoProgram } from './cases.js';

/** Socket filters return a u32: fold r0's halves so every bit of a 64-bit result is compared. */
const fold = (a: Assembler): Assembler => a.mov(R1, R0).rsh(R1, 32).xor(R0, R1).exit();

function inKernel(prog: AssembledProgram): number {
  const p = Program.load({ type: 'SOCKET_FILTER', instructions: prog });
  try { return p.testRun().retval >>> 0; } finally { p.close(); }
}

function inVm(prog: AssembledProgram, mapsByFd?: Map<number, VmMap>): number {
  return Number(runProgram(prog, mapsByFd ? { mapsByFd } : {}).returnValue & 0xffff_ffffn);
}

test('kernel: ALU, JMP and atomic programs return what the kernel returns', kernel(), () => {
  const cases: [string, AssembledProgram][] = [
    ...[...ALU64_CASES, ...ALU32_CASES, ...ATOMIC_CASES].map(([name, build]) => [name, fold(build(new Assembler())).assemble()] as [string, AssembledProgram]),
    ...JMP_CASES.map(([name, a, op, b]) => [name, jumpProgram(new Assembler(), a, op, b).assemble()] as [string, AssembledProgram]),
    ['bpf-to-bpf call', fold(new Assembler().mov(R1, 21).callLocal('f').add(R0, 1)).label('f').mov(R0, R1).mul(R0, 2).exit().assemble()],
  ];
  const mismatches: string[] = [];
  for (const [name, prog] of cases) {
    const k = inKernel(prog), v = inVm(prog);
    if (k !== v) mismatches.push(`${name}: kernel ${k}, vm ${v}`);
  }
  assert.deepEqual(mismatches, []);
  assert.ok(cases.length > 90);
});

test('kernel: strtol / strtoul give the kernel\'s results and *res', kernel(), (t) => {
  try {
    inKernel(strtoProgram('1', 0, 'strtol', 'ret'));
  } catch (e) {
    if (e instanceof VerifierError) { t.skip(`this kernel has no strtol for socket filters: ${e.summary}`); return; }
    throw e;
  }
  const mismatches: string[] = [];
  for (const [text, flags, helper] of STRTO_CASES) {
    for (const output of ['ret', 'res'] as const) {
      const prog = strtoProgram(text, flags, helper, output);
      const k = inKernel(fold(new Assembler().raw(...prog.instructions.slice(0, -1))).assemble());
      const v = inVm(fold(new Assembler().raw(...prog.instructions.slice(0, -1))).assemble());
      if (k !== v) mismatches.push(`${helper}(${JSON.stringify(text)}, ${flags}) ${output}: kernel ${k}, vm ${v}`);
    }
  }
  assert.deepEqual(mismatches, []);
});

/** The outcome of a map operation, comparable between the kernel and the VM. */
function outcome(f: () => unknown): string {
  try {
    const r = f();
    if (r === undefined) return 'absent';
    if (Buffer.isBuffer(r)) return `value ${r.toString('hex')}`;
    return String(r);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === undefined) throw e;
    return `error ${code}`;
  }
}

type Op = [op: 'update', key: Buffer, value: Buffer, flags: number] | [op: 'lookup' | 'delete', key: Buffer] | [op: 'next', key: Buffer | null];

function compareMaps(type: VmMapType, keySize: number, valueSize: number, maxEntries: number, ops: Op[]): void {
  using k = BpfMap.create({ type: type as 'HASH', key: bytes(keySize), value: bytes(valueSize), maxEntries });
  const v = createVmMap({ type, keySize, valueSize, maxEntries });
  const results = ops.map((op) => {
    const run = (m: { update: (k: Buffer, v: Buffer, f: number) => void; lookup: (k: Buffer) => Buffer | undefined; delete: (k: Buffer) => boolean; next: (k: Buffer | null) => Buffer | undefined }) => {
      switch (op[0]) {
        case 'update': return outcome(() => m.update(op[1], op[2], op[3]));
        case 'lookup': return outcome(() => m.lookup(op[1]));
        case 'delete': return outcome(() => m.delete(op[1]));
        default: return outcome(() => m.next(op[1]));
      }
    };
    const inK = run({ update: (key, val, f) => { k.set(key, val, f); }, lookup: (key) => k.get(key), delete: (key) => k.delete(key), next: (key) => nextKernelKey(k, key, keySize) });
    const inV = run({ update: (key, val, f) => v.update(key, val, f), lookup: (key) => v.lookup(key), delete: (key) => v.delete(key), next: (key) => v.nextKey(key) });
    return { op: `${op[0]} ${op.slice(1).map((x) => (Buffer.isBuffer(x) ? x.toString('hex') : String(x))).join(' ')}`, kernel: inK, vm: inV };
  });
  assert.deepEqual(results.filter((r) => r.kernel !== r.vm), []);
}

/** BPF_MAP_GET_NEXT_KEY itself (BpfMap only offers the whole walk). */
function nextKernelKey(m: BpfMap<Buffer, Buffer>, key: Buffer | null, keySize: number): Buffer | undefined {
  const next = Buffer.alloc(keySize);
  return mapGetNextKey(m.handle, key, next) ? next : undefined;
}

const k32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const v64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const lpm = (len: number, ...d: number[]) => { const b = Buffer.alloc(8); b.writeUInt32LE(len); Buffer.from(d).copy(b, 4); return b; };

test('kernel: map operations give the kernel\'s results and errors', kernel(), () => {
  compareMaps('HASH', 4, 8, 2, [
    ['lookup', k32(1)], ['update', k32(1), v64(1), 2], ['update', k32(1), v64(1), 0], ['update', k32(1), v64(2), 1],
    ['update', k32(2), v64(2), 0], ['update', k32(3), v64(3), 0], ['update', k32(2), v64(5), 0], ['update', k32(2), v64(6), 2],
    ['update', k32(2), v64(6), 3], ['update', k32(2), v64(6), 4], ['update', k32(2), v64(6), 6], ['lookup', k32(2)], ['delete', k32(9)], ['delete', k32(1)], ['update', k32(3), v64(3), 1],
  ]);
  compareMaps('ARRAY', 4, 8, 3, [
    ['lookup', k32(2)], ['lookup', k32(3)], ['update', k32(1), v64(7), 0], ['update', k32(1), v64(7), 1], ['update', k32(3), v64(7), 0],
    ['update', k32(0), v64(7), 2], ['update', k32(0), v64(7), 5], ['delete', k32(0)], ['next', null], ['next', k32(1)], ['next', k32(2)], ['next', k32(7)],
  ]);
  compareMaps('LPM_TRIE', 8, 8, 3, [
    ['update', lpm(16, 192, 168), v64(16), 0], ['update', lpm(24, 192, 168, 1, 77), v64(24), 0], ['update', lpm(24, 192, 168, 1), v64(25), 1],
    ['update', lpm(8, 10), v64(8), 2], ['update', lpm(33, 1), v64(1), 0], ['update', lpm(8, 10), v64(8), 4],
    ['lookup', lpm(32, 192, 168, 1, 5)], ['lookup', lpm(32, 192, 168, 2, 5)], ['lookup', lpm(20, 192, 168, 1, 5)], ['lookup', lpm(32, 10, 0, 0, 1)],
    ['update', lpm(24, 192, 168, 128), v64(3), 0], ['update', lpm(24, 192, 168, 0), v64(4), 0],
    ['next', null], ['next', lpm(24, 192, 168, 1)], ['next', lpm(24, 192, 168, 128)], ['next', lpm(16, 192, 168)],
    ['delete', lpm(24, 192, 168, 9)], ['delete', lpm(40)], ['delete', lpm(24, 192, 168, 1, 200)], ['lookup', lpm(32, 192, 168, 1, 5)],
  ]);
});

test('kernel: queue maps push, pop and overflow as the kernel does', kernel(), () => {
  using k = BpfMap.create({ type: 'QUEUE', key: bytes(0) as never, value: bytes(4), maxEntries: 2 });
  const v = createVmMap({ type: 'QUEUE', keySize: 0, valueSize: 4, maxEntries: 2 });
  const steps: [string, () => unknown, () => unknown][] = [
    ['push 1', () => k.push(k32(1)), () => v.update(null, k32(1))],
    ['push 2', () => k.push(k32(2)), () => v.update(null, k32(2))],
    ['push 3 (full)', () => k.push(k32(3)), () => v.update(null, k32(3))],
    ['push 3 EXIST', () => k.push(k32(3), 2), () => v.update(null, k32(3), 2)],
    ['push NOEXIST', () => k.push(k32(4), 1), () => v.update(null, k32(4), 1)],
    ['peek', () => k.peek(), () => v.lookup(null)],
    ['pop', () => k.pop(), () => v.lookupAndDelete(null)],
    ['pop', () => k.pop(), () => v.lookupAndDelete(null)],
    ['pop (empty)', () => k.pop(), () => v.lookupAndDelete(null)],
  ];
  const diff = steps.map(([name, kf, vf]) => ({ name, kernel: outcome(kf), vm: outcome(vf) })).filter((d) => d.kernel !== d.vm);
  assert.deepEqual(diff, []);
  assert.ok(VmMapError);
});

test('kernel: a ring buffer refuses the same record the kernel refuses', kernel(), () => {
  // ringbuf_output of 8 bytes until it fails: the count of accepted records and the error match.
  using ring = createRingBuf(4096);
  const vmRing = createVmRingBuf(4096);
  const output = new Assembler().st('u64', R10, -8, 7).ldMapFd(R1, ring).mov(R2, R10).add(R2, -8).mov(R3, 8).mov(R4, 0).call('ringbuf_output').exit().assemble();
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: output });
  const fill = (run: () => number) => { let n = 0; let r = 0; while ((r = run()) === 0 && n < 10_000) n++; return [n, r]; };
  assert.deepEqual(fill(() => inVm(output, new Map([[ring.fd, vmRing]]))), fill(() => prog.testRun().retval >>> 0));

  // reserve: the largest record a fresh 4096-byte buffer takes.
  for (const size of [4079, 4080, 4081, 4087, 4088]) {
    using r = createRingBuf(4096);
    const reserve = new Assembler().ldMapFd(R1, r).mov(R2, size).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, 'out')
      .mov(R1, R0).mov(R2, 0).call('ringbuf_discard').mov(R0, 1).exit().label('out').mov(R0, 0).exit().assemble();
    assert.equal(inVm(reserve, new Map([[r.fd, createVmRingBuf(4096)]])), inKernel(reserve), `reserve(${size})`);
  }
});
