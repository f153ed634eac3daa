// Pressure: parsing, the kernel's files as the truth, hosts without PSI, and a PSI trigger that the
// kernel fires when a fresh cgroup's tasks fight for one CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PsiNotAvailableError, PsiTrigger, hasSysResource, parseDurationUs, parsePressure, readCgroupPressure, readSystemPressure,
} from '../../src/observe/psi.js';
import { moveToCgroup } from '../../src/cgroup/hierarchy.js';
import { withFreshCgroup } from '../helpers/cgroup.js';
import { kernel, needs, which } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const hasPsi = needs(existsSync('/proc/pressure/cpu') ? false : 'needs a kernel with PSI (/proc/pressure)');

test('CAP_SYS_RESOURCE from /proc/self/status decides the shortest trigger window', () => {
  assert.equal(hasSysResource('CapEff:\t000001ffffffffff\n'), true);
  assert.equal(hasSysResource('CapEff:\t000001fffeffffff\n'), false);
});

test('parsePressure: some and full lines; irq has only full', () => {
  const p = parsePressure('some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=42\n');
  assert.deepEqual(p.some, { avg10: 1.5, avg60: 0.25, avg300: 0, totalUs: 123456n });
  assert.equal(p.full!.totalUs, 42n);
  assert.equal(parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n').some, null);
  assert.equal(parseDurationUs('150ms'), 150_000);
  assert.equal(parseDurationUs('2s'), 2_000_000);
  assert.equal(parseDurationUs('500us'), 500);
  assert.equal(parseDurationUs('x'), undefined);
});

test('a host without PSI: a clear error naming the cause and the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-nopsi-'));
  try {
    assert.throws(() => readSystemPressure(dir), (e: unknown) => e instanceof PsiNotAvailableError && /CONFIG_PSI=y/.test((e as Error).message) && /psi=1/.test((e as Error).message));
    mkdirSync(join(dir, 'pressure'));
    assert.throws(() => readSystemPressure(dir), PsiNotAvailableError);
    writeFileSync(join(dir, 'pressure', 'cpu'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n');
    assert.equal(readSystemPressure(dir).cpu!.some!.totalUs, 1n);
    assert.deepEqual(readCgroupPressure(dir), {}); // a cgroup folder without pressure files
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('system pressure equals /proc/pressure (read back to back until the kernel held still)', hasPsi, () => {
  for (let attempt = 0; ; attempt++) {
    const before = Object.fromEntries(['cpu', 'memory', 'io'].map((r) => [r, readFileSync(`/proc/pressure/${r}`, 'utf8')]));
    const ours = readSystemPressure();
    const after = Object.fromEntries(['cpu', 'memory', 'io'].map((r) => [r, readFileSync(`/proc/pressure/${r}`, 'utf8')]));
    if (JSON.stringify(before) !== JSON.stringify(after) && attempt < 50) continue;
    for (const r of ['cpu', 'memory', 'io'] as const) assert.deepEqual(ours[r], parsePressure(after[r]!), r);
    // And the text itself: every number of every line.
    for (const r of ['cpu', 'memory', 'io'] as const) {
      for (const line of after[r]!.trim().split('\n')) {
        const [kind, ...kv] = line.split(' ');
        const l = ours[r]![kind as 'some' | 'full']!;
        const f = Object.fromEntries(kv.map((x) => x.split('=')));
        assert.equal(l.avg10.toFixed(2), f.avg10);
        assert.equal(l.avg60.toFixed(2), f.avg60);
        assert.equal(l.avg300.toFixed(2), f.avg300);
        assert.equal(String(l.totalUs), f.total);
      }
    }
    return;
  }
});

test('sysward psi --json: the system figures, and exit 1 with the reason where PSI is missing', hasPsi, () => {
  const r = spawnSync(bin, ['psi', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { source: string; pressure: Record<string, { some: { avg10: number; totalUs: number } }> }[];
  assert.equal(j[0]!.source, 'system');
  const cpuTotal = Number(parsePressure(readFileSync('/proc/pressure/cpu', 'utf8')).some!.totalUs);
  assert.ok(j[0]!.pressure.cpu!.some.totalUs <= cpuTotal, 'the total only grows');
  const live = spawnSync(bin, ['psi', '--interval', '0.2', '--count', '2', '--json'], { encoding: 'utf8' });
  assert.equal(live.status, 0, live.stderr);
  const lines = live.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(typeof lines[1].sources[0].pressure.cpu.some.stallPercent, 'number');
});

test('kernel: cgroup pressure equals the cgroup\'s files; a PSI trigger fires when its tasks contend for a CPU', kernel(), async () => {
  const taskset = which('taskset');
  await withFreshCgroup(async (cg) => {
    const files = () => Object.fromEntries(['cpu', 'memory', 'io'].map((r) => [r, readFileSync(join(cg, `${r}.pressure`), 'utf8')]));
    for (let attempt = 0; ; attempt++) {
      const a = files(), ours = readCgroupPressure(cg), b = files();
      if (JSON.stringify(a) !== JSON.stringify(b) && attempt < 50) continue;
      for (const r of ['cpu', 'memory', 'io'] as const) assert.deepEqual(ours[r], parsePressure(b[r]!), r);
      break;
    }
    // A 2 s window: allowed with or without CAP_SYS_RESOURCE (root here may lack it).
    const trigger = PsiTrigger.open({ resource: 'cpu', kind: 'some', thresholdUs: 100_000, windowUs: 2_000_000 }, { cgroupAbs: cg });
    // Two busy loops pinned to one CPU inside the cgroup: one always waits.
    const loops = [0, 1].map(() => spawn(taskset ? 'taskset' : 'sh', taskset ? ['-c', '0', 'sh', '-c', 'while :; do :; done'] : ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    try {
      for (const l of loops) moveToCgroup(cg, l.pid!);
      const started = Date.now();
      let ev;
      while (!ev && Date.now() - started < 10_000) ev = await trigger.next(1000);
      assert.ok(ev, 'the kernel signalled the trigger within 10 s');
      assert.equal(ev.spec.resource, 'cpu');
      assert.ok(ev.pressure!.some!.totalUs > 0n, 'stall time was recorded');
      const after = readCgroupPressure(cg).cpu!.some!;
      assert.ok(after.totalUs >= 100_000n, `at least the threshold stalled (${after.totalUs} µs)`);
    } finally {
      for (const l of loops) l.kill('SIGKILL');
      await trigger.close();
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

test('kernel: sysward psi --watch prints the event and stops after --count', kernel(), async () => {
  const taskset = which('taskset');
  await withFreshCgroup(async (cg) => {
    const loops = [0, 1].map(() => spawn(taskset ? 'taskset' : 'sh', taskset ? ['-c', '0', 'sh', '-c', 'while :; do :; done'] : ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    try {
      for (const l of loops) moveToCgroup(cg, l.pid!);
      const rel = `/${cg.split('/').pop()}`;
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(bin, ['psi', '--watch', 'cpu', '--cgroup', rel, '--threshold', '100ms', '--window', '2s', '--count', '1', '--timeout', '15', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        p.stdout.on('data', (d) => { stdout += d; });
        p.stderr.on('data', (d) => { stderr += d; });
        p.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      assert.equal(r.status, 0, r.stderr);
      const ev = JSON.parse(r.stdout.trim().split('\n')[0]!);
      assert.equal(ev.resource, 'cpu');
      assert.equal(ev.source, rel);
      assert.equal(ev.windowUs, 2_000_000);
    } finally {
      for (const l of loops) l.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
