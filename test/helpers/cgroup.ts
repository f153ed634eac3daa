// Fresh cgroups for kernel tests, removed after; children run inside them.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount, removeCgroup } from '../../src/cgroup/hierarchy.js';

/** Run `f` with a new cgroup under the v2 mount; the cgroup (and anything under it) is removed after. */
export async function withFreshCgroup<T>(f: (path: string) => T | Promise<T>): Promise<T> {
  const path = mkdtempSync(join(findCgroup2Mount(), 'sysward-test-'));
  try { return await f(path); } finally { removeCgroup(path); }
}

/**
 * Run a shell script as a child that first moves itself into `cgroup`, optionally in private
 * namespaces (`unshare: ['--uts']`) so the sysctls it writes are its own.
 */
export function shInCgroup(cgroup: string, script: string, unshare: string[] = []): SpawnSyncReturns<string> {
  const body = `echo $$ > ${cgroup}/cgroup.procs || exit 99\n${script}`;
  const argv = unshare.length ? ['unshare', ...unshare, 'sh', '-c', body] : ['sh', '-c', body];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
}

/** A private bpffs: everything pinned in it (links too) goes when it is unmounted. */
export function privateBpffs(): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sw-bpffs-'));
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t bpf: ${r.stderr}`);
  return { dir, done() { spawnSync('umount', [dir]); rmSync(dir, { recursive: true, force: true }); } };
}
