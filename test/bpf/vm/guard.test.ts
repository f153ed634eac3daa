// The real guard program in the interpreter: compiled from a hand-written policy into the spec the
// kernel loader takes too (compileGuard), loaded by the interpreter's loader, run on sysctl
// accesses. No root needed: this is how `sysward explain` / `test` can decide without a kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type TypedVmMap, type VmRingBuf, type VmSysctlRunResult, type VmTask } from '../../../src/bpf/vm/index.js';
import { AggKey, CounterKind, GUARD_PROGRAM, Reason, Verdict, compileGuard, dropsCounterIndex } from '../../../src/guard/compiler/index.js';
import { loadVmCollection } from '../../../src/bpf/vm/collection.js';
import { decodeEvent, type GuardEvent } from '../../../src/guard/runtime/events.js';
import { aggKinds, aggTotals, releaseAggKinds, type AggMaps } from '../../../src/guard/runtime/agg.js';
import type { KeyPattern, Policy, Rule } from '../../../src/guard/model.js';

const key = (text: string): KeyPattern => {
  const subtree = text.endsWith('.*');
  const segments = (subtree ? text.slice(0, -2) : text).split('.');
  const star = segments.indexOf('*');
  return { text, segments, kind: subtree ? 'subtree' : 'exact', wildcard: star < 0 ? null : star };
};
const rule = (index: number, text: string, r: Omit<Rule, 'index' | 'key' | 'reads'> & { reads?: Rule['reads'] }): Rule => ({ index, key: key(text), reads: 'allow', ...r });

function policyOf(rules: Rule[], mode: Policy['mode'] = 'enforce'): Policy {
  return {
    name: 'vm-test', mode, defaults: { write: 'allow', read: 'allow' },
    scope: { cgroups: [], containers: true, host: false, exempt: [] }, rules,
  };
}

/** The guard's spec in the interpreter: the same maps, sizes, contents and program as in the kernel. */
function vmGuard(policy: Policy, o: { exempt?: { id: bigint; level: number }[]; eventsPerSecond?: number; aggregate?: boolean; aggKinds?: number; cpus?: number } = {}) {
  // Every access sends its event unless a test asks for the rate limit (the task's clock stands still).
  const spec = compileGuard(policy, { eventsPerSecond: 0, ...o, generation: 3 });
  const c = loadVmCollection(spec, { cpus: o.cpus ?? 1 });
  const program = c.programs[GUARD_PROGRAM]!;
  const maps = { ...c.maps, counters: c.maps.counters as TypedVmMap<number, bigint[]>, events: c.maps.events as VmRingBuf };
  const asm = { instructions: program.instructions };
  const task: VmTask = { pid: 1234, tgid: 1200, uid: 1000, gid: 1001, comm: 'sh', cgroupId: 99n, ktimeNs: 5_000_000n };
  return {
    maps,
    program,
    instructionCount: asm.instructions.length,
    write(name: string, value: string, o2: { filePos?: number; current?: string | null; task?: VmTask; cpu?: number } = {}): VmSysctlRunResult {
      return program.run({ ctx: { kind: 'sysctl', name, write: true, newValue: value, filePos: o2.filePos ?? 0, currentValue: o2.current === undefined ? '0\n' : o2.current }, task: o2.task ?? task, ...(o2.cpu !== undefined ? { cpu: o2.cpu } : {}) });
    },
    read(name: string, current = '0\n'): VmSysctlRunResult {
      return program.run({ ctx: { kind: 'sysctl', name, write: false, currentValue: current }, task });
    },
    events(): GuardEvent[] {
      return (maps.events as VmRingBuf).takeRecords().map((r) => decodeEvent(r, policy));
    },
    counter(ruleIndex: number, kind: number): bigint {
      return maps.counters.get(ruleIndex * 3 + kind)![0]!;
    },
  };
}

describe('VM: the guard program', () => {
  it('deny kernel.hostname: a write returns 0 and emits one event; elsewhere 1', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' })]));
    const refused = g.write('kernel/hostname', 'evil\n', { current: 'host-a\n' });
    assert.equal(refused.returnValue, 0n);
    const events = g.events();
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.verdict, 'refused');
    assert.equal(e.key, 'kernel.hostname');
    assert.equal(e.access, 'write');
    assert.equal(e.rule.index, 0);
    assert.equal(e.newValue, 'evil');
    assert.equal(e.oldValue, 'host-a');
    assert.deepEqual([e.pid, e.tgid, e.uid, e.gid, e.comm, e.cgroupId, e.generation], [1234, 1200, 1000, 1001, 'sh', '99', 3]);
    assert.equal(g.counter(0, CounterKind.REFUSED), 1n);

    assert.equal(g.write('kernel/domainname', 'x\n').returnValue, 1n);
    assert.equal(g.read('kernel/hostname').returnValue, 1n);
    assert.equal(g.events().length, 0);
  });

  it('rules of every kind decide as the policy says', () => {
    const g = vmGuard(policyOf([
      rule(0, 'net.core.somaxconn', { action: 'allow', value: { kind: 'range', min: 128n, max: 65535n } }),
      rule(1, 'vm.*', { action: 'deny' }),
      rule(2, 'vm.swappiness', { action: 'allow' }),
      rule(3, 'net.ipv4.conf.*.forwarding', { action: 'deny' }),
      rule(4, 'kernel.randomize_va_space', { action: 'allow', value: { kind: 'values', values: ['2'] } }),
      rule(5, 'kernel.core_pattern', { action: 'audit' }),
      rule(6, 'net.ipv4.tcp_rmem', { action: 'allow', value: { kind: 'fields', fields: [{ min: 4096n, max: 4096n }, { min: 1n, max: 1n << 30n }, { min: 1n, max: 1n << 30n }] } }),
      rule(7, 'kernel.domainname', { action: 'allow', value: { kind: 'lock' } }),
    ]));
    const verdict = (name: string, value: string, o: Parameters<typeof g.write>[2] = {}) => g.write(name, value, o).returnValue;
    assert.equal(verdict('net/core/somaxconn', '4096\n'), 1n);
    assert.equal(verdict('net/core/somaxconn', '0\n'), 0n);
    assert.equal(verdict('net/core/somaxconn', 'abc\n'), 0n);
    assert.equal(verdict('net/core/somaxconn', '4096 1\n'), 0n);
    assert.equal(verdict('net/core/somaxconn', '4096\n', { filePos: 3 }), 0n);
    assert.equal(verdict('vm/overcommit_memory', '1\n'), 0n);
    assert.equal(verdict('vm/swappiness', '10\n'), 1n);
    assert.equal(verdict('net/ipv4/conf/eth0/forwarding', '1\n'), 0n);
    assert.equal(verdict('net/ipv4/conf/veth1234567/forwarding', '1\n'), 0n);
    assert.equal(verdict('net/ipv4/conf/eth0/rp_filter', '1\n'), 1n);
    assert.equal(verdict('kernel/randomize_va_space', '2\n'), 1n);
    assert.equal(verdict('kernel/randomize_va_space', '0\n'), 0n);
    assert.equal(verdict('net/ipv4/tcp_rmem', '4096 131072 6291456\n'), 1n);
    assert.equal(verdict('net/ipv4/tcp_rmem', '4096 0 6291456\n'), 0n);
    assert.equal(verdict('kernel/domainname', '(none)\n', { current: '(none)\n' }), 1n);
    assert.equal(verdict('kernel/domainname', 'evil\n', { current: '(none)\n' }), 0n);
    assert.equal(verdict('kernel/domainname', 'evil\n', { current: null }), 0n);
    const before = g.events().length;
    assert.ok(before > 0);
    assert.equal(verdict('kernel/core_pattern', '|/tmp/x\n'), 1n);
    const audited = g.events();
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.verdict, 'audited');
    assert.equal(audited[0]!.rule.index, 5);
  });

  it('the reasons events carry', () => {
    const g = vmGuard(policyOf([
      rule(0, 'net.core.somaxconn', { action: 'allow', value: { kind: 'range', min: 128n, max: 65535n } }),
      rule(1, 'kernel.domainname', { action: 'allow', value: { kind: 'lock' } }),
    ]));
    g.write('net/core/somaxconn', '1\n');
    g.write('net/core/somaxconn', '4096\n', { filePos: 2 });
    g.write('kernel/domainname', 'b\n', { current: 'a\n' });
    g.write(`net/ipv4/conf/${'x'.repeat(130)}/forwarding`, '1\n');
    const reasons = g.events().map((e) => [e.verdict, e.reason]);
    const names = ['VALUE', 'PARTIAL_WRITE', 'LOCKED', 'NAME_TOO_LONG'] as const;
    assert.deepEqual(reasons, names.map((n) => ['refused', n.toLowerCase().replace(/_/g, '-')]));
    assert.equal(Reason.VALUE, 1);
  });

  it('an override replaces the written value (padded to the written length)', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.modprobe', { action: 'allow', override: '/sbin/modprobe' })]));
    const short = g.write('kernel/modprobe', '/x\n');
    assert.equal(short.returnValue, 1n);
    assert.equal(short.newValueUpdated, true);
    assert.equal(short.newValue!.toString(), '/sbin/modprobe');
    const long = g.write('kernel/modprobe', '/tmp/a-much-longer-path\n');
    assert.equal(long.newValue!.toString(), `/sbin/modprobe${'\n'.repeat(24 - 14)}`);
    const events = g.events();
    assert.deepEqual(events.map((e) => [e.verdict, e.reason]), [['allowed', 'override'], ['allowed', 'override']]);
  });

  it('audit mode refuses nothing and reports what it would refuse', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' })], 'audit'));
    assert.equal(g.write('kernel/hostname', 'evil\n').returnValue, 1n);
    const events = g.events();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.verdict, 'would-refuse');
    assert.equal(Verdict.WOULD_REFUSE, 3);
  });

  it('read rules: reads are decided too when a rule says so', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.kptr_restrict', { action: 'allow', reads: 'deny' })]));
    assert.equal(g.read('kernel/kptr_restrict').returnValue, 0n);
    assert.equal(g.read('kernel/ostype').returnValue, 1n);
    assert.equal(g.events()[0]!.access, 'read');
  });

  it('exempt cgroups pass at once', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' })]), { exempt: [{ id: 77n, level: 1 }] });
    assert.equal(g.write('kernel/hostname', 'x\n', { task: { cgroupId: 78n, ancestorCgroupIds: [1n, 77n, 78n] } }).returnValue, 1n);
    assert.equal(g.write('kernel/hostname', 'x\n', { task: { cgroupId: 80n, ancestorCgroupIds: [1n, 79n, 80n] } }).returnValue, 0n);
  });

  it('a full ring buffer is counted, never waited on: as suppressed in the kind\'s agg entry, or (without one) as dropped', () => {
    const full = (g: ReturnType<typeof vmGuard>) => {
      let n = 0;
      while ((g.maps.events as VmRingBuf).usedBytes + 504 <= 256 * 1024 - 1) { g.write('kernel/hostname', 'x\n'); n++; }
      g.write('kernel/hostname', 'x\n');
      return n;
    };
    const byKind = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' })]));
    const n = full(byKind);
    const kinds = [...aggKinds(byKind.maps as unknown as AggMaps)];
    assert.equal(kinds.length, 1);
    assert.deepEqual(kinds[0]!.counts, { count: BigInt(n + 1), suppressed: 1n, first: 5_000_000n, last: 5_000_000n });
    assert.equal(byKind.maps.counters.get(dropsCounterIndex(1))![0], 0n);
    assert.equal(byKind.events().length, n);
    const plain = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' })]), { aggregate: false });
    const m = full(plain);
    assert.equal(plain.maps.counters.get(dropsCounterIndex(1))![0], 1n);
    assert.equal(plain.events().length, m);
  });

  it('each kind of access sends 10 events a second and counts the rest; another kind is not held back', () => {
    let now = 1_000_000_000n;
    const g = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' }), rule(1, 'kernel.domainname', { action: 'deny' })]), { eventsPerSecond: 10 });
    const task: VmTask = { pid: 1, tgid: 1, uid: 0, gid: 0, comm: 'flood', cgroupId: 99n, ktimeNs: () => now };
    for (let i = 0; i < 50; i++) g.write('kernel/hostname', 'x', { task });
    assert.equal(g.events().length, 10, 'the first 10 in the second');
    g.write('kernel/domainname', 'x', { task });
    assert.equal(g.events().length, 1, 'another key is another kind');
    now += 1_000_000_000n;
    for (let i = 0; i < 5; i++) g.write('kernel/hostname', 'x', { task });
    assert.equal(g.events().length, 5, 'a new second, a new window');
    const total = aggTotals(g.maps as unknown as AggMaps);
    assert.deepEqual(total, { count: 56n, suppressed: 40n }, 'events sent (16) + suppressed (40) = accesses (56)');
  });

  it('a released kind\'s slot goes to the next new kind; a CPU that still remembers the old kind counts it afresh, never into the new one', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.hostname', { action: 'deny' }), rule(1, 'kernel.domainname', { action: 'deny' })]), { cpus: 2 });
    const m = g.maps as unknown as AggMaps;
    for (let i = 0; i < 3; i++) g.write('kernel/hostname', 'x', { cpu: 0 });
    const [a] = [...aggKinds(m)];
    assert.equal(a!.counts.count, 3n);
    releaseAggKinds(m, [a!]);
    assert.deepEqual([...aggKinds(m)], [], 'released: gone from the hash');
    // CPU 1 sees a new kind first: it gets the freed slot (with a new tag).
    g.write('kernel/domainname', 'x', { cpu: 1 });
    const [b] = [...aggKinds(m)];
    assert.equal(b!.slot, a!.slot, 'the freed slot is handed out again');
    // CPU 0 still remembers kernel.hostname in that slot: the tag tells it the slot is not its own.
    g.write('kernel/hostname', 'x', { cpu: 0 });
    const byKey = new Map([...aggKinds(m)].map((k) => [k.key.toString('latin1', AggKey.NAME).replace(/\0+$/, ''), k]));
    assert.equal(byKey.get('kernel/hostname')?.counts.count, 1n, 'counted afresh in a slot of its own');
    assert.notEqual(byKey.get('kernel/hostname')?.slot, a!.slot);
    assert.equal(byKey.get('kernel/domainname')?.counts.count, 1n, 'the new kind is not added to');
    g.events();
  });

  it('with every slot taken a new kind is still reported: sent as an event, and a drop counted when the ring buffer is full', () => {
    const g = vmGuard(policyOf([rule(0, 'kernel.*', { action: 'deny' })]), { aggKinds: 2 });
    for (const k of ['hostname', 'domainname', 'sched_child_runs_first']) g.write(`kernel/${k}`, 'x');
    assert.equal([...aggKinds(g.maps as unknown as AggMaps)].length, 2, 'two kinds counted');
    assert.deepEqual(g.events().map((e) => e.key), ['kernel.hostname', 'kernel.domainname', 'kernel.sched_child_runs_first'], 'the third sent all the same');
    while ((g.maps.events as VmRingBuf).usedBytes + 504 <= 256 * 1024 - 1) g.write('kernel/sched_child_runs_first', 'x');
    const before = g.maps.counters.get(dropsCounterIndex(1))![0];
    g.write('kernel/sched_child_runs_first', 'x');
    assert.equal(g.maps.counters.get(dropsCounterIndex(1))![0], before! + 1n, 'no slot and no room: a counted drop');
  });
});
