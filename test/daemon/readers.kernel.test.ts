// Any number of readers (issue #13): `sysward events -f` beside the daemon must not take events
// from it. A guard's ring buffer gives each event to one reader; the daemon says which guards it
// reads (/run/sysward/daemons/PID.json) and `sysward events` then follows its audit log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { readersOf } from '../../src/daemon/announce.js';
import { kernel, pythonExecutable } from '../helpers/env.js';
import { withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kernel: readers: sysward events -f beside the daemon sees every event and summary the daemon logs, and takes none from it', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-readers-'));
    const guard = `sw-test-readers-${process.pid}`;
    const log = join(dir, 'audit.jsonl');
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`);
    const d = new Daemon({ configDir: dir, stateDir: mkdtempSync(join(dir, 'state-')), eventsFile: log, listen: null, pollMs: 0, summaryMs: 200, log: () => {} });
    let cli: ReturnType<typeof spawn> | undefined;
    try {
      await d.start();
      const c = spawn(process.execPath, [bin, 'events', '-f', '--json', guard], { stdio: ['ignore', 'pipe', 'pipe'] });
      cli = c;
      let out = '', err = '';
      c.stdout!.on('data', (x) => { out += x; });
      const following = new Promise<void>((r) => c.stderr!.on('data', (x) => { err += x; if (err.includes('reading its audit log')) r(); }));
      await Promise.race([following, sleep(10_000)]);
      assert.match(err, /reads guard .*: reading its audit log/);
      // 40 refusals from separate processes (events), and a flood over the event rate (summaries).
      for (let i = 0; i < 40; i++) spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs; echo x${i} > /proc/sys/kernel/hostname`]);
      spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs && exec "$1" -c "$0"`, `import os
fd = os.open('/proc/sys/kernel/hostname', os.O_WRONLY)
for i in range(5000):
    try: os.write(fd, b'x')
    except PermissionError: pass`, pythonExecutable()]);
      await sleep(800);
      await d.stop();
      await sleep(500);
      const logged = readFileSync(log, 'utf8').trim().split('\n').filter((l) => l.includes(`"guard":"${guard}"`));
      const seen = out.trim().split('\n').filter(Boolean);
      const total = (lines: string[]) => lines.reduce((t, l) => { const e = JSON.parse(l) as { type?: string; count?: number }; return t + (e.type === 'summary' ? e.count! : 1); }, 0);
      assert.equal(total(logged), 5040, 'the daemon logged every refusal (events + summaries): events -f took none');
      assert.deepEqual(seen, logged, 'events -f printed what the daemon logged');
    } finally {
      cli?.kill('SIGINT');
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('kernel: readers: a daemon that starts while sysward events -f reads a guard\'s ring buffer takes it over, and every refusal after is in its log', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-handover-'));
    const guard = `sw-test-handover-${process.pid}`;
    const log = join(dir, 'audit.jsonl');
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`);
    const lines: string[] = [];
    const mk = () => new Daemon({ configDir: dir, stateDir: join(dir, 'state'), eventsFile: log, listen: null, pollMs: 0, summaryMs: 200, log: (l) => lines.push(l) });
    let d = mk();
    let cli: ReturnType<typeof spawn> | undefined;
    try {
      await d.start(); // applies the guard, which stays pinned when the daemon stops
      await d.stop();
      // No daemon reads the guard: events -f reads its ring buffer itself, and says so.
      const c = spawn(process.execPath, [bin, 'events', '-f', '--json', guard], { stdio: ['ignore', 'pipe', 'pipe'] });
      cli = c;
      let out = '', err = '';
      c.stdout!.on('data', (x) => { out += x; });
      c.stderr!.on('data', (x) => { err += x; });
      for (let i = 0; i < 100 && !readersOf(guard).includes(c.pid!); i++) await sleep(50);
      assert.deepEqual(readersOf(guard), [c.pid], 'events -f says it reads the ring buffer');
      d = mk();
      await d.start();
      for (let i = 0; i < 100 && !err.includes('now reads guard'); i++) await sleep(50);
      assert.match(err, new RegExp(`the daemon \\(pid ${process.pid}\\) now reads guard ${guard}: following its audit log`));
      assert.match(lines.join('\n'), new RegExp(`waiting for sysward events \\(pid ${c.pid}\\) to hand the events of guard ${guard} over`));
      assert.deepEqual(readersOf(guard), [], 'events -f no longer reads the ring buffer');
      // 20 refusals from separate processes: every one the daemon's, as an event or in a summary.
      for (let i = 0; i < 20; i++) spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs; echo h${i} > /proc/sys/kernel/hostname`]);
      await sleep(600);
      await d.stop();
      await sleep(400);
      const logged = readFileSync(log, 'utf8').trim().split('\n').filter((l) => l.includes(`"guard":"${guard}"`));
      const total = (ls: string[]) => ls.reduce((t, l) => { const e = JSON.parse(l) as { type?: string; count?: number }; return t + (e.type === 'summary' ? e.count! : 1); }, 0);
      assert.equal(total(logged), 20, 'the daemon logged every refusal: events -f took none after the handover');
      const seen = out.trim().split('\n').filter(Boolean);
      assert.deepEqual(seen.slice(-logged.length), logged, 'events -f printed them from the daemon\'s log');
    } finally {
      cli?.kill('SIGINT');
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
