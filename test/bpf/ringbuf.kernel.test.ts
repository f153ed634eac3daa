// Kernel tests: a program writes records to a ring buffer; the reader gets exactly those, in order,
// across many wrap-arounds, skips discarded ones, and wakes from epoll when records arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Assembler, R0, R1, R2, R3, R4, R6, R10 } from '../../src/bpf/asm/index.js';
import { BpfMap } from '../../src/bpf/map.js';
import { struct, u32, u64 } from '../../src/bpf/codec.js';
import { Program } from '../../src/bpf/prog.js';
import { RingBufReader, createRingBuf } from '../../src/bpf/ringbuf.js';
import { pageSize } from '../../src/bpf/sys/mmap.js';
import { kernel } from '../helpers/env.js';

/**
 * Each run: seq = counter[0]++ (atomic); output a record of 8..32 bytes starting with seq; on a
 * full buffer count the drop in counter[1].
 */
function outputProgram(counter: Counter, ring: BpfMap<null, Buffer>) {
  return new Assembler()
    .mov(R1, 0).stx('u32', R10, -4, R1)
    .ldMapFd(R1, counter).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .mov(R6, R0)
    .mov(R1, 1).atomicFetch('add', 'u64', R6, 0, R1)       // r1 = old counter = seq
    .stx('u64', R10, -40, R1)
    .st('u64', R10, -32, 0).st('u64', R10, -24, 0).st('u64', R10, -16, 0)
    .mov(R3, R1).and(R3, 3).add(R3, 1).lsh(R3, 3)             // size = ((seq & 3) + 1) * 8
    .ldMapFd(R1, ring).mov(R2, R10).add(R2, -40).mov(R4, 0).call('ringbuf_output')
    .jeq(R0, 0, 'out')
    .mov(R1, 1).atomic('add', 'u64', R6, 8, R1)              // counter[0] is 16 bytes: [seq, drops]
    .label('out')
    .mov(R0, 0).exit()
    .assemble();
}

/** Each run: reserve 16 bytes, write seq; discard when seq % 3 == 0, else submit. */
function reserveProgram(counter: Counter, ring: BpfMap<null, Buffer>) {
  return new Assembler()
    .mov(R1, 0).stx('u32', R10, -4, R1)
    .ldMapFd(R1, counter).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .mov(R1, 1).atomicFetch('add', 'u64', R0, 0, R1)
    .mov(R6, R1)
    .ldMapFd(R1, ring).mov(R2, 16).mov(R3, 0).call('ringbuf_reserve')
    .jeq(R0, 0, 'out')
    .stx('u64', R0, 0, R6)
    .mov(R1, R0).mov(R2, 0)
    .mod(R6, 3)
    .jeq(R6, 0, 'discard')
    .call('ringbuf_submit').ja('out')
    .label('discard').call('ringbuf_discard')
    .label('out')
    .mov(R0, 0).exit()
    .assemble();
}

/** counter[0]: { seq: runs so far, drops: records the ring buffer refused }. */
const counterMap = () => BpfMap.create({ type: 'ARRAY', key: u32, value: struct<{ seq: bigint; drops: bigint }>(16, { seq: { offset: 0, codec: u64 }, drops: { offset: 8, codec: u64 } }), maxEntries: 1 });
type Counter = ReturnType<typeof counterMap>;

test('kernel: ring buffer: exactly N records, in order, across wrap-around', kernel(), async () => {
  using counter = counterMap();
  using ring = createRingBuf(pageSize(), 'sw_test_rb');
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: outputProgram(counter, ring) });
  const reader = new RingBufReader(ring);
  try {
    const N = 2000;
    const got: Buffer[] = [];
    // Runs in batches small enough that the buffer never fills, draining between: ~20 wraps.
    for (let done = 0; done < N; done += 50) {
      prog.testRun({ repeat: 50 });
      reader.drain((r) => got.push(r));
    }
    assert.equal(got.length, N);
    got.forEach((r, i) => {
      assert.equal(r.length, ((i & 3) + 1) * 8, `record ${i} size`);
      assert.equal(r.readBigUInt64LE(0), BigInt(i), `record ${i} in order`);
    });
    assert.equal(reader.stats.records, N);
    assert.ok(reader.stats.bytes > 4 * pageSize(), 'wrapped several times');
  } finally { await reader.close(); }
});

test('kernel: ring buffer: a full buffer drops (counted by the program), never blocks', kernel(), async () => {
  using counter = counterMap();
  using ring = createRingBuf(pageSize(), 'sw_test_rb');
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: outputProgram(counter, ring) });
  const reader = new RingBufReader(ring);
  try {
    prog.testRun({ repeat: 1000 }); // ~28 KB of records into 4 KB
    let n = 0;
    reader.drain(() => n++);
    const { seq, drops } = counter.get(0)!;
    assert.equal(seq, 1000n);
    assert.ok(n > 0 && n < 1000, `delivered ${n}`);
    assert.equal(BigInt(n) + drops, 1000n, 'every record delivered or counted as dropped');
  } finally { await reader.close(); }
});

test('kernel: ring buffer: discarded records are skipped and counted', kernel(), async () => {
  using counter = counterMap();
  using ring = createRingBuf(pageSize() * 4);
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: reserveProgram(counter, ring) });
  const reader = new RingBufReader(ring);
  try {
    prog.testRun({ repeat: 30 });
    const seqs: bigint[] = [];
    reader.drain((r) => seqs.push(r.readBigUInt64LE(0)));
    assert.deepEqual(seqs, Array.from({ length: 30 }, (_, i) => BigInt(i)).filter((i) => i % 3n !== 0n));
    assert.equal(reader.stats.discarded, 10);
  } finally { await reader.close(); }
});

test('kernel: ring buffer: the reader sleeps in epoll and wakes when records arrive', kernel(), async () => {
  using counter = counterMap();
  using ring = createRingBuf(pageSize() * 4);
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: outputProgram(counter, ring) });
  const reader = new RingBufReader(ring);
  const seen: bigint[] = [];
  const consuming = reader.consume((r) => { seen.push(r.readBigUInt64LE(0)); });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 0);
  prog.testRun({ repeat: 5 });
  for (let i = 0; i < 100 && seen.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, [0n, 1n, 2n, 3n, 4n]);
  await reader.close();
  await consuming;
});

test('kernel: ring buffer: async iteration ends when the reader closes', kernel(), async () => {
  using counter = counterMap();
  using ring = createRingBuf(pageSize() * 4);
  using prog = Program.load({ type: 'SOCKET_FILTER', instructions: outputProgram(counter, ring) });
  const reader = new RingBufReader(ring);
  prog.testRun({ repeat: 3 });
  const seen: number[] = [];
  for await (const r of reader) {
    seen.push(Number(r.readBigUInt64LE(0)));
    if (seen.length === 3) setTimeout(() => { void reader.close(); }, 20);
  }
  assert.deepEqual(seen, [0, 1, 2]);
});

test('ring buffer size must be a power of two of at least a page', () => {
  assert.throws(() => createRingBuf(5000), /must be a power of two of at least the page size/);
});
