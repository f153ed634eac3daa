// Kernel tests: every map type round trip, batch operations, LPM longest-prefix lookups, pinning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../src/bpf/map.js';
import { bytes, cstring, lpmKey, none, struct, u32, u64 } from '../../src/bpf/codec.js';
import { possibleCpuCount } from '../../src/bpf/cpus.js';
import { ensureBpffs, DEFAULT_BPFFS } from '../../src/bpf/pin.js';
import { SysError } from '../../src/bpf/sys/errors.js';
import { kernel } from '../helpers/env.js';

test('kernel: hash map set / get / delete / iterate', kernel(), () => {
  using m = BpfMap.create({ type: 'HASH', key: u32, value: u64, maxEntries: 16, name: 'test_hash' });
  for (let i = 0; i < 10; i++) m.set(i, BigInt(i * i));
  assert.equal(m.get(3), 9n);
  assert.equal(m.get(99), undefined);
  assert.equal(m.delete(3), true);
  assert.equal(m.delete(3), false);
  assert.deepEqual([...m.keys()].sort((a, b) => a - b), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.equal(new Map(m.entries()).get(9), 81n);
  assert.equal(m.info().name, 'test_hash');
  assert.equal(m.info().typeName, 'HASH');
  assert.throws(() => m.set(1, 1n, 1 /* NOEXIST */), (e: unknown) => e instanceof SysError && e.code === 'EEXIST');
});

test('kernel: a full hash map says so', kernel(), () => {
  using m = BpfMap.create({ type: 'HASH', key: u32, value: u32, maxEntries: 2 });
  m.set(1, 1).set(2, 2);
  assert.throws(() => m.set(3, 3), /E2BIG updating a map element: .*map is full/);
});

test('kernel: array map has every index and refuses delete', kernel(), () => {
  using m = BpfMap.create({ type: 'ARRAY', key: u32, value: struct<{ a: number; name: string }>(16, { a: { offset: 0, codec: u32 }, name: { offset: 4, codec: cstring(12) } }), maxEntries: 4 });
  assert.deepEqual(m.get(2), { a: 0, name: '' });
  m.set(2, { a: 7, name: 'seven' });
  assert.deepEqual(m.get(2), { a: 7, name: 'seven' });
  assert.equal(m.get(4), undefined);
  assert.throws(() => m.delete(1), (e: unknown) => e instanceof SysError && e.code === 'EINVAL');
});

test('kernel: per-CPU hash and array give one value per possible CPU', kernel(), () => {
  const n = possibleCpuCount();
  for (const type of ['PERCPU_HASH', 'PERCPU_ARRAY'] as const) {
    using m = BpfMap.create({ type, key: u32, value: u32, maxEntries: 4 });
    const vals = Array.from({ length: n }, (_, i) => 100 + i);
    m.set(1, vals);
    assert.deepEqual(m.get(1), vals);
    assert.throws(() => m.set(1, [1]), /one per possible CPU/);
  }
});

test('kernel: LPM trie finds the longest prefix', kernel(), () => {
  using m = BpfMap.create({ type: 'LPM_TRIE', key: lpmKey(4), value: u32, maxEntries: 16 });
  const ip = (s: string) => Buffer.from(s.split('.').map(Number));
  m.set({ prefixLen: 8, data: ip('10.0.0.0') }, 8);
  m.set({ prefixLen: 16, data: ip('10.1.0.0') }, 16);
  m.set({ prefixLen: 24, data: ip('10.1.2.0') }, 24);
  assert.equal(m.get({ prefixLen: 32, data: ip('10.1.2.3') }), 24);
  assert.equal(m.get({ prefixLen: 32, data: ip('10.1.9.9') }), 16);
  assert.equal(m.get({ prefixLen: 32, data: ip('10.9.9.9') }), 8);
  assert.equal(m.get({ prefixLen: 32, data: ip('11.0.0.1') }), undefined);
  assert.equal([...m.keys()].length, 3);
});

test('kernel: queue pushes and pops in order', kernel(), () => {
  using q = BpfMap.create({ type: 'QUEUE', key: none, value: u32, maxEntries: 4 });
  q.push(1); q.push(2); q.push(3);
  assert.equal(q.peek(), 1);
  assert.deepEqual([q.pop(), q.pop(), q.pop(), q.pop()], [1, 2, 3, undefined]);
});

test('kernel: batch update, lookup, lookup-and-delete, delete', kernel(), () => {
  using m = BpfMap.create({ type: 'HASH', key: u32, value: u32, maxEntries: 2000 });
  const entries = Array.from({ length: 1500 }, (_, i) => [i, i * 2] as const);
  assert.equal(m.updateBatch(entries), 1500);
  const got = m.lookupBatch(100);
  assert.equal(got.length, 1500);
  assert.deepEqual(new Map(got).get(777), 1554);
  assert.equal(m.deleteBatch([0, 1, 2]), 3);
  const taken = m.lookupAndDeleteBatch(64);
  assert.equal(taken.length, 1497);
  assert.equal([...m.keys()].length, 0);

  using a = BpfMap.create({ type: 'ARRAY', key: u32, value: u64, maxEntries: 300 });
  a.updateBatch(Array.from({ length: 300 }, (_, i) => [i, BigInt(i)] as const));
  assert.deepEqual(a.lookupBatch(64).map(([, v]) => v).slice(295), [295n, 296n, 297n, 298n, 299n]);
});

test('kernel: freeze makes a map read-only for user space', kernel(), () => {
  using m = BpfMap.create({ type: 'ARRAY', key: u32, value: u32, maxEntries: 1 });
  m.set(0, 5);
  m.freeze();
  assert.equal(m.get(0), 5);
  assert.throws(() => m.set(0, 6), (e: unknown) => e instanceof SysError && e.code === 'EPERM');
});

test('kernel: pin and open pinned; codecs are checked against the map', kernel(), () => {
  ensureBpffs();
  const dir = mkdtempSync(join(DEFAULT_BPFFS, 'sysward-test-'));
  try {
    const path = join(dir, 'm');
    {
      using m = BpfMap.create({ type: 'HASH', key: u32, value: bytes(8), maxEntries: 4 });
      m.set(1, Buffer.from('pinned'));
      m.pin(path);
    }
    using again = BpfMap.openPinned(path, u32, bytes(8));
    assert.equal(again.get(1)!.subarray(0, 6).toString(), 'pinned');
    assert.throws(() => BpfMap.openPinned(path, u64, bytes(8)), /has 4-byte keys and 8-byte values; the codecs given are 8 and 8 bytes/);
    assert.throws(() => BpfMap.openPinned(join(dir, 'absent'), u32, u32), /ENOENT opening pinned .*nothing is pinned there/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
