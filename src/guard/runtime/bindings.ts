// The follower's bindings: which mount namespaces a guard follows. A task found in a guarded
// cgroup (or below it) with a mount namespace other than the host's binds that namespace to the
// cgroup (its container's, below a target that holds containers); the follower on the root cgroup
// then applies the guard to every task of the namespace that is no longer below that cgroup (it
// moved itself out). A binding lasts while any thread still has the namespace (a task that left
// its container outlives it); then it goes, so the map holds live containers only. Reads only
// /proc and the cgroup tree; changes only the guard's bound map (held by its pin).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { bytes, u64 } from '../../bpf/codec.js';
import { SysError } from '../../bpf/sys/index.js';
import { Bind, BOUND_MAX } from '../compiler/abi.js';
import { mountNamespaceOf } from './namespaces.js';
import { classifyCgroup } from '../../cgroup/containers.js';
import { cgroupId } from '../../cgroup/hierarchy.js';

/** How a process's mount namespace is keyed in the bound map (namespaces.ts mountNamespaceKey). */
export type NamespaceKey = (pid: number) => bigint | undefined;

export interface BindTarget { path: string; abs: string; id: bigint }

export interface BindResult {
  /** Namespaces bound now. */
  bound: number;
  added: number;
  removed: number;
  /** Namespaces that could not be bound: the map is full (BOUND_MAX). */
  refused: number;
  /** Guarded cgroups whose tree was too large to walk whole (MAX_CGROUPS, MAX_TASKS): some tasks there may not be bound. */
  truncated: string[];
}

/** Most cgroups walked below one guarded cgroup, and most tasks read from one cgroup: a bound on hostile trees. */
const MAX_CGROUPS = 4096;
const MAX_TASKS = 65536;

interface Found { tid: number; cgroup: { path: string; id: bigint } }

/**
 * The threads in a cgroup and its descendants (cgroup.threads: a thread may have a mount
 * namespace of its own), each with the cgroup it binds to: the container cgroup it is in, when
 * the target holds containers (/kubepods.slice, /docker), else the target itself.
 */
function tasksBelow(t: BindTarget, exempt: readonly string[]): { found: Found[]; truncated: boolean } {
  const found: Found[] = [];
  const queue: { abs: string; rel: string; bindTo: { path: string; id: bigint } }[] = [{ abs: t.abs, rel: t.path, bindTo: { path: t.path, id: t.id } }];
  let walked = 0;
  while (queue.length) {
    if (walked++ >= MAX_CGROUPS || found.length >= MAX_TASKS) return { found, truncated: true };
    const { abs, rel, bindTo } = queue.pop()!;
    // Tasks of an exempt cgroup are not bound: the follower guards a bound task in an exempt
    // cgroup (one that moved itself there), so binding them would lift their exemption.
    if (exempt.some((e) => rel === e || rel.startsWith(`${e}/`))) continue;
    try {
      for (const line of readFileSync(join(abs, 'cgroup.threads'), 'latin1').split('\n')) if (line) found.push({ tid: Number(line), cgroup: bindTo });
      for (const e of readdirSync(abs, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        const childRel = `${rel === '/' ? '' : rel}/${e.name}`;
        let to = bindTo;
        if (classifyCgroup(childRel)) { try { to = { path: childRel, id: cgroupId(join(abs, e.name)) }; } catch { continue; } }
        queue.push({ abs: join(abs, e.name), rel: childRel, bindTo: to });
      }
    } catch { /* removed meanwhile */ }
  }
  return { found, truncated: false };
}

/** Mount namespaces some thread has now (bindings of dead namespaces go). */
function liveMountNamespaces(key: NamespaceKey): Set<bigint> {
  const out = new Set<bigint>();
  const inodes = new Set<number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let tids: string[];
    try { tids = readdirSync(`/proc/${e}/task`); } catch { continue; }
    for (const t of tids) {
      try {
        // A readlink per thread; the key (an ioctl) once per namespace.
        const inode = mountNamespaceOf(Number(t));
        if (inode === undefined || inodes.has(inode)) continue;
        inodes.add(inode);
        const k = key(Number(t));
        if (k !== undefined) out.add(k);
      } catch { /* exited */ }
    }
  }
  return out;
}

/** When each bound map was last checked for dead namespaces: a scan of every thread, at most every few seconds. */
const lastPrune = new Map<string, number>();
const PRUNE_EVERY_MS = 3000;

const levelOf = (path: string) => path.split('/').filter(Boolean).length;

export function encodeBinding(cgroupId: bigint, level: number): Buffer {
  const v = Buffer.alloc(Bind.SIZE);
  v.writeBigUInt64LE(cgroupId, Bind.CGROUP);
  v.writeUInt32LE(level, Bind.LEVEL);
  return v;
}

/**
 * Bring a guard's bound map up to date with the tasks of its cgroups. `hostMnt`: the host's mount
 * namespace, never bound (that would apply the guard to every task of the host). `exempt`: paths
 * of the guard's exempt cgroups (as the kernel has them), whose tasks are not bound.
 */
export function syncBindings(boundPin: string, targets: readonly BindTarget[], hostMnt: number, key: NamespaceKey, o: { prune?: boolean; exempt?: readonly string[] } = {}): BindResult {
  using map = BpfMap.openPinned(boundPin, u64, bytes(Bind.SIZE)) as BpfMap<bigint, Buffer>;
  const current = new Map<bigint, bigint>();
  for (const [k, v] of map) current.set(k, v.readBigUInt64LE(Bind.CGROUP));
  const r: BindResult = { bound: 0, added: 0, removed: 0, refused: 0, truncated: [] };
  const seen = new Set<bigint>();
  // Threads of one container share its namespace: its key (an ioctl) is read once per pass.
  const keyOfInode = new Map<number, bigint | undefined>();
  for (const t of targets) {
    const { found, truncated } = tasksBelow(t, o.exempt ?? []);
    if (truncated) r.truncated.push(t.path);
    for (const { tid, cgroup } of found) {
      let mnt: bigint | undefined;
      try {
        const inode = mountNamespaceOf(tid);
        // The host's namespace is never bound (the guard would then apply to every host task).
        if (inode === undefined || inode === hostMnt || keyOfInode.has(inode)) continue;
        mnt = key(tid);
        keyOfInode.set(inode, mnt);
      } catch { continue; /* exited meanwhile */ }
      if (mnt === undefined || seen.has(mnt)) continue;
      seen.add(mnt);
      // A namespace already bound keeps its cgroup (it may have moved since; the first one is its own).
      if (current.has(mnt)) continue;
      if (current.size >= BOUND_MAX) { r.refused++; continue; }
      try {
        map.set(mnt, encodeBinding(cgroup.id, levelOf(cgroup.path)));
        current.set(mnt, cgroup.id);
        r.added++;
      } catch (e) {
        if (e instanceof SysError && e.code === 'E2BIG') { r.refused++; continue; }
        throw e;
      }
    }
  }
  // Namespaces no thread has any more (containers that stopped) are unbound, whatever their cgroup:
  // the map holds live containers only, and an inode number freed for reuse is not left bound.
  // (`prune: false`: a partial sync of one cgroup, right after a task joined.)
  const now = Date.now();
  if (o.prune !== false && current.size > seen.size && now - (lastPrune.get(boundPin) ?? 0) >= PRUNE_EVERY_MS) {
    lastPrune.set(boundPin, now);
    const live = liveMountNamespaces(key);
    for (const mnt of [...current.keys()]) {
      if (seen.has(mnt) || live.has(mnt)) continue;
      map.delete(mnt);
      current.delete(mnt);
      r.removed++;
    }
  }
  r.bound = current.size;
  return r;
}

/** The bindings as they are: mount namespace key → cgroup id. */
export function readBindings(boundPin: string): Map<bigint, bigint> {
  using map = BpfMap.openPinned(boundPin, u64, bytes(Bind.SIZE)) as BpfMap<bigint, Buffer>;
  const out = new Map<bigint, bigint>();
  for (const [k, v] of map) out.set(k, v.readBigUInt64LE(Bind.CGROUP));
  return out;
}
