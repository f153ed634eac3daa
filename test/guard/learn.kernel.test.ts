// sysward learn on the real kernel: a script writes sysctls in private UTS and network namespaces
// (the host's values are untouched); the policy learned from it lets the same script run with
// nothing refused, while an unseen value and an unseen key are refused (EPERM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGuarded } from '../../src/guard/runtime/run.js';
import { learningPolicy } from '../../src/guard/learn-run.js';
import { kernel } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000 });
const tmp = mkdtempSync(join(tmpdir(), 'sysward-learn-kernel-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const NS = ['unshare', '--uts', '--net'];
/** w KEY VALUE: write, print "KEY ok" or "KEY EPERM" (or the error). */
const W = 'w() { if printf "%s\\n" "$2" > /proc/sys/$1 2>/dev/null; then echo "$1 ok"; else echo "$1 refused"; fi; }\n';
// More values for one key in a burst than the guard's default event rate (10 a second per kind).
const HOSTNAMES = Array.from({ length: 15 }, (_, i) => `web-${i + 1}`);
const WORKLOAD = `${W}for h in ${HOSTNAMES.join(' ')}; do w kernel/hostname "$h"; done
w net/ipv4/tcp_syn_retries 4
w net/core/somaxconn 1024
w net/ipv4/ip_local_port_range "20000 40000"
cat /proc/sys/kernel/ostype >/dev/null`;

test('kernel: learn from a script; under the learned policy the script refuses nothing, an unseen value and an unseen key are refused', kernel(), () => {
  const policy = join(tmp, 'web.yaml');
  const r = sysward('learn', '-o', policy, '--json', '--', ...NS, 'sh', '-c', WORKLOAD);
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { writes: number; writesWithoutValue: number; keys: { key: string; rule: string; distinctValues: number }[] };
  assert.equal(json.writes, 18);
  assert.equal(json.writesWithoutValue, 0);
  assert.deepEqual(json.keys.map((k) => `${k.key} ${k.rule} ${k.distinctValues}`), [
    'kernel.hostname values 15', 'net.core.somaxconn values 1', 'net.ipv4.ip_local_port_range values 1', 'net.ipv4.tcp_syn_retries values 1',
  ]);
  const text = readFileSync(policy, 'utf8');
  // Every one of the 15 values, though the guard's default rate would show only 10 of them.
  for (const h of HOSTNAMES) assert.match(text, new RegExp(`^ {6}- "${h}"  # once$`, 'm'));
  assert.match(text, /- key: net.ipv4.ip_local_port_range\n    values:\n      - "20000 40000"\n    namespace: own\n/);
  assert.match(text, /# written 15 times \(15 values\) (at|from) .* by sh\n  # only from the writer's own UTS namespace: namespace: own refuses writes from the host's\n  - key: kernel.hostname\n/);
  // Written from private namespaces: the rules allow them only from a namespace of the writer's own.
  assert.equal(text.match(/^    namespace: own$/gm)?.length, 4);
  assert.doesNotMatch(text, /key: kernel.ostype/, 'reads are not learned without --reads');
  const t = sysward('test', join(tmp, 'web.test.yaml'));
  assert.equal(t.status, 0, t.stdout);

  // The same script under the learned policy: nothing refused.
  const again = sysward('run', '-f', policy, '--', ...NS, 'sh', '-c', WORKLOAD);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /refused/);
  assert.match(again.stderr, /: 0 refused, 0 audited; command exited with status 0/);
  // An unseen value of a learned key, and an unseen key.
  const unseen = sysward('run', '-f', policy, '--', ...NS, 'sh', '-c', `${W}w kernel/hostname web-16; w net/core/somaxconn 1025; w kernel/domainname learned; w net/ipv4/tcp_syn_retries 4`);
  assert.equal(unseen.status, 0, unseen.stderr);
  assert.deepEqual(unseen.stdout.trim().split('\n'), ['kernel/hostname refused', 'net/core/somaxconn refused', 'kernel/domainname refused', 'net/ipv4/tcp_syn_retries ok']);
  assert.match(unseen.stderr, /refused \(EPERM\) write kernel.hostname = "web-16".*: rule kernel.hostname \[value\]/);
  assert.match(unseen.stderr, /refused \(EPERM\) write kernel.domainname = "learned".*: rule default/);
});

test('kernel: the learning guard reports every write; the default event rate would hide values', kernel(), async () => {
  // 30 values: the default rate would show them all only if the loop took 3 seconds.
  const names = Array.from({ length: 30 }, (_, i) => `burst-${i + 1}`);
  const script = `${W}for h in ${names.join(' ')}; do w kernel/hostname "$h"; done >/dev/null`;
  // At the default rate (what `sysward run` and the daemon use) the kind (rule, key, cgroup, uid,
  // comm, verdict, reason) has no value in it: past 10 events a second the rest are counts only.
  const limited = await runGuarded(learningPolicy(false), [...NS, 'sh', '-c', script], { stdio: 'pipe' });
  const seen = new Set(limited.events.map((e) => e.newValue));
  assert.ok(limited.summaries.length > 0 && seen.size < names.length, `the default rate limit would hide values (saw ${seen.size} of ${names.length}); this test proves nothing otherwise`);
  assert.equal(limited.events.length + limited.summaries.reduce((t, s) => t + s.count, 0), names.length, 'events + summaries = every write');
  // The learning guard (eventsPerSecond 0): every value.
  const full = await runGuarded(learningPolicy(false), [...NS, 'sh', '-c', script], { stdio: 'pipe', eventsPerSecond: 0 });
  assert.deepEqual(full.events.map((e) => e.newValue), names);
  assert.deepEqual(full.summaries, []);
});

test('kernel: learn --reads: reads seen are allowed, an unseen read is refused; a failing command still leaves its policy (exit 1)', kernel(), () => {
  const policy = join(tmp, 'reads.yaml');
  const script = 'cat /proc/sys/kernel/ostype >/dev/null; printf "%s\\n" r1 > /proc/sys/kernel/hostname; exit 3';
  const r = sysward('learn', '-o', policy, '--reads', '--', ...NS, 'sh', '-c', script);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the command exited with status 3: the policy allows only what it did until then/);
  const text = readFileSync(policy, 'utf8');
  assert.match(text, /^default: \{ write: deny, read: deny \}$/m);
  assert.match(text, /# read (once|\d+ times) (at|from) .* by cat; never written\n  - key: kernel.ostype\n    action: deny\n    reads: allow\n/);
  assert.equal(sysward('test', join(tmp, 'reads.test.yaml')).status, 0);
  const run = sysward('run', '-f', policy, '-q', '--', ...NS, 'sh', '-c', 'cat /proc/sys/kernel/ostype >/dev/null && echo ostype ok; cat /proc/sys/kernel/osrelease >/dev/null 2>&1 || echo osrelease refused');
  assert.deepEqual(run.stdout.trim().split('\n'), ['ostype ok', 'osrelease refused']);
});
