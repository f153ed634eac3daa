// cgroup v2: find the hierarchy (unified hosts: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified),
// create and remove cgroups, move tasks, map cgroup ids to paths.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { mountsOfType } from '../util/mounts.js';
import { closest } from '../util/suggest.js';

export class NoCgroupV2Error extends Error {
  override name = 'NoCgroupV2Error';
  constructor() {
    super('no cgroup v2 hierarchy is mounted: mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) or boot with systemd.unified_cgroup_hierarchy=1');
  }
}

/** The cgroup v2 mount point, preferring the conventional places when several exist. */
export function findCgroup2Mount(mountsText?: string): string {
  const mounts = mountsOfType('cgroup2', mountsText);
  for (const preferred of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) if (mounts.includes(preferred)) return preferred;
  if (mounts[0]) return mounts[0];
  throw new NoCgroupV2Error();
}

/** Hybrid: v1 controllers mounted beside a v2 hierarchy that has none. */
export const isHybrid = (mountsText?: string): boolean => mountsOfType('cgroup', mountsText).length > 0;

/** The cgroup v2 path of a process, relative to the mount ("/" for the root). */
export function cgroupOfPid(pid: number | 'self' = 'self'): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) throw new NoCgroupV2Error();
  return line.slice(3);
}

/** A cgroup's id is its kernfs inode number (what bpf_get_current_cgroup_id returns). */
export const cgroupId = (path: string): bigint => BigInt(statSync(path, { bigint: true }).ino);

/** Beside more cgroups than this (a node's pods), no near name is looked for: too slow to compare. */
const NEAR_CGROUP_MAX_SIBLINGS = 1000;

/**
 * For a cgroup path (relative to `mount`) that does not exist, the cgroup that does and differs
 * from it by a likely typo in one part (the first part that is missing, matched against the
 * cgroups beside it), as /system.slice/nginx.service for /system.slice/ngnix.service. Only a
 * cgroup owned by root, with a printable name: the hint is shown to an operator who may copy it,
 * and a delegated cgroup's owner chooses its name.
 */
export function nearCgroup(mount: string, path: string): string | undefined {
  const parts = path.split('/').filter(Boolean);
  let dir = mount;
  for (let i = 0; i < parts.length; i++) {
    const next = join(dir, parts[i]!);
    if (existsSync(next)) { dir = next; continue; }
    let names: string[];
    try { names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return undefined; }
    if (names.length > NEAR_CGROUP_MAX_SIBLINGS) return undefined;
    const near = closest(parts[i]!, names.filter((n) => /^[\x21-\x7e]+$/.test(n)));
    if (near === undefined) return undefined;
    const fixed = `/${[...parts.slice(0, i), near, ...parts.slice(i + 1)].join('/')}`;
    try { return statSync(join(mount, fixed)).uid === 0 ? fixed : undefined; } catch { return undefined; }
  }
  return undefined;
}

export function createCgroup(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/** Move a task into a cgroup (needs write access to its cgroup.procs). */
export function moveToCgroup(path: string, pid: number): void {
  writeFileSync(join(path, 'cgroup.procs'), `${pid}\n`);
}

export const cgroupProcs = (path: string): number[] =>
  readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

/**
 * Remove a cgroup and its descendants, deepest first. Tasks still inside are moved to `evacuateTo`
 * (default: the parent), since a cgroup with tasks cannot be removed.
 */
export function removeCgroup(path: string, evacuateTo?: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(path, e.name), evacuateTo ?? path);
  const target = evacuateTo ?? join(path, '..');
  for (const pid of cgroupProcs(path)) {
    try { moveToCgroup(target, pid); } catch { /* the task exited meanwhile */ }
  }
  for (let i = 0; ; i++) {
    try { rmdirSync(path); return; } catch (e) {
      // EBUSY while a just-exited task is still being reaped; give it a moment.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 50) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Walk all cgroups under `root` (root first). */
export function* walkCgroups(root: string): Generator<string> {
  yield root;
  let entries;
  try { entries = readdirSync(root, { withFileTypes: true }); } catch { return; }
  for (const e of entries) if (e.isDirectory()) yield* walkCgroups(join(root, e.name));
}

/** Map of cgroup id → path relative to the mount, for naming cgroups in events and listings. */
export function cgroupIdIndex(mount = findCgroup2Mount()): Map<bigint, string> {
  const index = new Map<bigint, string>();
  for (const p of walkCgroups(mount)) {
    try { index.set(cgroupId(p), `/${relative(mount, p)}`); } catch { /* removed meanwhile */ }
  }
  return index;
}
