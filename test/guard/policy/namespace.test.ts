// `namespace: own` and `scope.follow` in the policy language, and what the interpreter, explain and
// policy tests make of a writer that shares the host's namespaces (no root: the kernel's side is
// test/guard/namespaces.kernel.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lintPolicy, parsePolicy, PolicyError } from '../../../src/guard/policy/index.js';
import { explain } from '../../../src/guard/explain.js';
import { decide } from '../../../src/guard/reference.js';
import { patternNamespaceOf } from '../../../src/sysctl/keys.js';
import { parseKeyPattern } from '../../../src/sysctl/names.js';
import { loadProfile } from '../../../src/guard/profiles/index.js';

const errors = (text: string) => lintPolicy(text, 'p.yaml').problems.filter((p) => p.severity === 'error').map((p) => `${p.line}:${p.column}: ${p.message}`);

test('namespace: own is taken on per-namespace keys and patterns, and set on each of the rule\'s keys', () => {
  const p = parsePolicy('name: p\nrules:\n  - keys: [net.*, kernel.hostname, kernel.shmmax, fs.mqueue.*, user.max_net_namespaces, kernel.ns_last_pid, net.ipv4.conf.*.forwarding]\n    action: allow\n    namespace: own\n', 'p.yaml');
  assert.equal(p.rules.length, 7);
  assert.ok(p.rules.every((r) => r.namespace === 'own'));
  assert.deepEqual(p.rules.map((r) => patternNamespaceOf(r.key)), ['net', 'uts', 'ipc', 'ipc', 'user', 'pid', 'net']);
  // `any` is the default, written out.
  assert.equal(parsePolicy('name: p\nrules:\n  - { key: net.*, action: allow, namespace: any }\n', 'p.yaml').rules[0]!.namespace, undefined);
});

test('namespace: own where it cannot apply is an error that says why and what to do', () => {
  assert.deepEqual(errors('name: p\nrules:\n  - key: kernel.core_pattern\n    action: allow\n    namespace: own\n'), [
    '5:5: namespace: own on kernel.core_pattern, which has one value for the whole host (not per namespace); remove namespace, or give the rule only per-namespace keys (net.*, kernel.hostname, kernel.domainname, the System V IPC keys, fs.mqueue.*, user.*, kernel.ns_last_pid)',
  ]);
  assert.match(errors('name: p\nrules:\n  - { key: kernel.*, action: allow, namespace: own }\n')[0]!, /kernel\.\*, which reaches keys that have one value for the whole host/);
  // net.* keys that exist only in the host's namespace are not per namespace.
  assert.match(errors('name: p\nrules:\n  - { key: net.core.bpf_jit_harden, action: allow, namespace: own }\n')[0]!, /net\.core\.bpf_jit_harden, which has one value for the whole host/);
  assert.match(errors('name: p\nrules:\n  - { key: net.*, action: deny, namespace: own }\n')[0]!, /namespace: own with action: deny never applies/);
  assert.match(errors('name: p\nrules:\n  - { key: net.*, action: allow, namespace: yes }\n')[0]!, /namespace/);
  assert.throws(() => parsePolicy('name: p\nrules:\n  - { key: vm.swappiness, action: allow, namespace: own }\n', 'p.yaml'), PolicyError);
});

test('scope.follow: false is kept; on a guard of the host it is a warning (it changes nothing)', () => {
  assert.equal(parsePolicy('name: p\nscope: { containers: true, follow: false }\nrules:\n  - { key: net.*, action: allow }\n', 'p.yaml').scope.follow, false);
  assert.equal(parsePolicy('name: p\nscope: { containers: true }\nrules:\n  - { key: net.*, action: allow }\n', 'p.yaml').scope.follow, undefined);
  const w = lintPolicy('name: p\nscope: { host: true, follow: true }\nrules:\n  - { key: net.*, action: allow }\n', 'p.yaml').problems;
  assert.ok(w.some((p) => p.severity === 'warning' && /follow changes nothing on a guard of the host/.test(p.message)));
});

test('the interpreter, explain and the reference agree: a writer in the host\'s namespace of the key\'s kind is refused, any other namespace does not matter', () => {
  const policy = loadProfile('container-host');
  const cases: [string, Record<string, 'host' | 'own'>, string][] = [
    ['net.ipv4.ip_forward=1', { net: 'host' }, 'refused host-namespace'],
    ['net.ipv4.ip_forward=1', {}, 'allowed rule'],
    ['net.ipv4.ip_forward=1', { ipc: 'host', uts: 'host', pid: 'host', user: 'host' }, 'allowed rule'],
    ['kernel.shmmax=1024', { ipc: 'host' }, 'refused host-namespace'],
    ['kernel.shmmax=1024', { net: 'host' }, 'allowed rule'],
    ['fs.mqueue.msg_max=20', { ipc: 'host' }, 'refused host-namespace'],
    // A deny rule refuses from anywhere, with its own reason.
    ['net.core.bpf_jit_harden=0', {}, 'refused rule'],
    ['kernel.core_pattern=x', { net: 'host' }, 'refused rule'],
  ];
  for (const [access, namespaces, want] of cases) {
    const [name, value] = access.split('=') as [string, string];
    const x = explain(policy, { name, value, current: '0', namespaces });
    assert.equal(`${x.verdict} ${x.reason}`, want, `${access} ${JSON.stringify(namespaces)}`);
    assert.equal(x.disagreement, undefined);
    const key = parseKeyPattern(name).segments.join('/');
    const d = decide(policy, { key, write: true, value, current: '0', namespaces });
    assert.equal(`${d.verdict} ${d.reason}`, want, `reference: ${access}`);
  }
  // Reads are not writes: namespace: own does not touch them.
  assert.equal(explain(policy, { name: 'net.ipv4.ip_forward', current: '0', namespaces: { net: 'host' } }).verdict, 'allowed');
});
