// Kernel tests of the guard: for every rule kind and action, a child in the guarded cgroup reads or
// writes, gets the expected errno, reads back the expected value, and the expected event arrives.
// Children run in private UTS / network / IPC / mount namespaces: the keys they write are their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { runGuarded } from '../../src/guard/runtime/run.js';
import type { GuardEvent } from '../../src/guard/runtime/events.js';
import { kernel } from '../helpers/env.js';

const NS = ['unshare', '--uts', '--net', '--ipc', '--mount'];

/** Run `script` (sh) guarded by `yaml`; returns its output lines and the events. */
async function guarded(yaml: string, script: string) {
  const policy = parsePolicy(yaml, 'test.yaml');
  const r = await runGuarded(policy, [...NS, 'sh', '-c', script], { stdio: 'pipe' });
  return { ...r, lines: (r.stdout ?? '').trim().split('\n') };
}

/** Shell: w KEY VALUE → prints "ok" or "EPERM"/the error, then the value read back. */
const W = `w() { if /bin/echo "$2" > /proc/sys/$1 2>/tmp/sw-err-$$; then r=ok; else r=$(sed 's/.*: //' /tmp/sw-err-$$); fi; echo "$1 $r $(cat /proc/sys/$1 | tr '\\t' ' ')"; rm -f /tmp/sw-err-$$; }\n`;

const policyHead = (rules: string, extra = '') => `name: test\nmode: enforce\ndefault: allow\nscope: { host: true }\n${extra}rules:\n${rules}`;

const only = (events: GuardEvent[], verdict: string) => events.filter((e) => e.verdict === verdict);

test('kernel: deny refuses the write with EPERM, the value is unchanged, the event names key and value', kernel(), async () => {
  const r = await guarded(policyHead('  - key: kernel.hostname\n    action: deny\n'), `${W}hostname before; w kernel/hostname evil`);
  assert.equal(r.lines[0], 'kernel/hostname Operation not permitted before');
  const [e] = only(r.events, 'refused');
  assert.equal(e?.key, 'kernel.hostname');
  assert.equal(e?.newValue, 'evil');
  assert.equal(e?.oldValue, 'before');
  assert.equal(e?.access, 'write');
  assert.equal(e?.comm, 'echo');
  assert.equal(e?.uid, 0);
  assert.equal(e?.rule.key, 'kernel.hostname');
  assert.ok(e?.cgroup?.startsWith('/sysward-run-'));
});

test('kernel: reads are allowed by deny; reads: deny refuses them too', kernel(), async () => {
  const r = await guarded(policyHead('  - key: kernel.hostname\n    action: deny\n  - key: kernel.domainname\n    action: deny\n    reads: deny\n'),
    'cat /proc/sys/kernel/hostname >/dev/null && echo read-ok; cat /proc/sys/kernel/domainname 2>&1 | sed "s/.*: //"');
  assert.deepEqual(r.lines, ['read-ok', 'Operation not permitted']);
  const [e] = only(r.events, 'refused');
  assert.equal(e?.access, 'read');
  assert.equal(e?.key, 'kernel.domainname');
});

test('kernel: audit allows and reports; mode audit refuses nothing and reports would-refuse', kernel(), async () => {
  const r = await guarded(policyHead('  - key: kernel.hostname\n    action: audit\n'), `${W}w kernel/hostname audited`);
  assert.equal(r.lines[0], 'kernel/hostname ok audited');
  assert.equal(only(r.events, 'audited')[0]?.newValue, 'audited');
  const a = await guarded('name: test\nmode: audit\ndefault: allow\nscope: { host: true }\nrules:\n  - key: kernel.hostname\n    action: deny\n', `${W}w kernel/hostname through`);
  assert.equal(a.lines[0], 'kernel/hostname ok through');
  assert.equal(only(a.events, 'would-refuse')[0]?.key, 'kernel.hostname');
});

test('kernel: values, range, fields and lock allow only what they say', kernel(), async () => {
  const r = await guarded(policyHead(`  - key: net.ipv4.ip_forward
    values: ["0"]
  - key: net.core.somaxconn
    range: [128, 65535]
  - key: net.ipv4.ip_local_port_range
    fields: [[1024, 65535], [1024, 65535]]
  - key: kernel.domainname
    lock: true
`), `${W}w net/ipv4/ip_forward 1; w net/ipv4/ip_forward 0
w net/core/somaxconn 100; w net/core/somaxconn 70000; w net/core/somaxconn 12x; w net/core/somaxconn 1024
w net/ipv4/ip_local_port_range "80 9000"; w net/ipv4/ip_local_port_range "2000"; w net/ipv4/ip_local_port_range "2000 9000 7"; w net/ipv4/ip_local_port_range "2000 9000"
w kernel/domainname other; w kernel/domainname "$(cat /proc/sys/kernel/domainname)"`);
  const res = r.lines.map((l) => l.replace('Operation not permitted', 'EPERM').split(' ').slice(0, 2).join(' '));
  assert.deepEqual(res, [
    'net/ipv4/ip_forward EPERM', 'net/ipv4/ip_forward ok',
    'net/core/somaxconn EPERM', 'net/core/somaxconn EPERM', 'net/core/somaxconn EPERM', 'net/core/somaxconn ok',
    'net/ipv4/ip_local_port_range EPERM', 'net/ipv4/ip_local_port_range EPERM', 'net/ipv4/ip_local_port_range EPERM', 'net/ipv4/ip_local_port_range ok',
    'kernel/domainname EPERM', 'kernel/domainname ok',
  ]);
  assert.equal(r.lines.at(-3), 'net/ipv4/ip_local_port_range ok 2000 9000');
  const refused = only(r.events, 'refused');
  assert.deepEqual(refused.map((e) => e.reason), ['value', 'value', 'value', 'value', 'value', 'value', 'value', 'locked']);
  assert.equal(refused[0]?.newValue, '1');
});

test('kernel: the most specific rule wins: exact over wildcard over subtree, default last', kernel(), async () => {
  const r = await guarded(`name: test\nmode: enforce\ndefault: deny\nscope: { host: true }\nrules:
  - key: net.ipv4.*
    action: allow
  - key: net.ipv4.conf.*.forwarding
    action: deny
  - key: net.ipv4.conf.lo.forwarding
    action: allow
  - key: net.ipv4.conf.*.*
    action: audit
`, `${W}w net/ipv4/ip_forward 0; w net/ipv4/conf/lo/forwarding 0; w net/ipv4/conf/all/forwarding 0; w net/ipv4/conf/lo/rp_filter 0; w net/core/somaxconn 4096`);
  assert.deepEqual(r.lines.map((l) => l.split(' ')[1]), ['ok', 'ok', 'Operation', 'ok', 'Operation']);
  assert.deepEqual(r.events.map((e) => `${e.verdict} ${e.key} ${e.rule.key}`), [
    'refused net.ipv4.conf.all.forwarding net.ipv4.conf.*.forwarding',
    'audited net.ipv4.conf.lo.rp_filter net.ipv4.conf.*.*',
    'refused net.core.somaxconn default',
  ]);
});

test('kernel: a wildcard rule matches an interface created after the guard', kernel(), async () => {
  // A new interface starts with conf.default.forwarding, which a new network namespace copies from
  // the host's (1 on every Docker host): the write is of the other value, so it would show.
  const r = await guarded(policyHead('  - key: net.ipv4.conf.*.forwarding\n    action: deny\n'),
    `${W}ip link add swtest0 type veth peer name swtest1 && b=$(cat /proc/sys/net/ipv4/conf/swtest0/forwarding) && echo "before $b" && w net/ipv4/conf/swtest0/forwarding $((1 - b))`);
  const before = r.lines[0]?.replace(/^before /, '');
  assert.match(before ?? '', /^[01]$/, r.lines.join('\n'));
  assert.equal(r.lines[1], `net/ipv4/conf/swtest0/forwarding Operation not permitted ${before}`);
  const [e] = only(r.events, 'refused');
  assert.equal(e?.key, 'net.ipv4.conf.swtest0.forwarding');
  assert.equal(e?.newValue, String(1 - Number(before)));
});

test('kernel: bypass attempts are refused: split writes, pwrite at an offset, other paths, long values, grandchild cgroups', kernel(), async () => {
  const r = await guarded(policyHead(`  - key: kernel.hostname
    values: ["good"]
  - key: kernel.domainname
    action: deny
`), `${W}
# a split write: "good" passes, "evil" appended at offset 4 is refused
( printf good; sleep 0.05; printf evil ) > /proc/sys/kernel/hostname 2>/dev/null; echo "split $(cat /proc/sys/kernel/hostname)"
# pwrite at offset 4 of a value that passes
python3 -c "import os; fd=os.open('/proc/sys/kernel/hostname', os.O_WRONLY)
try:
    os.pwrite(fd, b'good', 4); print('pwrite ok')
except OSError as e: print('pwrite', e.strerror)" 2>/dev/null || echo "pwrite skipped"
# the same key through other paths
/bin/echo x > /proc/sys/kernel/../kernel/domainname 2>/dev/null && echo dotdot-ok || echo dotdot-refused
/bin/echo x > /proc/self/root/proc/sys/kernel/domainname 2>/dev/null && echo root-ok || echo root-refused
mkdir -p /tmp/sw-proc-$$ && mount -t proc proc /tmp/sw-proc-$$ 2>/dev/null && { /bin/echo x > /tmp/sw-proc-$$/sys/kernel/domainname 2>/dev/null && echo proc2-ok || echo proc2-refused; umount /tmp/sw-proc-$$; } || echo proc2-mount-failed
rmdir /tmp/sw-proc-$$ 2>/dev/null
# a value longer than the guard reads
w kernel/hostname "$(head -c 300 /dev/zero | tr '\\0' g)" | cut -c1-40
# a grandchild cgroup
cg=$(sed -n 's/^0:://p' /proc/self/cgroup); d=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
mkdir -p "$d$cg/child/grandchild" && sh -c "echo \\$\\$ > '$d$cg/child/grandchild/cgroup.procs'; /bin/echo x > /proc/sys/kernel/domainname 2>/dev/null && echo grandchild-ok || echo grandchild-refused"
`);
  assert.deepEqual(r.lines.filter((l) => !l.startsWith('kernel/hostname')), [
    'split good', 'pwrite Operation not permitted', 'dotdot-refused', 'root-refused', 'proc2-refused', 'grandchild-refused',
  ]);
  assert.match(r.lines.find((l) => l.startsWith('kernel/hostname'))!, /^kernel\/hostname (Operation not permitted|Argument list too long|Invalid argument) /);
  assert.ok(r.events.some((e) => e.reason === 'partial-write'));
});

test('kernel: a policy of 10,000 rules loads and refuses one of them', kernel(), async () => {
  const rules = Array.from({ length: 9999 }, (_, i) => `  - key: net.ipv4.fake_key_${i}\n    action: deny\n`).join('') + '  - key: kernel.hostname\n    action: deny\n';
  const r = await guarded(policyHead(rules), `${W}w kernel/hostname big; w kernel/domainname fine`);
  assert.deepEqual(r.lines.map((l) => l.split(' ')[1]), ['Operation', 'ok']);
  assert.equal(only(r.events, 'refused')[0]?.rule.key, 'kernel.hostname');
});

test('kernel: override stores the rule\'s value instead of the written one, and reports it', kernel(), async () => {
  const r = await guarded(policyHead('  - key: kernel.domainname\n    override: fixed.example\n  - key: net.core.somaxconn\n    override: "1024"\n'),
    `${W}w kernel/domainname attacker.example; w net/core/somaxconn 65535; echo y > /proc/sys/kernel/domainname; echo "short $(cat /proc/sys/kernel/domainname)"`);
  // A write shorter than the override still stores it; the syscall then returns the override's
  // length, more than was written, which some writers report as an error (docs/guard.md).
  assert.deepEqual(r.lines, ['kernel/domainname ok fixed.example', 'net/core/somaxconn ok 1024', 'short fixed.example']);
  const [e] = r.events;
  assert.equal(e?.reason, 'override');
  assert.equal(e?.verdict, 'allowed');
  assert.equal(e?.newValue, 'attacker.example');
});
