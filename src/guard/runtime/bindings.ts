// The follower's bindings: which mount namespaces a guard follows. A task found in a guarded
// cgroup (or below it) with a mount namespace other than the host's binds that namespace to the
// cgroup; the follower on the root cgroup then applies the guard to every task of the namespace
// that is no longer below that cgroup (it moved itself out). A binding lasts while its cgroup is
// guarded, and after that while any process still has the namespace (a task that left its
// container outlives it); then it goes, so the map holds live containers only. Reads only /proc
// and the cgroup tree; changes only the guard's bound map (held by its pin).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { bytes, u64 } from '../../bpf/codec.js';
import { SysError } from '../../bpf/sys/index.js';
import { Bind, BOUND_MAX } from '../compiler/abi.js';
import { mountNamespaceOf } from './namespaces.js';

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
}

/** Most cgroups walked below one guarded cgroup, and most tasks read from one cgroup: a bound on hostile trees. */
const MAX_CGROUPS = 4096;
const MAX_PIDS = 65536;

/** The pids in a cgroup and its descendants. */
function tasksBelow(abs: string): number[] {
  const pids: number[] = [];
  const queue = [abs];
  let walked = 0;
  while (queue.length && walked++ < MAX_CGROUPS && pids.length < MAX_PIDS) {
    const dir = queue.pop()!;
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n')) if (line) pids.push(Number(line));
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) queue.push(join(dir, e.name));
    } catch { /* removed meanwhile */ }
  }
  return pids;
}

/** Mount namespaces some process has now (for bindings whose cgroup is gone). */
function liveMountNamespaces(key: NamespaceKey): Set<bigint> {
  const out = new Set<bigint>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try { const k = key(Number(e)); if (k !== undefined) out.add(k); } catch { /* exited */ }
  }
  return out;
}

const levelOf = (path: string) => path.split('/').filter(Boolean).length;

export function encodeBinding(cgroupId: bigint, level: number): Buffer {
  const v = Buffer.alloc(Bind.SIZE);
  v.writeBigUInt64LE(cgroupId, Bind.CGROUP);
  v.writeUInt32LE(level, Bind.LEVEL);
  return v;
}

/**
 * Bring a guard's bound map up to date with the tasks of its cgroups. `hostMnt`: the host's mount
 * namespace, never bound (that would apply the guard to every task of the host).
 */
export function syncBindings(boundPin: string, targets: readonly BindTarget[], hostMnt: number, key: NamespaceKey, o: { prune?: boolean } = {}): BindResult {
  using map = BpfMap.openPinned(boundPin, u64, bytes(Bind.SIZE)) as BpfMap<bigint, Buffer>;
  const current = new Map<bigint, bigint>();
  for (const [k, v] of map) current.set(k, v.readBigUInt64LE(Bind.CGROUP));
  const r: BindResult = { bound: 0, added: 0, removed: 0, refused: 0 };
  const seen = new Set<bigint>();
  for (const t of targets) {
    const level = levelOf(t.path);
    for (const pid of tasksBelow(t.abs)) {
      let mnt: bigint | undefined;
      try {
        // The host's namespace is never bound (the guard would then apply to every host task).
        if (mountNamespaceOf(pid) === hostMnt) continue;
        mnt = key(pid);
      } catch { continue; /* exited meanwhile */ }
      if (mnt === undefined || seen.has(mnt)) continue;
      seen.add(mnt);
      // A namespace already bound keeps its cgroup (it may have moved since; the first one is its own).
      if (current.has(mnt)) continue;
      if (current.size + r.added >= BOUND_MAX) { r.refused++; continue; }
      try {
        map.set(mnt, encodeBinding(t.id, level));
        current.set(mnt, t.id);
        r.added++;
      } catch (e) {
        if (e instanceof SysError && e.code === 'E2BIG') { r.refused++; continue; }
        throw e;
      }
    }
  }
  // Bindings of cgroups no longer guarded (a container stopped) go once no process has the namespace.
  const guarded = new Set(targets.map((t) => t.id));
  // (`prune: false`: `targets` is some of the guard's cgroups, not all: nothing is unbound.)
  const orphans = o.prune === false ? [] : [...current].filter(([mnt, cg]) => !guarded.has(cg) && !seen.has(mnt));
  if (orphans.length) {
    const live = liveMountNamespaces(key);
    for (const [mnt] of orphans) {
      if (live.has(mnt)) continue;
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
