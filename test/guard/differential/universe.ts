// The world the differential tests draw from: real sysctls a child can write in its own UTS,
// network and IPC namespaces, the patterns policies use over them, and the values written.
import fc from 'fast-check';
import type { Action, KeyPattern, Policy, Rule, ValueConstraint } from '../../../src/guard/model.js';
import { patternNamespaceOf } from '../../../src/sysctl/keys.js';

export const KEYS = [
  'kernel/hostname', 'kernel/domainname', 'kernel/shmmax', 'kernel/msgmax',
  'net/core/somaxconn', 'net/ipv4/ip_forward', 'net/ipv4/tcp_fin_timeout',
  'net/ipv4/conf/lo/forwarding', 'net/ipv4/conf/all/forwarding', 'net/ipv4/conf/default/forwarding',
  'net/ipv4/conf/lo/rp_filter', 'net/ipv4/tcp_rmem', 'net/ipv4/ip_local_port_range',
];

const pattern = (text: string): KeyPattern => {
  const subtree = text.endsWith('.*');
  const segments = (subtree ? text.slice(0, -2) : text).split('.');
  const w = segments.indexOf('*');
  return { text, segments, kind: subtree ? 'subtree' : 'exact', wildcard: w < 0 ? null : w };
};

const dotted = (k: string) => k.split('/').join('.');
export const PATTERNS = [
  ...KEYS.map(dotted),
  'kernel.*', 'net.*', 'net.ipv4.*', 'net.ipv4.conf.*', 'net.ipv4.conf.lo.*',
  'net.ipv4.conf.*.forwarding', 'net.ipv4.conf.*.rp_filter', 'net.ipv4.conf.*.*', 'net.ipv4.conf.*.nothing_here',
];

export const VALUES = ['0', '1', '2', '128', '4096', '65535', '-1', '0x10', ' 7', '12x', 'foo', 'demo.example',
  '4096 131072 6291456', '4096\t87380\t6291456', '1024 65000', '32768 60999', '2000', `${'a'.repeat(300)}`];

const action = fc.constantFrom<Action>('allow', 'deny', 'audit');
const num = fc.constantFrom(-1n, 0n, 1n, 2n, 7n, 128n, 1024n, 4096n, 65535n, 6291456n, 9999999n);
const range = fc.tuple(num, num).map(([a, b]) => (a <= b ? { min: a, max: b } : { min: b, max: a }));
const constraint: fc.Arbitrary<ValueConstraint | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.subarray(VALUES.filter((v) => v.length < 100), { minLength: 1, maxLength: 4 }).map((values) => ({ kind: 'values' as const, values })) },
  { weight: 1, arbitrary: range.map((r) => ({ kind: 'range' as const, ...r })) },
  { weight: 1, arbitrary: fc.array(range, { minLength: 2, maxLength: 3 }).map((fields) => ({ kind: 'fields' as const, fields })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lock' as const }) },
);

const rule = fc.record({ key: fc.constantFrom(...PATTERNS), action, reads: fc.constantFrom<Action>('allow', 'allow', 'allow', 'deny', 'audit'), value: constraint, ownNs: fc.boolean() });

export const policyArb: fc.Arbitrary<Policy> = fc.record({
  rules: fc.uniqueArray(rule, { selector: (r) => r.key, minLength: 0, maxLength: 8 }),
  mode: fc.constantFrom<'enforce' | 'audit'>('enforce', 'enforce', 'enforce', 'audit'),
  write: action, read: fc.constantFrom<Action>('allow', 'allow', 'audit', 'deny'),
}).map(({ rules, mode, write, read }) => ({
  name: 'diff', mode, defaults: { write, read },
  scope: { cgroups: [], containers: false, host: false, exempt: [] },
  rules: rules.map((r, index): Rule => {
    // A value rule allows (or audits) the values it names; with deny the parser refuses it.
    const act: Action = r.value && r.action === 'deny' ? 'allow' : r.action;
    const key = pattern(r.key);
    // namespace: own where the parser takes it (a per-namespace key, a rule that may allow): the
    // child writes from namespaces of its own, so these rules decide as without it, on the kernel
    // too (the host's-namespace branch: test/guard/namespaces.kernel.test.ts).
    const own = r.ownNs && act !== 'deny' && patternNamespaceOf(key) !== null;
    return { index, key, reads: r.reads, action: act, ...(r.value ? { value: r.value } : {}), ...(own ? { namespace: 'own' as const } : {}) };
  }),
}));

export interface Access { key: string; write: boolean; value: string; filePos: number }
export const accessArb: fc.Arbitrary<Access> = fc.record({
  key: fc.constantFrom(...KEYS),
  write: fc.boolean(),
  value: fc.constantFrom(...VALUES),
  filePos: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }) }),
});
