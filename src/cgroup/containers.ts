// Container cgroups, found by the names the runtimes give them. Paths are relative to the cgroup
// v2 mount ("/system.slice/docker-<id>.scope").
import { basename, join, relative } from 'node:path';
import { cgroupIdIndex, walkCgroups } from './hierarchy.js';

export type Runtime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'kubernetes' | 'nspawn' | 'lxc';

export interface ContainerCgroup { path: string; runtime: Runtime; id: string }

const HEX64 = '[0-9a-f]{64}';
/** Leaf names of container cgroups; conmon / shim scopes are the runtime's helpers, not containers. */
const LEAF_PATTERNS: [RegExp, Runtime][] = [
  [new RegExp(`^docker-(${HEX64})\\.scope$`), 'docker'],
  [new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), 'containerd'],
  [new RegExp(`^crio-(${HEX64})\\.scope$`), 'cri-o'],
  [new RegExp(`^libpod-(${HEX64})\\.scope$`), 'podman'],
  [/^systemd-nspawn@(.+)\.service$/, 'nspawn'],
  [/^machine-(.+)\.scope$/, 'nspawn'],
];
/** cgroupfs-driver layouts: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /lxc.payload.<name>. */
const PATH_PATTERNS: [RegExp, Runtime][] = [
  [new RegExp(`^/docker/(${HEX64})$`), 'docker'],
  [new RegExp(`^/kubepods(?:/[a-z]+)?/pod[0-9a-f-]+/(${HEX64})$`), 'kubernetes'],
  [/^\/lxc\.payload\.([^/]+)$/, 'lxc'],
];

export function classifyCgroup(path: string): ContainerCgroup | undefined {
  const leaf = basename(path);
  for (const [re, runtime] of LEAF_PATTERNS) {
    const m = re.exec(leaf);
    if (!m) continue;
    // containerd / CRI-O scopes below kubepods are Kubernetes pods' containers.
    const rt: Runtime = path.includes('/kubepods') ? 'kubernetes' : runtime;
    return { path, runtime: rt, id: m[1]! };
  }
  for (const [re, runtime] of PATH_PATTERNS) {
    const m = re.exec(path);
    if (m) return { path, runtime, id: m[1]! };
  }
  return undefined;
}

/** Every container cgroup under the mount (not descending into containers themselves). */
export function findContainerCgroups(mount: string): ContainerCgroup[] {
  const out: ContainerCgroup[] = [];
  const seenUnder: string[] = [];
  for (const abs of walkCgroups(mount)) {
    const path = `/${relative(mount, abs)}`;
    if (seenUnder.some((p) => path.startsWith(`${p}/`))) continue;
    const c = classifyCgroup(path);
    if (c) { out.push(c); seenUnder.push(path); }
  }
  return out;
}

/**
 * Cgroups that hold only containers, present and future: guarding them covers containers started
 * later without anyone watching. Containers elsewhere (docker-<id>.scope beside services in
 * system.slice) need a guard each, and the daemon to guard new ones.
 */
export const CONTAINER_ROOTS = ['/kubepods.slice', '/kubepods', '/docker', '/machine.slice'];

export interface ContainerScope {
  /** Container-only parents that exist on this host. */
  roots: string[];
  /** Containers not below one of `roots`. */
  loose: ContainerCgroup[];
}

export function resolveContainerScope(mount: string, exists: (abs: string) => boolean): ContainerScope {
  const roots = CONTAINER_ROOTS.filter((r) => exists(join(mount, r)));
  const loose = findContainerCgroups(mount).filter((c) => !roots.some((r) => c.path.startsWith(`${r}/`)));
  return { roots, loose };
}

/** A cgroup namer (cgroupNamer): id → name; `remember` records a cgroup seen elsewhere. */
export type CgroupNamer = ((id: bigint) => string | undefined) & { remember(id: bigint, path: string): void };

/** Names of cgroups gone since they were seen, kept for their late events (a container that stopped). */
const KEEP_GONE = 4096;

/**
 * Names for cgroup ids, as events show them: `runtime:container-id` for containers, else the
 * path. An unknown id (a cgroup made since) walks the tree again, at most once a second, so a
 * storm of events from a cgroup that is gone does not walk it per event. Cgroups removed since
 * keep their names (up to KEEP_GONE): a container's last events are read after it stopped.
 */
export function cgroupNamer(mount?: string, o: { idLength?: number } = {}): CgroupNamer {
  let index = cgroupIdIndex(mount);
  let refreshedAt = Date.now();
  const refresh = () => {
    const fresh = cgroupIdIndex(mount);
    let gone = 0;
    for (const [id, path] of index) if (!fresh.has(id) && gone++ < KEEP_GONE) fresh.set(id, path);
    index = fresh;
    refreshedAt = Date.now();
  };
  const namer = (id: bigint) => {
    let p = index.get(id);
    if (p === undefined && Date.now() - refreshedAt > 1000) {
      refresh();
      p = index.get(id);
    }
    const c = p ? classifyCgroup(p) : undefined;
    return c ? `${c.runtime}:${o.idLength ? c.id.slice(0, o.idLength) : c.id}` : p;
  };
  return Object.assign(namer, { remember(id: bigint, path: string) { index.set(id, path); } });
}
