// 5. CLI cold start (sysward guard ls, sysward probe, sysward --help) against `node -e 0` in the
//    same run, and the daemon's resident memory at rest and after an event storm.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../src/cgroup/hierarchy.js';
import { guardStatus, listGuards, removeGuard } from '../src/guard/runtime/apply.js';
import { buildC, repeat, withCgroup, type Stats } from './lib.js';

const bin = fileURLToPath(new URL('../../bin/sysward', import.meta.url));

const wallMs = (argv: string[]) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  if (r.error) throw r.error;
  return Number(process.hrtime.bigint() - t) / 1e6;
};

export interface StartRow { command: string; ms: Stats }
export interface DaemonMemory {
  restMiB: number; peakMiB: number; afterStormMiB: number; stormEvents: number;
  /** Refused writes as the guard's program counted them (every one an event). */
  refused: number;
  /** The storm's rate, and the daemon's CPU over it (cores). */
  stormWritesPerSec: number; stormCores: number;
  /** Audit log lines written, and events the kernel dropped and counted. */
  written: number; dropped: number;
}

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on Linux's ABI). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat, after the comm). */
const cpuTicks = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};

const rssMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

export async function benchCliDaemon(progress: (s: string) => void): Promise<{ start: StartRow[]; daemon: DaemonMemory }> {
  const start: StartRow[] = [];
  for (const [command, argv] of [
    ['node -e 0 (the floor)', [process.execPath, '-e', '0']],
    ['sysward --help', [bin, '--help']],
    ['sysward guard ls', [bin, 'guard', 'ls']],
    ['sysward probe', [bin, 'probe']],
    ['sysward cgroups', [bin, 'cgroups']],
    // The commands that read a policy (check, explain, test, run, guard apply) load yaml and zod.
    ['sysward check', [bin, 'check']],
  ] as [string, string[]][]) {
    wallMs(argv); // warm the page cache
    start.push({ command, ms: await repeat(() => wallMs(argv), { min: 7, max: 15, spread: 0.05 }) });
  }
  progress('cold start done');

  const writer = buildC('writer');
  const daemon = await withCgroup(async (cg) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-bench-cfg-'));
    const guard = `sysward-bench-daemon-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), cg)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    // As npm start and the systemd unit run it.
    const d = spawn(process.execPath, ['--max-semi-space-size=4', bin, 'daemon', '--config', dir, '--listen', 'none', '--events', join(dir, 'audit.jsonl')], { stdio: 'ignore' });
    try {
      // In force (pinned and attached) before the storm, then a moment to settle.
      for (let i = 0; i < 200 && !listGuards().includes(guard); i++) await new Promise((r) => setTimeout(r, 50));
      if (!listGuards().includes(guard)) throw new Error('the daemon did not apply its guard within 10 s');
      await new Promise((r) => setTimeout(r, 2000));
      const restMiB = rssMiB(d.pid!, 'VmRSS');
      const N = 300_000;
      // The daemon's own CPU time (utime + stime of its process) over the storm's wall time.
      const cpu0 = cpuTicks(d.pid!);
      const t0 = process.hrtime.bigint();
      spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg, writer, 'kernel/hostname', 'x', String(N)]);
      const stormS = Number(process.hrtime.bigint() - t0) / 1e9;
      const stormCores = (cpuTicks(d.pid!) - cpu0) / CLK_TCK / stormS;
      await new Promise((r) => setTimeout(r, 2000));
      const peakMiB = rssMiB(d.pid!, 'VmHWM');
      const afterStormMiB = rssMiB(d.pid!, 'VmRSS');
      const status = guardStatus(guard);
      const dropped = Number(status.droppedEvents);
      const refused = status.counters.reduce((t, c) => t + Number(c.refused), 0);
      // The reader may still be working through the ring buffer: wait (up to 10 s) for the log to
      // account for every event the kernel did not drop.
      const lines = () => readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).length;
      let written = lines();
      for (let i = 0; i < 40 && written + dropped < refused; i++) { await new Promise((r) => setTimeout(r, 250)); written = lines(); }
      return { restMiB, peakMiB, afterStormMiB, stormEvents: N, refused, stormWritesPerSec: N / stormS, stormCores, written, dropped };
    } finally {
      d.kill('SIGTERM');
      await new Promise((r) => d.on('close', r));
      removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  progress('daemon memory done');
  return { start, daemon };
}
