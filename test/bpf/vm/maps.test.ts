// The interpreter's maps: the kernel's semantics for every type, from user space (errors as bpf(2)
// gives them) and from programs (helpers' return codes), with looked-up values as live memory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Assembler, R0, R1, R2, R3, R4, R6, R7, R10 } from '../../../src/bpf/asm/index.js';
import { lpmKey, none, u32, u64 } from '../../../src/bpf/codec.js';
import {
  Errno, VmMap, VmMapError, VmMapUpdate, VmProgram, VmRingBuf, createVmMap, createVmRingBuf, runProgram,
  type ErrnoName, type VmLpmTrie,
} from '../../../src/bpf/vm/index.js';
import { u } from './helpers.js';

const k32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const v64 = (n: bigint | number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const mapError = (code: ErrnoName) => (e: unknown) => {
  assert.ok(e instanceof VmMapError, String(e));
  assert.equal(e.code, code, e.message);
  assert.equal(e.errno, Errno[code]);
  return true;
};

/** A program: key (u32) at fp-4, value (u64) at fp-16, map_update_elem(map, key, value, flags); r0 = result. */
function updateFromProgram(map: VmMap, key: number, value: bigint, flags: number): bigint {
  return runProgram(new Assembler()
    .st('u32', R10, -4, key).ldImm64(R1, value).stx('u64', R10, -16, R1)
    .ldMapFd(R1, map).mov(R2, R10).add(R2, -4).mov(R3, R10).add(R3, -16).mov(R4, flags).call('map_update_elem')
    .exit().assemble()).returnValue;
}

describe('VM maps: HASH', () => {
  it('update, lookup, delete, with the kernel\'s errors', () => {
    const m = createVmMap({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 2, name: 'h' });
    assert.equal(m.lookup(k32(1)), undefined);
    m.update(k32(1), v64(10));
    assert.equal(m.lookup(k32(1))!.readBigUInt64LE(0), 10n);
    assert.throws(() => m.update(k32(1), v64(11), VmMapUpdate.NOEXIST), mapError('EEXIST'));
    assert.throws(() => m.update(k32(2), v64(11), VmMapUpdate.EXIST), mapError('ENOENT'));
    assert.throws(() => m.update(k32(2), v64(11), 3), mapError('EINVAL'));
    assert.throws(() => m.update(k32(2), v64(11), VmMapUpdate.F_LOCK), mapError('EINVAL'));
    m.update(k32(2), v64(20));
    assert.throws(() => m.update(k32(3), v64(30)), mapError('E2BIG'));
    m.update(k32(2), v64(21)); // replacing works when full
    m.update(k32(1), v64(12), VmMapUpdate.EXIST);
    assert.equal(m.size, 2);
    assert.equal(m.delete(k32(3)), false);
    assert.equal(m.delete(k32(1)), true);
    assert.equal(m.lookupAndDelete(k32(2))!.readBigUInt64LE(0), 21n);
    assert.equal(m.size, 0);
    assert.throws(() => m.update(k32(1), Buffer.alloc(4)), RangeError);
  });

  it('nextKey walks every key; an absent key restarts at the first', () => {
    const m = createVmMap({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 8 });
    for (const k of [5, 3, 9]) m.update(k32(k), v64(k));
    assert.deepEqual([...m.keys()].map((k) => k.readUInt32LE(0)), [5, 3, 9]);
    assert.equal(m.nextKey(null)!.readUInt32LE(0), 5);
    assert.equal(m.nextKey(k32(3))!.readUInt32LE(0), 9);
    assert.equal(m.nextKey(k32(9)), undefined);
    assert.equal(m.nextKey(k32(77))!.readUInt32LE(0), 5);
  });

  it('from a program: update / lookup / delete return the kernel\'s codes', () => {
    const m = createVmMap({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 1, name: 'h' });
    assert.equal(updateFromProgram(m, 1, 5n, VmMapUpdate.EXIST), u(-Errno.ENOENT));
    assert.equal(updateFromProgram(m, 1, 5n, VmMapUpdate.ANY), 0n);
    assert.equal(updateFromProgram(m, 1, 6n, VmMapUpdate.NOEXIST), u(-Errno.EEXIST));
    assert.equal(updateFromProgram(m, 2, 6n, VmMapUpdate.ANY), u(-Errno.E2BIG));
    assert.equal(updateFromProgram(m, 2, 6n, 7), u(-Errno.EINVAL));
    const del = (key: number) => runProgram(new Assembler().st('u32', R10, -4, key).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_delete_elem').exit().assemble()).returnValue;
    assert.equal(del(2), u(-Errno.ENOENT));
    assert.equal(del(1), 0n);
    assert.equal(m.size, 0);
  });

  it('the key passed to a helper must be initialised memory of the key size', () => {
    const m = createVmMap({ type: 'HASH', keySize: 8, valueSize: 8, maxEntries: 1, name: 'h' });
    assert.throws(() => runProgram(new Assembler().st('u32', R10, -4, 1).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_lookup_elem').mov(R0, 0).exit().assemble()), /out of bounds/);
    assert.throws(() => runProgram(new Assembler().st('u32', R10, -8, 1).ldMapFd(R1, m).mov(R2, R10).add(R2, -8).call('map_lookup_elem').mov(R0, 0).exit().assemble()), /never written/);
  });

  it('a typed view behaves as BpfMap does', () => {
    const m = VmMap.create({ type: 'HASH', key: u32, value: u64, maxEntries: 4, name: 'typed' });
    m.set(1, 10n).set(2, 20n);
    assert.equal(m.get(1), 10n);
    assert.equal(m.has(3), false);
    assert.deepEqual([...m], [[1, 10n], [2, 20n]]);
    assert.equal(m.updateBatch([[3, 30n]]), 1);
    assert.equal(m.take(3), 30n);
    assert.equal(m.delete(3), false);
    assert.deepEqual(m.lookupBatch(), [[1, 10n], [2, 20n]]);
    assert.equal(m.deleteBatch([1, 2]), 2);
    assert.throws(() => VmMap.create({ type: 'HASH', key: u32, value: u64, maxEntries: 0 }), mapError('EINVAL'));
  });
});

describe('VM maps: ARRAY', () => {
  it('every element exists, zeroed; the kernel\'s errors', () => {
    const m = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 3, name: 'a' });
    assert.equal(m.lookup(k32(2))!.readBigUInt64LE(0), 0n);
    assert.equal(m.lookup(k32(3)), undefined);
    m.update(k32(1), v64(7), VmMapUpdate.EXIST);
    assert.throws(() => m.update(k32(1), v64(7), VmMapUpdate.NOEXIST), mapError('EEXIST'));
    assert.throws(() => m.update(k32(3), v64(7)), mapError('E2BIG'));
    assert.throws(() => m.update(k32(1), v64(7), 3), mapError('EINVAL'));
    assert.throws(() => m.delete(k32(1)), mapError('EINVAL'));
    assert.deepEqual([...m.keys()].map((k) => k.readUInt32LE(0)), [0, 1, 2]);
    assert.equal(m.nextKey(k32(99))!.readUInt32LE(0), 0);
    assert.throws(() => createVmMap({ type: 'ARRAY', keySize: 8, valueSize: 8, maxEntries: 1 }), mapError('EINVAL'));
  });

  it('from a program: out of range is NULL / -E2BIG, NOEXIST -EEXIST', () => {
    const m = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 2, name: 'a' });
    assert.equal(updateFromProgram(m, 1, 9n, VmMapUpdate.ANY), 0n);
    assert.equal(updateFromProgram(m, 2, 9n, VmMapUpdate.ANY), u(-Errno.E2BIG));
    assert.equal(updateFromProgram(m, 0, 9n, VmMapUpdate.NOEXIST), u(-Errno.EEXIST));
    assert.equal(m.lookup(k32(1))!.readBigUInt64LE(0), 9n);
  });

  it('ld_imm64 of a map value (single-element arrays) is live memory', () => {
    const m = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 16, maxEntries: 1, name: 'global' });
    runProgram(new Assembler().ldMapValue(R1, m, 8).st('u64', R1, 0, 99).mov(R0, 0).exit().assemble());
    assert.equal(m.lookup(k32(0))!.readBigUInt64LE(8), 99n);
    const big = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 16, maxEntries: 2, name: 'two' });
    assert.throws(() => runProgram(new Assembler().ldMapValue(R1, big, 0).mov(R0, 0).exit().assemble()), /maxEntries 1/);
  });
});

describe('VM maps: per-CPU', () => {
  it('PERCPU_ARRAY: a program writes its CPU\'s value; user space sees every CPU, 8-byte aligned', () => {
    const m = createVmMap({ type: 'PERCPU_ARRAY', keySize: 4, valueSize: 4, maxEntries: 1, cpus: 2, name: 'pc' });
    const bump = new Assembler().st('u32', R10, -4, 0).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
      .jeq(R0, 0, 'out').mov(R1, 1).atomic('add', 'u32', R0, 0, R1).label('out').mov(R0, 0).exit().assemble();
    const vm = new VmProgram(bump);
    vm.run({ cpu: 1 });
    vm.run({ cpu: 1 });
    vm.run({ cpu: 0 });
    const v = m.lookup(k32(0))!;
    assert.equal(v.length, 16);
    assert.equal(v.readUInt32LE(0), 1);
    assert.equal(v.readUInt32LE(8), 2);
    assert.throws(() => vm.run({ cpu: 2 }), /CPU 2/);
    const typed = VmMap.create({ type: 'PERCPU_ARRAY', key: u32, value: u32, maxEntries: 1, cpus: 3 });
    typed.set(0, [1, 2, 3]);
    assert.deepEqual(typed.get(0), [1, 2, 3]);
  });

  it('ARRAY and HASH made for several CPUs: one value, shared by programs on every CPU', () => {
    for (const type of ['ARRAY', 'HASH'] as const) {
      const m = createVmMap({ type, keySize: 4, valueSize: 4, maxEntries: 1, cpus: 2, name: 'shared' });
      m.update(k32(0), Buffer.alloc(4));
      const bump = new Assembler().st('u32', R10, -4, 0).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
        .jeq(R0, 0, 'out').mov(R1, 1).atomic('add', 'u32', R0, 0, R1).label('out').mov(R0, 0).exit().assemble();
      const vm = new VmProgram(bump);
      vm.run({ cpu: 1 });
      vm.run({ cpu: 0 });
      assert.equal(m.lookup(k32(0))!.readUInt32LE(0), 2, type);
      assert.equal(m.lookup(k32(0))!.length, 4, `${type}: one value, not one per CPU`);
    }
  });

  it('PERCPU_HASH: a new element from a program holds zeros on the other CPUs', () => {
    const m = VmMap.create({ type: 'PERCPU_HASH', key: u32, value: u64, maxEntries: 4, cpus: 2 });
    m.set(1, [5n, 6n]);
    assert.equal(updateFromProgram(m.map, 2, 7n, VmMapUpdate.ANY), 0n);
    assert.deepEqual(m.get(2), [7n, 0n]);
    assert.equal(updateFromProgram(m.map, 1, 8n, VmMapUpdate.ANY), 0n);
    assert.deepEqual(m.get(1), [8n, 6n]);
    // map_lookup_percpu_elem reads another CPU's value
    const r = runProgram(new Assembler().st('u32', R10, -4, 1).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).mov(R3, 1)
      .call('map_lookup_percpu_elem').jeq(R0, 0, 'out').ldx('u64', R0, R0, 0).label('out').exit().assemble());
    assert.equal(r.returnValue, 6n);
  });
});

describe('VM maps: LPM_TRIE', () => {
  const key = (prefixLen: number, ...data: number[]) => { const b = Buffer.alloc(8); b.writeUInt32LE(prefixLen); Buffer.from(data).copy(b, 4); return b; };

  it('longest prefix match, bit by bit', () => {
    const m = createVmMap({ type: 'LPM_TRIE', keySize: 8, valueSize: 8, maxEntries: 8, name: 'lpm' });
    m.update(key(8, 10), v64(8));
    m.update(key(16, 10, 1), v64(16));
    m.update(key(20, 10, 1, 0xf0), v64(20));
    m.update(key(0), v64(0));
    const look = (...k: Parameters<typeof key>) => m.lookup(key(...k))?.readBigUInt64LE(0);
    assert.equal(look(32, 10, 1, 0xf1, 7), 20n);
    assert.equal(look(32, 10, 1, 0xe1, 7), 16n);
    assert.equal(look(32, 10, 2, 0, 0), 8n);
    assert.equal(look(32, 11, 0, 0, 0), 0n);
    // the key's own prefix length caps the match
    assert.equal(look(12, 10, 1, 0xf1, 7), 8n);
  });

  it('exact updates and deletes; the kernel\'s errors', () => {
    const m = createVmMap({ type: 'LPM_TRIE', keySize: 8, valueSize: 8, maxEntries: 2, name: 'lpm' }) as VmLpmTrie;
    assert.equal(m.maxPrefixLen, 32);
    m.update(key(24, 192, 168, 1, 99), v64(1)); // bits past the prefix do not matter
    assert.throws(() => m.update(key(24, 192, 168, 1, 0), v64(2), VmMapUpdate.NOEXIST), mapError('EEXIST'));
    m.update(key(24, 192, 168, 1, 0), v64(2), VmMapUpdate.EXIST);
    assert.equal(m.size, 1);
    assert.throws(() => m.update(key(16, 192, 168), v64(3), VmMapUpdate.EXIST), mapError('ENOENT'));
    assert.throws(() => m.update(key(33, 1), v64(3)), mapError('EINVAL'));
    assert.throws(() => m.update(key(8, 1), v64(3), 4), mapError('EINVAL'));
    m.update(key(16, 192, 168), v64(3));
    assert.throws(() => m.update(key(8, 10), v64(4)), mapError('ENOSPC'));
    assert.equal(m.delete(key(8, 10)), false);
    assert.equal(m.delete(key(16, 192, 168, 55)), true);
    assert.throws(() => m.delete(key(40)), mapError('EINVAL'));
    assert.throws(() => createVmMap({ type: 'LPM_TRIE', keySize: 8, valueSize: 8, maxEntries: 2, flags: 0 }), mapError('EINVAL'));
  });

  it('nextKey is the kernel\'s post-order: more specific prefixes before the ones that cover them', () => {
    const m = VmMap.create({ type: 'LPM_TRIE', key: lpmKey(4), value: u32, maxEntries: 8 });
    const p = (len: number, ...d: number[]) => ({ prefixLen: len, data: Buffer.from(d) });
    m.set(p(16, 192, 168), 1);
    m.set(p(24, 192, 168, 128), 2);
    m.set(p(24, 192, 168, 0), 3);
    m.set(p(24, 192, 168, 1), 4);
    assert.deepEqual([...m.keys()].map((k) => `${[...k.data].slice(0, k.prefixLen / 8).join('.')}/${k.prefixLen}`),
      ['192.168.0/24', '192.168.1/24', '192.168.128/24', '192.168/16']);
    assert.equal(m.get(p(32, 192, 168, 1, 1)), 4);
  });

  it('from a program: lookup returns the longest match\'s live value', () => {
    const m = createVmMap({ type: 'LPM_TRIE', keySize: 8, valueSize: 8, maxEntries: 4, name: 'lpm' });
    m.update(key(8, 10), v64(1));
    const r = runProgram(new Assembler()
      .st('u32', R10, -8, 32).st('u32', R10, -4, 0x0302010a) // 10.1.2.3/32
      .ldMapFd(R1, m).mov(R2, R10).add(R2, -8).call('map_lookup_elem').jeq(R0, 0, 'miss')
      .mov(R1, 5).atomic('add', 'u64', R0, 0, R1).ldx('u64', R0, R0, 0).exit()
      .label('miss').mov(R0, 0).exit().assemble());
    assert.equal(r.returnValue, 6n);
    assert.equal(m.lookup(key(8, 10))!.readBigUInt64LE(0), 6n);
  });
});

describe('VM maps: QUEUE and STACK', () => {
  it('QUEUE is FIFO; full is E2BIG unless EXIST overwrites the oldest', () => {
    const q = VmMap.create({ type: 'QUEUE', key: none, value: u32, maxEntries: 2 });
    q.push(1);
    q.push(2);
    assert.throws(() => q.push(3), mapError('E2BIG'));
    q.push(3, VmMapUpdate.EXIST);
    assert.equal(q.peek(), 2);
    assert.equal(q.pop(), 2);
    assert.equal(q.pop(), 3);
    assert.equal(q.pop(), undefined);
    assert.throws(() => q.push(4, VmMapUpdate.NOEXIST), mapError('EINVAL'));
    assert.throws(() => q.map.delete(null), mapError('EINVAL'));
    assert.throws(() => q.map.nextKey(null), mapError('EINVAL'));
  });

  it('STACK is LIFO', () => {
    const s = createVmMap({ type: 'STACK', keySize: 0, valueSize: 4, maxEntries: 4 });
    for (const n of [1, 2, 3]) s.update(null, k32(n));
    assert.deepEqual([s.lookupAndDelete(null), s.lookupAndDelete(null)].map((b) => b!.readUInt32LE(0)), [3, 2]);
  });

  it('from a program: push, peek, pop; an empty pop zero-fills and returns -ENOENT', () => {
    const q = createVmMap({ type: 'QUEUE', keySize: 0, valueSize: 8, maxEntries: 4, name: 'q' });
    const prog = new Assembler()
      .st('u64', R10, -8, 41).ldMapFd(R1, q).mov(R2, R10).add(R2, -8).mov(R3, 0).call('map_push_elem').mov(R6, R0)
      .ldMapFd(R1, q).mov(R2, R10).add(R2, -16).call('map_pop_elem').mov(R7, R0)     // 41
      .ldx('u64', R0, R10, -16).add(R0, R6).add(R0, R7)
      .st('u64', R10, -24, 5).ldMapFd(R1, q).mov(R2, R10).add(R2, -24).mov(R6, R0).call('map_peek_elem')
      .ldx('u64', R1, R10, -24).add(R1, R6).stx('u64', R10, -32, R0).ldx('u64', R0, R10, -32).add(R0, R1)
      .exit().assemble();
    // 0 + 0 + 41, then an empty peek: -ENOENT and the buffer zeroed
    assert.equal(runProgram(prog).returnValue, u(41 - Errno.ENOENT));
  });
});

describe('VM maps: RINGBUF', () => {
  /** ringbuf_output of `size` bytes from the stack; r0 = result. */
  const output = (rb: VmRingBuf, size: number, flags = 0) => new Assembler()
    .st('u64', R10, -8, 7).st('u64', R10, -16, 0)
    .ldMapFd(R1, rb).mov(R2, R10).add(R2, -16).mov(R3, size).mov(R4, flags).call('ringbuf_output').exit().assemble();

  it('size is max_entries bytes; a record takes 8 bytes of header plus its data rounded to 8; full at size - 1', () => {
    const rb = createVmRingBuf(4096, 'rb');
    const vm = new VmProgram(output(rb, 8));
    let accepted = 0;
    while (vm.run().returnValue === 0n) accepted++;
    assert.equal(accepted, 255); // 255 * 16 = 4080; a 256th would make 4096 > 4095
    assert.equal(vm.run().returnValue, u(-Errno.EAGAIN));
    assert.equal(rb.usedBytes, 4080);
    assert.equal(rb.takeRecords().length, 255);
    assert.equal(rb.usedBytes, 0);
    assert.equal(vm.run().returnValue, 0n);
    // 1 byte takes 16
    const one = createVmRingBuf(4096);
    runProgram(output(one, 1));
    assert.equal(one.usedBytes, 16);
    assert.deepEqual([...one.takeRecords()[0]!], [0]);
  });

  it('output with unknown flags is -EINVAL; reserve with flags is NULL', () => {
    const rb = createVmRingBuf(4096);
    assert.equal(runProgram(output(rb, 8, 4)).returnValue, u(-Errno.EINVAL));
    assert.equal(runProgram(output(rb, 8, 2)).returnValue, 0n);
    const reserve = runProgram(new Assembler().ldMapFd(R1, rb).mov(R2, 8).mov(R3, 1).call('ringbuf_reserve').exit().assemble());
    assert.equal(reserve.returnValue, 0n);
  });

  it('reserve, submit and discard; drain delivers in order, skips discarded, stops at a busy record', () => {
    const rb = createVmRingBuf(8192, 'ev');
    const prog = (value: number, discard: boolean) => new Assembler()
      .ldMapFd(R1, rb).mov(R2, 12).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, 'out')
      .st('u32', R0, 0, value).st('u64', R0, 4, -1)
      .mov(R1, R0).mov(R2, 0).call(discard ? 'ringbuf_discard' : 'ringbuf_submit')
      .label('out').mov(R0, 0).exit().assemble();
    runProgram(prog(1, false));
    runProgram(prog(2, true));
    runProgram(prog(3, false));
    assert.equal(rb.peekRecords().length, 2);
    const got = rb.takeRecords();
    assert.deepEqual(got.map((r) => [r.length, r.readUInt32LE(0)]), [[12, 1], [12, 3]]);
    assert.equal(rb.stats.discarded, 1);
    assert.throws(() => rb.lookup(), mapError('ENOTSUPP'));
    assert.throws(() => createVmRingBuf(1000), mapError('EINVAL'));
    assert.ok(rb instanceof VmRingBuf);
  });

  it('a record too big for the buffer is refused', () => {
    const rb = createVmRingBuf(4096);
    assert.equal(runProgram(new Assembler().ldMapFd(R1, rb).mov(R2, 4089).mov(R3, 0).call('ringbuf_reserve').exit().assemble()).returnValue, 0n);
    const r = runProgram(new Assembler().ldMapFd(R1, rb).mov(R2, 4080).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, 'out')
      .mov(R1, R0).mov(R2, 0).call('ringbuf_discard').mov(R0, 1).label('out').exit().assemble());
    assert.equal(r.returnValue, 1n);
  });
});

describe('VM maps: values are live memory', () => {
  it('a program\'s stores through a looked-up value are seen by user space and later runs', () => {
    const m = createVmMap({ type: 'HASH', keySize: 4, valueSize: 8, maxEntries: 4, name: 'live' });
    m.update(k32(1), v64(100));
    const prog = new VmProgram(new Assembler()
      .st('u32', R10, -4, 1).ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_lookup_elem').jeq(R0, 0, 'out')
      .ldx('u64', R1, R0, 0).add(R1, 1).stx('u64', R0, 0, R1).mov(R0, R1).label('out').exit().assemble());
    assert.equal(prog.run().returnValue, 101n);
    assert.equal(prog.run().returnValue, 102n);
    assert.equal(m.lookup(k32(1))!.readBigUInt64LE(0), 102n);
    m.update(k32(1), v64(5));
    assert.equal(prog.run().returnValue, 6n);
  });
});
