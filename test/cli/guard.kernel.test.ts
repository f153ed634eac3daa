// The guard commands as a user runs them: the guard outlives the CLI, re-applying replaces it
// with no unguarded moment, a bad policy leaves the guard in force untouched, rm removes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { queryCgroup } from '../../src/bpf/link.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'sysward-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const policyFile = (name: string, text: string) => { const p = join(tmp, name); writeFileSync(p, text); return p; };
const guardPolicy = (guard: string, cg: string, key: string) => `name: ${guard}\nmode: enforce\ndefault: allow\nscope:\n  cgroups: [${cg}]\nrules:\n  - key: ${key}\n    action: deny\n`;
const tryWrite = (cg: string, key: string) => shInCgroup(cg, `/bin/echo x 2>&1 > /proc/sys/${key} && echo ok || true`, ['--uts']).stdout.trim();

test('kernel: guard apply survives the CLI, re-apply swaps atomically, a bad policy changes nothing, rm removes it', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const cg = `/${relative(findCgroup2Mount(), abs)}`;
    const guard = `sw-test-${process.pid}`;
    try {
      const first = sysward('guard', 'apply', '-f', policyFile('a.yaml', guardPolicy(guard, cg, 'kernel.hostname')));
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`guard ${guard} applied: 1 rules.*\\n  attached to ${cg}`));
      // The CLI has exited; the guard holds.
      assert.match(tryWrite(abs, 'kernel/hostname'), /Operation not permitted/);
      assert.equal(tryWrite(abs, 'kernel/domainname'), 'ok');

      // Re-apply while a writer hammers the old key: no write gets through during the swap.
      const hammer = spawn('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs; n=0; while [ $n -lt 400 ]; do /bin/echo x > /proc/sys/kernel/hostname 2>/dev/null && echo LEAK; n=$((n+1)); done; echo done`], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      hammer.stdout.on('data', (d) => { out += d; });
      const both = policyFile('b.yaml', `${guardPolicy(guard, cg, 'kernel.hostname')}  - key: kernel.domainname\n    action: deny\n`);
      const second = sysward('guard', 'apply', '-f', both);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`guard ${guard} replaced: 2 rules.*\\n  updated on ${cg}`));
      await new Promise((r) => hammer.on('close', r));
      assert.equal(out.trim(), 'done', 'no write got through while the guard was replaced');
      assert.match(tryWrite(abs, 'kernel/domainname'), /Operation not permitted/);
      assert.equal(queryCgroup(abs, 'CGROUP_SYSCTL').programIds.length, 1, 'the link was updated, not doubled');

      // A broken policy: exit 2, the error names the line, the guard in force is untouched.
      const broken = sysward('guard', 'apply', '-f', policyFile('c.yaml', `name: ${guard}\nscope:\n  cgroups: [${cg}]\nrules:\n  - key: kernel.hostname\n    action: alow\n`));
      assert.equal(broken.status, 2);
      assert.match(broken.stderr, /c\.yaml:6:13: action "alow" is not one of allow, deny, audit; did you mean allow\?/);
      assert.match(tryWrite(abs, 'kernel/domainname'), /Operation not permitted/);

      const ls = sysward('guard', 'ls', guard, '--json');
      assert.equal(ls.status, 0, ls.stderr);
      const [status] = JSON.parse(ls.stdout);
      assert.deepEqual(status.cgroups.map((c: { path: string }) => c.path), [cg]);
      const host = status.counters.find((c: { rule: string }) => c.rule === 'kernel.hostname');
      const dom = status.counters.find((c: { rule: string }) => c.rule === 'kernel.domainname');
      assert.ok(dom.refused >= 2, `domainname refused ${dom.refused}`);
      assert.ok(host.refused > 0, 'the hammer\'s refused writes under the new program are counted');

      // events: what the guards recorded, as JSON lines, naming key and attempted value.
      const ev = sysward('events', guard, '--json');
      assert.equal(ev.status, 0, ev.stderr);
      const events = ev.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.ok(events.some((e) => e.key === 'kernel.domainname' && e.newValue === 'x' && e.verdict === 'refused' && e.cgroup === cg));

      const rm = sysward('guard', 'rm', guard);
      assert.equal(rm.status, 0, rm.stderr);
      assert.equal(tryWrite(abs, 'kernel/hostname'), 'ok');
      assert.equal(queryCgroup(abs, 'CGROUP_SYSCTL').programIds.length, 0);
      assert.equal(sysward('guard', 'rm', guard).status, 2);
    } finally {
      sysward('guard', 'rm', guard);
    }
  });
});

test('kernel: guard apply of a scope that does not exist is bad input and applies nothing', kernel(), () => {
  const r = sysward('guard', 'apply', '-f', policyFile('d.yaml', guardPolicy('sw-test-missing', '/no-such-cgroup-here', 'kernel.hostname')));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /scope cgroup \/no-such-cgroup-here does not exist/);
  assert.ok(!existsSync('/sys/fs/bpf/sysward/guards/sw-test-missing'));
});

test('kernel: guard apply of a scope path with a typo names the cgroup it likely meant', kernel(), () => withFreshCgroup((top) => {
  mkdirSync(join(top, 'nginx.service'));
  const rel = `/${relative(findCgroup2Mount(), top)}`;
  const r = sysward('guard', 'apply', '-f', policyFile('t.yaml', guardPolicy('sw-test-typo', `${rel}/ngnix.service`, 'kernel.hostname')));
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`scope cgroup ${rel}/ngnix\\.service does not exist under \\S+; did you mean ${rel}/nginx\\.service\\?; create it, or fix the path`));
  assert.ok(!existsSync('/sys/fs/bpf/sysward/guards/sw-test-typo'));
}));

test('kernel: sysward run exits with the command\'s status and reports the refused write', kernel(), () => {
  const p = policyFile('e.yaml', 'name: no-core\ndefault: allow\nscope: { host: true }\nrules:\n  - key: kernel.core_pattern\n    action: deny\n');
  const before = spawnSync('cat', ['/proc/sys/kernel/core_pattern'], { encoding: 'utf8' }).stdout;
  const events = join(tmp, 'events.jsonl');
  const r = spawnSync(bin, ['run', '-f', p, '--events', events, '--', 'sh', '-c', 'echo x > /proc/sys/kernel/core_pattern'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /refused \(EPERM\) write kernel\.core_pattern = "x"/);
  assert.match(r.stderr, /no-core: 1 refused, 0 audited; command exited with status 1/);
  assert.equal(spawnSync('cat', ['/proc/sys/kernel/core_pattern'], { encoding: 'utf8' }).stdout, before);
  const [e] = spawnSync('cat', [events], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(e.key, 'kernel.core_pattern');
  assert.equal(e.newValue, 'x');
  assert.equal(sysward('run', '-f', p, '--', 'sh', '-c', 'exit 7').status, 7);
  assert.ok(!readdirSync(findCgroup2Mount()).some((d) => d.startsWith('sysward-run-')), 'the cgroup was removed');
});

test('kernel: an exempt cgroup (and what is below it) is not guarded; its siblings are', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const cg = `/${relative(findCgroup2Mount(), abs)}`;
    const guard = `sw-test-exempt-${process.pid}`;
    const exempt = join(abs, 'admin');
    const below = join(exempt, 'shell');
    const other = join(abs, 'app');
    for (const d of [exempt, below, other]) spawnSync('mkdir', ['-p', d]);
    try {
      const p = policyFile('x.yaml', `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${cg}]\n  exempt: [${cg}/admin]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
      const r = sysward('guard', 'apply', '-f', p);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(tryWrite(exempt, 'kernel/hostname'), 'ok');
      assert.equal(tryWrite(below, 'kernel/hostname'), 'ok');
      assert.match(tryWrite(other, 'kernel/hostname'), /Operation not permitted/);
      assert.match(tryWrite(abs, 'kernel/hostname'), /Operation not permitted/);
    } finally { sysward('guard', 'rm', guard); }
  });
});

test('kernel: a guard whose program cannot be built leaves nothing behind (no pin folder)', kernel(), async () => {
  const { applyGuard, guardsDir } = await import('../../src/guard/runtime/apply.js');
  const { parsePolicy } = await import('../../src/guard/policy/index.js');
  await withFreshCgroup((abs) => {
    const guard = `sw-test-nothing-${process.pid}`;
    const policy = parsePolicy(guardPolicy(guard, `/${relative(findCgroup2Mount(), abs)}`, 'kernel.hostname'), 'p.yaml');
    // A rule the parser would refuse, made by hand: the compiler refuses it inside applyGuard.
    const bad = { ...policy, rules: [{ ...policy.rules[0]!, action: 'allow' as const, override: 'x'.repeat(100_000) }] };
    assert.throws(() => applyGuard(bad), /an override must be 1 to \d+ bytes/);
    assert.equal(existsSync(join(guardsDir(), guard)), false, 'no folder left in bpffs');
    assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, []);
  });
});
