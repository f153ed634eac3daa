// The daemon's reliability, as root on the real kernel: reloads under a write storm, kill -9 and
// adoption, exact event accounting past a full ring buffer, bad config files, the audit log
// reopened on SIGUSR1 and reported by /healthz while it cannot be written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { queryCgroup } from '../../src/bpf/link.js';
import { guardStatus, listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { kernel, pythonExecutable } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const quiet = () => {};

function policy(guard: string, cg: string, extra = ''): string {
  return `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${cg}]\nrules:\n  - key: kernel.hostname\n    action: deny\n${extra}`;
}

/**
 * A writer in `abs` (private UTS namespace): loops refused writes (hostname) and allowed ones
 * (domainname) with python3, printing "LEAK" / "FAIL" on a wrong outcome, then "done N". It stops
 * after `seconds`, or as soon as `stopFile` exists.
 */
function writer(abs: string, seconds: number, stopFile = '/nonexistent'): ChildProcess & { out: Promise<string>; started: Promise<void> } {
  const py = `import os, time
end = time.time() + ${seconds}; n = 0
while time.time() < end and not (n % 16 == 0 and os.path.exists(${JSON.stringify(stopFile)})):
    for key, want_ok in (('hostname', False), ('domainname', True)):
        fd = os.open('/proc/sys/kernel/' + key, os.O_WRONLY)
        try:
            os.write(fd, b'w%d' % n); ok = True
        except PermissionError:
            ok = False
        finally:
            os.close(fd)
        if ok != want_ok: print('LEAK' if ok else 'FAIL', key, flush=True)
    if n == 0: print('started', flush=True)
    n += 1
print('done', n, flush=True)`;
  const c = spawn('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs && exec "$1" -c "$0"`, py, pythonExecutable()], { stdio: ['ignore', 'pipe', 'inherit'] }) as ChildProcess & { out: Promise<string>; started: Promise<void> };
  let out = '';
  let onStart = () => {};
  c.started = new Promise((r) => { onStart = r; });
  c.stdout!.on('data', (d) => { out += d; if (out.includes('started\n')) onStart(); });
  c.out = new Promise((r) => c.on('close', () => r(out)));
  return c;
}

const relCg = (abs: string) => `/${relative(findCgroup2Mount(), abs)}`;

/**
 * A started daemon guarding a fresh cgroup (kernel.hostname refused), its config and audit log in
 * a temporary folder; all removed after `f`.
 */
async function withGuardedCgroup(tag: string, o: DaemonOptions, f: (t: { d: Daemon; abs: string; guard: string; log: string }) => Promise<void>): Promise<void> {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-${tag}-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(abs)));
    const log = join(dir, 'audit.jsonl');
    const d = new Daemon({ configDir: dir, listen: null, pollMs: 0, eventsFile: log, log: quiet, ...o });
    try {
      await d.start();
      await f({ d, abs, guard, log });
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('kernel: daemon: hundreds of reloads under a write storm let no refused write through and fail no allowed one', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-reload-${process.pid}`;
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy(guard, relCg(abs)));
    // settleMs 0: each version widens a range, a change that otherwise waits for the config to
    // settle (a file read half-written must not lift refusals); here every reload must apply.
    const d = new Daemon({ configDir: dir, listen: null, pollMs: 0, settleMs: 0, log: quiet });
    try {
      await d.start();
      // A fixed number of reloads (not a time window: a loaded machine reloads slower, and the
      // test is about what leaks, not how fast), with writes going on throughout.
      const stop = join(dir, 'stop');
      const w = writer(abs, 120, stop);
      await w.started;
      let reloads = 0;
      while (reloads < 150) {
        // Each version differs, so each reload really replaces the program.
        writeFileSync(file, policy(guard, relCg(abs), `  - key: vm.swappiness\n    range: [0, ${100 + reloads}]\n`));
        const r = await d.reload('test');
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.applied, [guard]);
        reloads++;
        await new Promise((res) => setImmediate(res));
      }
      writeFileSync(stop, '');
      const out = await w.out;
      assert.match(out, /^started\ndone \d+\n$/, out);
      assert.equal(queryCgroup(abs, 'CGROUP_SYSCTL').programIds.length, 1);
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('kernel: daemon: kill -9 leaves the guard enforcing; a new daemon adopts it without attaching twice', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-kill-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(abs)));
    const daemons: ChildProcess[] = [];
    const start = () => { const p = spawn(bin, ['daemon', '--config', dir, '--listen', 'none', '--events', 'none', '--state-dir', `${dir}-state`], { stdio: 'ignore' }); daemons.push(p); return p; };
    const waitFor = async (f: () => boolean) => { for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25)); assert.ok(f()); };
    try {
      const first = start();
      await waitFor(() => listGuards().includes(guard) && queryCgroup(abs, 'CGROUP_SYSCTL').programIds.length === 1);
      const prog = queryCgroup(abs, 'CGROUP_SYSCTL').programIds;
      const w = writer(abs, 2);
      await new Promise((r) => setTimeout(r, 300));
      first.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      const second = start();
      const out = await w.out;
      assert.match(out, /^started\ndone \d+\n$/, out);
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, prog, 'adopted: same program, one attachment');
      second.kill('SIGTERM');
      await new Promise((r) => second.on('close', r));
      assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, prog, 'SIGTERM leaves the guard');
    } finally {
      // A daemon left running would put the guard back after the test removed it.
      for (const p of daemons) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await Promise.all(daemons.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.on('close', r)) : undefined)));
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}-state`, { recursive: true, force: true });
    }
  });
});

test('kernel: daemon: a storm larger than the ring buffer is accounted for exactly (events + summaries + dropped)', kernel(), async () => {
  await withGuardedCgroup('storm', {}, async ({ d, abs, guard, log }) => {
    const N = 20000;
    const r = spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs && exec "$1" -c "$0"`, `import os
fd = os.open('/proc/sys/kernel/hostname', os.O_WRONLY)
for i in range(${N}):
    try: os.write(fd, b'x')
    except PermissionError: pass`, pythonExecutable()], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 300));
    await d.stop();
    // Each line is an event, or a summary of `count` refusals not sent as events (over the
    // per-kind event rate): with what the kernel dropped and what the log failed, all of them.
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type?: string; count?: number });
    const written = lines.reduce((t, l) => t + (l.type === 'summary' ? l.count! : 1), 0);
    const s = guardStatus(guard);
    const refused = s.counters.find((c) => c.rule === 'kernel.hostname')!.refused;
    assert.equal(refused, BigInt(N));
    assert.equal(BigInt(written) + s.droppedEvents + BigInt(d.audit.failed), BigInt(N), `written ${written} dropped ${s.droppedEvents}`);
    assert.ok(lines.length < 100, `a storm is a few lines (${lines.length})`);
  });
});

test('kernel: daemon: malformed and unreadable files and a vanished config dir keep the last good policy', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-bad-${process.pid}`;
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy(guard, relCg(abs)));
    const lines: string[] = [];
    const d = new Daemon({ configDir: dir, listen: null, pollMs: 0, log: (l) => lines.push(l) });
    const refusing = () => /Operation not permitted/.test(spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs; /bin/echo x 2>&1 > /proc/sys/kernel/hostname`], { encoding: 'utf8' }).stdout);
    try {
      await d.start();
      const prog = queryCgroup(abs, 'CGROUP_SYSCTL').programIds;
      writeFileSync(file, `name: ${guard}\nrules:\n  - key: kernel.hostname\n    action: alow\n`);
      let r = await d.reload('test');
      assert.match(r.errors.join('\n'), /p\.yaml:4:13: action "alow" is not one of allow, deny, audit/);
      assert.match(lines.join('\n'), new RegExp(`rejected .*p\\.yaml; guard ${guard} keeps the last good policy`));
      assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, prog);
      assert.ok(refusing());
      writeFileSync(file, policy(guard, relCg(abs)));
      chmodSync(file, 0);
      // Root reads a mode-0 file; make it unreadable for real by making it a directory.
      rmSync(file);
      spawnSync('mkdir', [file]);
      r = await d.reload('test');
      assert.ok(r.errors.length > 0);
      assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, prog);
      const moved = `${dir}-gone`;
      renameSync(dir, moved);
      r = await d.reload('test');
      assert.ok(listGuards().includes(guard), 'the guard stays when the config dir is gone');
      assert.ok(refusing());
      renameSync(moved, dir);
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
      if (existsSync(`${dir}-gone`)) rmSync(`${dir}-gone`, { recursive: true, force: true });
    }
  });
});

test('kernel: daemon: a new container cgroup is guarded as it appears; metrics and health answer on loopback', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-ct-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { containers: true }\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    const d = new Daemon({ configDir: dir, listen: { host: '127.0.0.1', port: 0 }, pollMs: 0, log: quiet });
    try {
      await d.start();
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        const ct = join(abs, `docker-${String(i).repeat(64)}.scope`);
        const t0 = process.hrtime.bigint();
        mkdirSync(ct);
        // Polled, not slept on, so the delay is measured; a loaded machine gets 5 s.
        let attached = false;
        const deadline = Date.now() + 5000;
        while (!attached && Date.now() < deadline) {
          attached = queryCgroup(ct, 'CGROUP_SYSCTL').programIds.length === 1;
          if (!attached) await new Promise((r) => setImmediate(r));
        }
        assert.ok(attached, `container ${i} guarded`);
        delays.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const w = spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${ct}/cgroup.procs; /bin/echo x 2>&1 > /proc/sys/kernel/hostname`], { encoding: 'utf8' });
        assert.match(w.stdout, /Operation not permitted/);
      }
      process.stdout.write(`# new container guarded after ${delays.map((x) => x.toFixed(1)).join(', ')} ms\n`);
      const base = `http://127.0.0.1:${d.port}`;
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.ok((await health.json() as { guards: string[] }).guards.includes(guard));
      await new Promise((r) => setTimeout(r, 100));
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /sysward_containers_guarded_total 5/);
      assert.match(metrics, new RegExp(`sysward_events_total\\{guard="${guard}",verdict="refused",key="kernel.hostname",rule="kernel.hostname"\\} 5`));
      assert.match(metrics, new RegExp(`sysward_rule_decisions\\{guard="${guard}",rule="kernel.hostname",verdict="refused"\\} 5`));
      assert.match(metrics, new RegExp(`sysward_guard_cgroups\\{guard="${guard}"\\} 5`));
      assert.match(metrics, /sysward_reloads_total\{result="success"\} 1/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('kernel: daemon: SIGUSR1 reopens the audit log; while it cannot be written /healthz is 503 and says why', kernel(), async () => {
  const said: string[] = [];
  await withGuardedCgroup('log', { listen: { host: '127.0.0.1', port: 0 }, log: (l) => said.push(l) }, async ({ d, abs, log }) => {
    const refused = () => assert.match(shInCgroup(abs, '/bin/echo x > /proc/sys/kernel/hostname', ['--uts']).stderr, /Operation not permitted/);
    const until = async (what: string, ok: () => boolean) => {
      for (const deadline = Date.now() + 5000; !ok(); await new Promise((r) => setTimeout(r, 20))) assert.ok(Date.now() < deadline, `waited 5 s for ${what}`);
    };
    const healthz = async () => { const r = await fetch(`http://127.0.0.1:${d.port}/healthz`); return { code: r.status, body: await r.json() as { status: string; events: { problem: string | null } } }; };
    const count = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean).length;
    refused();
    await until('the first event written', () => d.audit.written === 1);
    renameSync(log, `${log}-1`);
    process.kill(process.pid, 'SIGUSR1');
    await until('FILE made again on SIGUSR1', () => existsSync(log));
    assert.ok(said.includes('SIGUSR1: reopening the audit log'));
    refused();
    await until('the second event written', () => d.audit.written === 2);
    assert.deepEqual([count(`${log}-1`), count(log)], [1, 1]);
    // A directory where the file was: the log cannot be opened again.
    renameSync(log, `${log}-2`);
    mkdirSync(log);
    refused();
    await until('the third event counted as failed', () => d.audit.failed === 1);
    let h = await healthz();
    assert.deepEqual([h.code, h.body.status], [503, 'audit log not written']);
    assert.match(h.body.events.problem ?? '', /EISDIR/);
    assert.match(await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text(), /sysward_events_log_failures_total 1/);
    rmSync(log, { recursive: true });
    refused();
    await until('the fourth event written', () => d.audit.written === 3);
    h = await healthz();
    assert.deepEqual([h.code, h.body.status, h.body.events.problem], [200, 'ok', null]);
    assert.equal(said.filter((l) => /cannot write|written again/.test(l)).length, 2, said.join('\n'));
  });
});

test('kernel: daemon: an event read by a summary pass is in the log at once, not when the next batch comes', kernel(), async () => {
  // Summary passes drain each ring buffer first; what they read was queued and written only with
  // the reader's next batch, so a lone refused write could be missing from the log for as long as
  // no other event came. Passes every 2 ms make a pass take the record about as often as the reader.
  await withGuardedCgroup('sumflush', { summaryMs: 2 }, async ({ d, abs }) => {
    for (let i = 1; i <= 12; i++) {
      assert.match(shInCgroup(abs, '/bin/echo x > /proc/sys/kernel/hostname', ['--uts']).stderr, /Operation not permitted/);
      for (const deadline = Date.now() + 3000; d.audit.written < i; await new Promise((r) => setTimeout(r, 10))) {
        assert.ok(Date.now() < deadline, `refused write ${i}: ${d.audit.written} events written after 3 s`);
      }
      // Under the kernel's 10 events a second per kind.
      await new Promise((r) => setTimeout(r, 110));
    }
  });
});

test('kernel: daemon: refuses clearly where the host cannot be guarded (not root)', kernel(), () => {
  // Root is needed to start a process as another user.
  const r = spawnSync(bin, ['daemon', '--listen', 'none'], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /sysward daemon: daemon needs root: it loads eBPF programs.*run it with sudo/);
});
