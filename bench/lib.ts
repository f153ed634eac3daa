// Benchmark plumbing: repeat until the spread is small, summarise, build the C helpers, run a
// command inside a fresh cgroup. Benchmarks never gate tests; they only measure.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount, removeCgroup } from '../src/cgroup/hierarchy.js';
import { listGuards, removeGuard } from '../src/guard/runtime/apply.js';

export interface Stats { min: number; median: number; max: number; n: number }

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)!, n: s.length };
}

/**
 * Run `sample` at least `min` times and until the middle half of the samples lies within
 * `spread` of the median (or `max` samples): stable figures without a fixed, guessed count.
 */
export async function repeat(sample: () => number | Promise<number>, o: { min?: number; max?: number; spread?: number } = {}): Promise<Stats> {
  const xs: number[] = [];
  const min = o.min ?? 5, max = o.max ?? 15, spread = o.spread ?? 0.05;
  while (xs.length < max) {
    xs.push(await sample());
    if (xs.length >= min) {
      const s = [...xs].sort((a, b) => a - b);
      const q1 = s[Math.floor(s.length / 4)]!, q3 = s[Math.floor((s.length * 3) / 4)]!, med = s[Math.floor(s.length / 2)]!;
      if (med === 0 || (q3 - q1) / med <= spread) break;
    }
  }
  return stats(xs);
}

export const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));

/**
 * The environment of every process whose start is timed (sections 5 and 11; the floor and bpftool
 * too): PATH and HOME alone, as on a plain host. Node.js reads NODE_* variables as it starts, and
 * a shell may set costly ones: NODE_EXTRA_CA_CERTS (set by some CI images and developer setups)
 * makes every Node.js process parse that file's certificates before running anything, ~40 ms here
 * for Debian's bundle, which would dilute every ratio to `node -e 0`. SYSWARD_* settings stay out
 * too, so each command runs on its defaults.
 */
export const START_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
};
/** The NODE_* variables the bench itself runs with, which START_ENV leaves out (NODE_ENV aside). */
export const ambientNodeVars = Object.keys(process.env).filter((k) => k.startsWith('NODE_') && k !== 'NODE_ENV').sort();
const buildDir = mkdtempSync(join(tmpdir(), 'sysward-bench-'));
process.on('exit', () => rmSync(buildDir, { recursive: true, force: true }));

/** Compile bench/c/NAME.c with cc (user space) and return the binary's path. */
export function buildC(name: string, libs: string[] = []): string {
  const out = join(buildDir, name);
  execFileSync('cc', ['-O2', '-o', out, join(benchDir, 'c', `${name}.c`), ...libs], { stdio: 'inherit' });
  return out;
}

/** Compile bench/c/NAME.bpf.c with clang -O2 -target bpf, as libbpf users do. */
export function buildBpf(name: string): string {
  const out = join(buildDir, `${name}.bpf.o`);
  const arch = process.arch === 'x64' ? 'x86' : process.arch;
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I/usr/include/x86_64-linux-gnu', '-c', join(benchDir, 'c', `${name}.bpf.c`), '-o', out], { stdio: 'inherit' });
  return out;
}

/** Cgroups made by withCgroup and not removed yet. */
const liveCgroups = new Set<string>();

/**
 * What a run leaves when it ends before its `finally` blocks run (an exception at the top level,
 * an await that never settles: Node.js exits with 13 then): this run's cgroups, and the guards it
 * applied (named after its pid), which may have a follower on the root cgroup.
 */
process.on('exit', () => {
  for (const abs of liveCgroups) { try { removeCgroup(abs); } catch { /* best effort */ } }
  for (const name of listGuards()) {
    if (name.endsWith(`-${process.pid}`) && /^(sysward|sw)-bench-/.test(name)) { try { removeGuard(name); } catch { /* best effort */ } }
  }
});

/** A fresh cgroup for the duration of `f`, removed after. */
export async function withCgroup<T>(f: (abs: string) => T | Promise<T>): Promise<T> {
  const abs = mkdtempSync(join(findCgroup2Mount(), 'sysward-bench-'));
  liveCgroups.add(abs);
  try { return await f(abs); } finally { removeCgroup(abs); liveCgroups.delete(abs); }
}

/** Pinned to one CPU, a writer's figures do not depend on where the scheduler puts it. */
const pin = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).stdout.trim() ? ['taskset', '-c', '0'] : [];

/** Run argv in `cgroup` inside private UTS / network namespaces; returns stdout. */
export function runIn(cgroup: string, argv: string[]): string {
  const r = spawnSync('unshare', ['--uts', '--net', 'sh', '-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cgroup, ...pin, ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface WriterResult { count: number; ok: number; refused: number; minNs: number; p50Ns: number; p99Ns: number; maxNs: number; totalNs: number }

export function parseWriter(out: string): WriterResult {
  const [count, ok, refused, minNs, p50Ns, p99Ns, maxNs, totalNs] = out.trim().split(' ').map(Number);
  return { count: count!, ok: ok!, refused: refused!, minNs: minNs!, p50Ns: p50Ns!, p99Ns: p99Ns!, maxNs: maxNs!, totalNs: totalNs! };
}

export const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
export const fmtStats = (s: Stats, unit = '', digits = 2) => `${fmt(s.median, digits)}${unit} (min ${fmt(s.min, digits)}, max ${fmt(s.max, digits)}, n=${s.n})`;
