// Policy synthesis (sysward learn) without root: what was observed → the narrowest policy and its
// tests, checked by loading the policy with the real parser and running its tests (and the
// observed writes) in the interpreter, as `sysward test` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Learner, MANY_NUMBERS, MAX_VALUES_PER_KEY, nameFromFile, synthesize, testsFileFor, type LearnOptions, type Observation } from '../../src/guard/learn.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { readPolicyTests, runPolicyTests } from '../../src/guard/policy-tests.js';
import { explain } from '../../src/guard/explain.js';
import { VmGuard } from '../../src/guard/runtime/vm-guard.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const T0 = '2026-12-01T08:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const w = (key: string, value: string | null | undefined, s = 0, extra: Partial<Observation> = {}): Observation =>
  ({ access: 'write', key, ...(value !== undefined ? { value } : {}), count: 1, from: at(s), to: at(s), comm: 'sh', ...extra });
const r = (key: string, s = 0): Observation => ({ access: 'read', key, count: 1, from: at(s), to: at(s), comm: 'cat' });
const opts = (o: Partial<LearnOptions> = {}): LearnOptions => ({ name: 'web', policyFile: 'web.yaml', source: ['the command ./start.sh'], ...o });

function learn(obs: Observation[], o: Partial<LearnOptions> = {}) {
  const l = new Learner();
  for (const x of obs) l.observe(x);
  return synthesize(l, opts(o));
}

/** The learned policy, loaded by the parser, and its tests run as `sysward test` runs them. */
function check(learned: ReturnType<typeof learn>) {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-learn-test-'));
  try {
    writeFileSync(join(dir, 'web.yaml'), learned.policy);
    writeFileSync(join(dir, 'web.test.yaml'), learned.tests);
    const policy = parsePolicy(learned.policy, 'web.yaml');
    const results = runPolicyTests(policy, readPolicyTests(join(dir, 'web.test.yaml')).cases);
    assert.deepEqual(results.filter((x) => !x.ok).map((x) => `${x.c.description}: ${x.problems.join('; ')}`), []);
    return { policy, results };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const verdict = (policy: ReturnType<typeof parsePolicy>, name: string, value?: string, guard = new VmGuard(policy)) =>
  explain(policy, { name, ...(value !== undefined ? { value } : {}), filePos: 0, current: null }, guard).verdict;

test('learn: each written key gets exactly the values seen, sorted; other values and keys are refused', () => {
  const learned = learn([w('net.ipv4.tcp_syn_retries', '3', 5), w('kernel.hostname', 'web-1', 1), w('kernel.hostname', 'web-2', 2), w('kernel.hostname', 'web-1', 3)]);
  const { policy, results } = check(learned);
  assert.match(learned.policy, /^default: \{ write: deny, read: allow \}$/m);
  assert.match(learned.policy, /# written 3 times \(2 values\) from 2026-12-01T08:00:01.000Z to 2026-12-01T08:00:03.000Z by sh\n  - key: kernel.hostname\n    values:\n      - "web-1"  # 2 times\n      - "web-2"  # once\n/);
  assert.match(learned.policy, /# written once at 2026-12-01T08:00:05.000Z by sh\n  - key: net.ipv4.tcp_syn_retries\n    values:\n      - "3"\n/);
  assert.ok(learned.policy.indexOf('kernel.hostname') < learned.policy.indexOf('net.ipv4.tcp_syn_retries'), 'keys sorted');
  assert.equal(verdict(policy, 'kernel.hostname', 'web-1'), 'allowed');
  assert.equal(verdict(policy, 'kernel.hostname', 'web-3'), 'refused');
  assert.equal(verdict(policy, 'net.ipv4.tcp_syn_retries', '4'), 'refused');
  assert.equal(verdict(policy, 'vm.swappiness', '10'), 'refused');
  assert.equal(verdict(policy, 'vm.swappiness'), 'allowed', 'reads stay allowed without --reads');
  // A case per distinct write, a refused case per rule, one for an unseen key.
  const cases = results.map((x) => `${x.c.description} ${x.c.expect}`);
  assert.deepEqual(cases, [
    'write kernel.hostname=web-1 allowed', 'write kernel.hostname=web-2 allowed', 'write kernel.hostname=sysward-unseen refused',
    'write net.ipv4.tcp_syn_retries=3 allowed', 'write net.ipv4.tcp_syn_retries=4 refused',
    'write kernel.core_pattern=|/tmp/x refused',
  ]);
});

test('learn: many integers become their range; --ranges asks for it; vectors get fields; string keys keep values', () => {
  const many = Array.from({ length: MANY_NUMBERS + 1 }, (_, i) => w('net.core.somaxconn', String(1000 + i * 7), i));
  const a = learn([...many, w('net.ipv4.tcp_keepalive_time', '60'), w('net.ipv4.tcp_keepalive_time', '7200')]);
  const pa = check(a).policy;
  assert.match(a.policy, /- key: net.core.somaxconn\n    range: \[1000, 1112\]\n/);
  assert.match(a.policy, /- key: net.ipv4.tcp_keepalive_time\n    values:/, 'two values stay exact without --ranges');
  assert.equal(verdict(pa, 'net.core.somaxconn', '1113'), 'refused');
  assert.equal(verdict(pa, 'net.core.somaxconn', '1005'), 'allowed');

  const b = learn([w('net.ipv4.tcp_keepalive_time', '60'), w('net.ipv4.tcp_keepalive_time', '7200'), w('net.ipv4.tcp_rmem', '4096 87380 6291456'), w('net.ipv4.tcp_rmem', '8192 131072 16777216'),
    w('kernel.hostname', '17'), w('kernel.hostname', '18'), w('vm.custom_vector', '1 2'), w('vm.custom_vector', '3 1')], { ranges: true });
  check(b);
  assert.match(b.policy, /- key: net.ipv4.tcp_keepalive_time\n    range: \[60, 7200\]\n/);
  assert.match(b.policy, /- key: net.ipv4.tcp_rmem\n    fields: \[\[4096, 8192\], \[87380, 131072\], \[6291456, 16777216\]\]\n/);
  assert.match(b.policy, /- key: vm.custom_vector\n    fields: \[\[1, 3\], \[1, 2\]\]\n/);
  assert.match(b.policy, /- key: kernel.hostname\n    values:\n      - "17"/, 'a string key never gets a range');
  // Not decimal integers (hex, octal-looking, words): values.
  const c = learn([w('vm.x', '0x10'), w('vm.x', '010')], { ranges: true });
  assert.match(c.policy, /- key: vm.x\n    values:\n      - "010"  # once\n      - "0x10"  # once\n/);
  check(c);
});

test('learn: writes a value limit would refuse get action: allow, saying why', () => {
  const long = 'a'.repeat(127) + '…';
  const learned = learn([
    w('kernel.domainname', 'part', 0, { filePos: 4 }), w('kernel.core_pattern', long), w('vm.unknown_value', null),
    { access: 'write', key: 'vm.only_counted', count: 40, from: at(1), to: at(9), comm: 'loop' },
  ]);
  check(learned);
  assert.match(learned.policy, /# values not limited: 1 write at a file position past 0 .*\n  - key: kernel.domainname\n    action: allow\n/);
  assert.match(learned.policy, /# values not limited: 1 write with a value longer than the 127 bytes .*\n  - key: kernel.core_pattern\n    action: allow\n/);
  assert.match(learned.policy, /# CAUTION: a container-escape key: a pattern starting with \| runs that program as host root/);
  assert.match(learned.policy, /# values not limited: 1 write with a value the guard could not read\n  - key: vm.unknown_value\n    action: allow\n/);
  assert.match(learned.policy, /# written 40 times from 2026-12-01T08:00:01.000Z to 2026-12-01T08:00:09.000Z by loop\n  # values not limited: the values of its 40 writes were not recorded \(summary lines only\)\n  - key: vm.only_counted\n    action: allow\n/);
  assert.match(learned.tests, /- write: "kernel.domainname=part"\n    pos: 4\n    expect: allowed/);
  assert.ok(learned.summary.warnings.some((x) => x.startsWith('kernel.core_pattern: a pattern starting with |')));
});

test('learn: summary lines add their counts; values seen stay exact and the comment says some were not recorded', () => {
  const learned = learn([w('kernel.hostname', 'a', 0), w('kernel.hostname', 'b', 1), { access: 'write', key: 'kernel.hostname', count: 990, from: at(1), to: at(30), comm: 'sh' }]);
  check(learned);
  assert.match(learned.policy, /# written 992 times \(2 values\) from 2026-12-01T08:00:00.000Z to 2026-12-01T08:00:30.000Z by sh\n  # 990 writes of it counted in summary lines without their values: another value may be among them\n  - key: kernel.hostname\n    values:/);
  assert.equal(learned.summary.writesWithoutValue, 990);
});

test('learn --reads: reads seen are allowed, others refused; a key only read gets action: deny and reads: allow', () => {
  const learned = learn([w('kernel.hostname', 'a'), r('kernel.hostname', 2), r('kernel.osrelease', 3), r('kernel.osrelease', 4)], { reads: true });
  const { policy } = check(learned);
  assert.match(learned.policy, /^default: \{ write: deny, read: deny \}$/m);
  assert.match(learned.policy, /# read 2 times from 2026-12-01T08:00:03.000Z to 2026-12-01T08:00:04.000Z by cat; never written\n  - key: kernel.osrelease\n    action: deny\n    reads: allow\n/);
  assert.match(learned.policy, /- key: kernel.hostname\n    values:\n      - "a"\n    reads: allow\n/);
  assert.equal(verdict(policy, 'kernel.osrelease'), 'allowed');
  assert.equal(verdict(policy, 'kernel.ostype'), 'refused');
  assert.match(learned.tests, /- read: kernel.core_pattern\n    expect: refused\n    rule: default/);
  // Without --reads the reads are not in the policy.
  assert.doesNotMatch(learn([w('kernel.hostname', 'a'), r('kernel.osrelease')]).policy, /osrelease/);
});

test('learn: nothing written is a policy that refuses every write (and loads)', () => {
  const learned = learn([]);
  assert.match(learned.policy, /^rules: \[\]$/m);
  const policy = parsePolicy(learned.policy, 'web.yaml');
  assert.equal(verdict(policy, 'kernel.hostname', 'x'), 'refused');
  assert.deepEqual(learned.summary.warnings, ['nothing was written: the policy refuses every write']);
});

test('learn: past MAX_VALUES_PER_KEY a numeric key keeps its exact range, a string key any value', () => {
  const l = new Learner();
  for (let i = 0; i <= MAX_VALUES_PER_KEY + 10; i++) { l.observe(w('net.core.somaxconn', String(i - 5))); l.observe(w('kernel.domainname', `d${i}`)); }
  const learned = synthesize(l, opts());
  assert.match(learned.policy, new RegExp(`- key: net.core.somaxconn\\n    range: \\[-5, ${MAX_VALUES_PER_KEY + 5}\\]\\n`));
  assert.match(learned.policy, /more than 4096 distinct values, not all integers\n  - key: kernel.domainname\n    action: allow\n/);
  assert.equal(learned.tests.split('net.core.somaxconn=').length - 1, 33, '32 allowed cases spread over the range, one refused');
  check(learned);
});

test('learn: the same observations in any order give the same bytes', () => {
  fc.assert(fc.property(
    fc.array(fc.record({
      key: fc.constantFrom('kernel.hostname', 'net.core.somaxconn', 'net.ipv4.tcp_rmem', 'vm.swappiness', 'net.ipv4.conf.eth0/100.forwarding'),
      n: fc.integer({ min: 0, max: 40 }), s: fc.integer({ min: 0, max: 100 }), read: fc.boolean(),
    }), { maxLength: 60 }),
    fc.boolean(),
    (xs, ranges) => {
      const obs = xs.map((x) => (x.read ? r(x.key, x.s) : w(x.key, x.key === 'net.ipv4.tcp_rmem' ? `${x.n} ${x.n * 2} ${x.n * 3}` : x.key === 'kernel.hostname' ? `h${x.n}` : String(x.n), x.s)));
      const a = learn(obs, { ranges, reads: true });
      const b = learn([...obs].reverse(), { ranges, reads: true });
      assert.equal(a.policy, b.policy);
      assert.equal(a.tests, b.tests);
      // And every observed write is allowed by what was learned.
      const policy = parsePolicy(a.policy, 'web.yaml');
      const guard = new VmGuard(policy);
      for (const o of obs) assert.equal(verdict(policy, o.key, o.access === 'write' ? o.value! : undefined, guard), 'allowed', `${o.key}=${o.value}`);
    },
  ), { numRuns: 40 });
});

test('learn: names and file names', () => {
  assert.equal(nameFromFile('/tmp/Web App.yaml'), 'web-app');
  assert.equal(nameFromFile('policies/db.yml'), 'db');
  assert.equal(nameFromFile('___.yaml'), 'learned');
  assert.equal(testsFileFor('/x/web.yaml'), '/x/web.test.yaml');
  assert.equal(testsFileFor('web.YML'), 'web.test.YML');
  assert.equal(testsFileFor('policy'), 'policy.test.yaml');
});

test('learn: hostile command names, command lines and values cannot break out of comments or scalars', () => {
  const value = 'a\x7fb\x85c\u2028d"\\';
  const learned = learn([w('kernel.domainname', value, 0, { comm: 'x\nname: evil' }), w('vm.swappiness', '1', 0, { comm: '#\r\x00\ufeff' })],
    { source: ['the command sh -c \'echo 1\nname: evil\'', 'line\ntwo'] });
  const { policy } = check(learned);
  assert.equal(policy.name, 'web');
  assert.equal(verdict(policy, 'kernel.domainname', value), 'allowed');
  assert.equal(verdict(policy, 'kernel.domainname', 'a'), 'refused');
  assert.match(learned.policy, /^# Learned by `sysward learn` from the command sh -c 'echo 1\\nname: evil'$/m);
  assert.match(learned.policy, /by x\\nname: evil\n/);
  assert.doesNotMatch(learned.policy, /[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]/);
});

test('learn: a per-namespace key written only from the writer\'s own namespace gets namespace: own (when the host\'s are known)', () => {
  const host = { mnt: 1, net: 2, uts: 3, ipc: 4, user: 5, pid: 6, cgroup: 7 };
  const own = { mnt: 11, net: 12, uts: 13, ipc: 14, user: 15, pid: 16, cgroup: 17 };
  const l = new Learner();
  l.hostNamespaces = host;
  l.observe(w('net.core.somaxconn', '1024', 0, { namespaces: own }));
  l.observe(w('kernel.hostname', 'a', 0, { namespaces: own }));
  l.observe(w('kernel.hostname', 'b', 0, { namespaces: { ...own, uts: 3 } })); // one from the host's UTS namespace
  l.observe(w('net.ipv4.tcp_syn_retries', '4', 0, { namespaces: own }));
  l.observe({ access: 'write', key: 'net.ipv4.tcp_syn_retries', count: 5, from: at(1), to: at(2) }); // counted, namespaces unknown
  l.observe(w('vm.swappiness', '10', 0, { namespaces: own })); // a key of the whole host
  const learned = synthesize(l, opts());
  const { policy, results } = check(learned);
  assert.match(learned.policy, /# only from the writer's own network namespace: namespace: own refuses writes from the host's\n  - key: net.core.somaxconn\n    values:\n      - "1024"\n    namespace: own\n/);
  for (const k of ['kernel.hostname', 'net.ipv4.tcp_syn_retries', 'vm.swappiness']) assert.doesNotMatch(learned.policy, new RegExp(`- key: ${k}\\n(    .*\\n)*    namespace: own`));
  assert.ok(results.some((x) => x.c.description === 'write net.core.somaxconn=1024' && x.c.namespaces?.net === 'host' && x.got.reason === 'host-namespace'));
  assert.equal(explain(policy, { name: 'net.core.somaxconn', value: '1024', filePos: 0, current: null, namespaces: { net: 'host' } }).verdict, 'refused');
  // Without the host's namespaces (an audit log), nothing is inferred.
  const l2 = new Learner();
  l2.observe(w('net.core.somaxconn', '1024', 0, { namespaces: own }));
  assert.doesNotMatch(synthesize(l2, opts()).policy, /namespace: own/);
});

test('learn: a key that is not a sysctl name is bad input', () => {
  for (const [key, re] of [['foo.bar', /key "foo.bar" is not a sysctl name \("foo.bar" starts with "foo", which is not a directory of \/proc\/sys/], ['kernel.*', /key "kernel.\*" is not a sysctl name/], [`kernel.${'x'.repeat(130)}`, /the guard compares names of at most 127 bytes/], ['', /the key is empty/]] as const) {
    assert.throws(() => new Learner().observe(w(key, '1')), (e: Error) => e.name === 'LearnInputError' && re.test(e.message));
  }
});
