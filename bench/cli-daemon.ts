// 5. CLI cold start of each kind of command against `node -e 0`, interleaved in the same run, and
//    the daemon's resident memory at rest and after an event storm.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../src/cgroup/hierarchy.js';
import { loadPolicyFile } from '../src/guard/policy/index.js';
import { applyGuard, guardStatus, listGuards, removeGuard } from '../src/guard/runtime/apply.js';
import { ambientNodeVars, buildC, START_ENV, stats, withCgroup, type Stats } from './lib.js';

const bin = fileURLToPath(new URL('../../bin/sysward', import.meta.url));

/** Wall time of one run of argv (in START_ENV unless told), in ms; a run that fails (status other
 * than 0 or 1) throws. */
const wallMs = (argv: string[], env: NodeJS.ProcessEnv = START_ENV) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.error) throw r.error;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${argv.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return ms;
};

/**
 * The command's minor page faults (memory it used for the first time; a fault on a file's pages
 * may map several), from its shell's /proc/PID/stat once the shell has waited for it (cminflt,
 * the faults of waited-for children): where a fault is costly (a VM), they are much of a cold start.
 */
const minorFaults = (argv: string[], env: NodeJS.ProcessEnv = START_ENV): number => {
  const r = spawnSync('sh', ['-c', '"$@" </dev/null >/dev/null 2>&1; s=$?; read -r stat < /proc/$$/stat; echo "$stat"; exit $s', 'sh', ...argv], { encoding: 'utf8', env });
  if (r.error) throw r.error;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${argv.join(' ')} exited with ${r.status ?? r.signal} (counting its page faults)`);
  const f = r.stdout.slice(r.stdout.lastIndexOf(')') + 2).split(' ');
  const n = Number(f[8]);
  if (!Number.isInteger(n)) throw new Error(`no cminflt in the shell's /proc/PID/stat: ${r.stdout}`);
  return n;
};

/**
 * What a page of anonymous memory used for the first time costs here, in µs: a fresh Node.js
 * process touches 2,000 pages of a buffer it has just allocated (mmap'ed, so none touched before).
 */
export function faultMicros(): number {
  const script = 'const n=2000,b=Buffer.allocUnsafeSlow(n*4096),t=process.hrtime.bigint();for(let i=0;i<b.length;i+=4096)b[i]=1;console.log(Number(process.hrtime.bigint()-t)/1e3/n)';
  const runs = Array.from({ length: 5 }, () => Number(spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: START_ENV }).stdout));
  return stats(runs).median;
}

/** Rounds of the cold-start table: each round runs every command once, so load on the machine
 * weighs on all of them alike. */
export const START_ROUNDS = 21;

export interface StartRow {
  command: string;
  /** What kind of command it stands for, for the misses list. */
  kind: 'floor' | 'help' | 'guard-ls' | 'check' | 'check-file' | 'explain' | 'cgroups' | 'probe' | 'snapshot' | 'ambient';
  ms: Stats;
  /** Pages touched for the first time (minor faults), the median of FAULT_ROUNDS runs. */
  faults: number;
  /**
   * Its time over `node -e 0`'s in the same round, the median over the rounds: a burst of load on
   * the machine weighs on both runs of a round, so this moves less than the ratio of the medians.
   */
  ratio: number;
}

const FAULT_ROUNDS = 5;
export interface DaemonMemory {
  restMiB: number; peakMiB: number; afterStormMiB: number; stormEvents: number;
  /** Refused writes as the guard's program counted them (every one an event). */
  refused: number;
  /** The storm's rate, and the daemon's CPU over it (cores). */
  stormWritesPerSec: number; stormCores: number;
  /** Refusals the audit log accounts for (events + summaries' counts), its event and summary lines, and events the kernel dropped and counted. */
  written: number; events: number; summaryLines: number; dropped: number;
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

/** Section 5: the cold-start table, then (unless `daemon` is false: `run.js cli-start`, which
 * starts no daemon) the daemon's memory and CPU under an event storm. */
/** Cgroups in the tree below `dir` and itself (what `sysward cgroups` lists); one removed meanwhile counts 0. */
const countCgroups = (dir: string): number => {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return 0; }
  return 1 + entries.filter((e) => e.isDirectory()).reduce((n, e) => n + countCgroups(join(dir, e.name)), 0);
};

export async function benchCliDaemon(progress: (s: string) => void, o: { daemon?: boolean } = {}): Promise<{ start: StartRow[]; cgroups: number; daemon?: DaemonMemory }> {
  // One of each kind: help only (the dispatcher), guards read through bpf(2) (koffi), a built-in
  // profile (check), a policy file (check -f: the YAML parser and the schema; explain -f: those,
  // the compiler and the interpreter), the cgroup tree (bpf(2) per cgroup), and probe (kernel
  // work: programs loaded and verified).
  const dir = mkdtempSync(join(tmpdir(), 'sysward-bench-cli-'));
  const policy = join(dir, 'no-escapes.yaml');
  writeFileSync(policy, 'name: no-escapes\nmode: enforce\ndefault: allow\nscope: { containers: true }\nrules:\n'
    + '  - keys: [kernel.core_pattern, kernel.modprobe]\n    action: deny\n  - key: net.core.somaxconn\n    range: [128, 65535]\n'
    + '  - key: net.ipv4.conf.*.forwarding\n    values: ["0"]\n');
  // A V8 startup snapshot that holds nothing (Node.js 20's --build-snapshot): what starting from
  // one costs before it holds any of sysward.
  const snapshot = join(dir, 'empty.blob');
  writeFileSync(join(dir, 'empty-snapshot.js'), "require('v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
  const built = spawnSync(process.execPath, ['--snapshot-blob', snapshot, '--build-snapshot', join(dir, 'empty-snapshot.js')], { encoding: 'utf8', env: START_ENV });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`node --build-snapshot failed: ${built.stderr || built.error}`);
  }
  // Each in START_ENV; beside them, when the bench's own environment has NODE_* variables, the
  // floor in that environment, to show what they cost every Node.js process.
  const commands: [string, StartRow['kind'], string[], NodeJS.ProcessEnv?][] = [
    ['node -e 0 (the floor)', 'floor', [process.execPath, '-e', '0']],
    ['sysward --help', 'help', [bin, '--help']],
    ['sysward guard ls', 'guard-ls', [bin, 'guard', 'ls']],
    ['sysward check', 'check', [bin, 'check']],
    ['sysward check -f POLICY', 'check-file', [bin, 'check', '-f', policy]],
    ['sysward explain -f POLICY KEY=VALUE', 'explain', [bin, 'explain', '-f', policy, 'kernel.core_pattern=|/tmp/x']],
    ['sysward cgroups', 'cgroups', [bin, 'cgroups']],
    ['sysward probe', 'probe', [bin, 'probe']],
    ['node --snapshot-blob EMPTY (a startup snapshot holding nothing)', 'snapshot', [process.execPath, '--snapshot-blob', snapshot]],
    ...(ambientNodeVars.length ? [[`node -e 0 with the bench's ${ambientNodeVars.join(', ')}`, 'ambient', [process.execPath, '-e', '0'], process.env] as [string, StartRow['kind'], string[], NodeJS.ProcessEnv]] : []),
  ];
  const samples = commands.map(() => [] as number[]);
  const faults = commands.map(() => [] as number[]);
  let cgroups = NaN;
  try {
    await withCgroup((cg) => {
      // guard ls lists at least one guard (its pins and counters read), whatever this host has.
      const listed = { ...loadPolicyFile(policy), name: `sysward-bench-ls-${process.pid}`, scope: { cgroups: [`/${relative(findCgroup2Mount(), cg)}`], containers: false, host: false, exempt: [] } };
      applyGuard(listed);
      cgroups = countCgroups(findCgroup2Mount());
      try {
        for (const [, , argv, env] of commands) wallMs(argv, env); // warm the page cache
        // Each round starts one command later, so that no command always follows the same one
        // (what a command leaves the kernel to do, or load that comes in waves, would otherwise
        // fall on the same command in every round; with a fixed order that was node -e 0).
        for (let round = 0; round < START_ROUNDS; round++) {
          for (let k = 0; k < commands.length; k++) {
            const i = (round + k) % commands.length;
            samples[i]!.push(wallMs(commands[i]![2], commands[i]![3]));
          }
        }
        // Apart from the timed rounds (the shell that counts them would add its own start).
        for (let round = 0; round < FAULT_ROUNDS; round++) commands.forEach(([, , argv, env], i) => faults[i]!.push(minorFaults(argv, env)));
      } finally {
        removeGuard(listed.name);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const start: StartRow[] = commands.map(([command, kind], i) => ({
    command, kind, ms: stats(samples[i]!), faults: stats(faults[i]!).median,
    ratio: stats(samples[i]!.map((t, round) => t / samples[0]![round]!)).median,
  }));
  progress('cold start done');
  if (o.daemon === false) return { start, cgroups };

  const writer = buildC('writer');
  const daemon = await withCgroup(async (cg) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-bench-cfg-'));
    const guard = `sysward-bench-daemon-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), cg)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    // As npm start and the systemd unit run it.
    const d = spawn(process.execPath, ['--max-semi-space-size=4', bin, 'daemon', '--config', dir, '--listen', 'none', '--events', join(dir, 'audit.jsonl'), '--state-dir', join(dir, 'state')], { stdio: 'ignore', env: START_ENV });
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
      // The daemon writes what it counted as summary lines every 10 s and when it stops: stop it,
      // then the log accounts for every refusal (events, and summaries by their count).
      d.kill('SIGTERM');
      await new Promise((r) => d.on('close', r));
      const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type?: string; count?: number });
      const events = lines.filter((l) => l.type !== 'summary').length;
      const summarised = lines.reduce((t, l) => t + (l.type === 'summary' ? l.count! : 0), 0);
      return { restMiB, peakMiB, afterStormMiB, stormEvents: N, refused, stormWritesPerSec: N / stormS, stormCores, written: events + summarised, events, summaryLines: lines.length - events, dropped };
    } finally {
      // (Stopped already after the storm, unless something failed before.)
      if (d.exitCode === null && d.signalCode === null) { d.kill('SIGTERM'); await new Promise((r) => d.on('close', r)); }
      removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  progress('daemon memory done');
  return { start, cgroups, daemon };
}
