// Seeing cgroups appear and go, for the daemon: new containers (to guard them at once) and the
// cgroups policies name (a service restarted makes its cgroup again). One inotify watch per cgroup
// folder that may hold containers, at most MAX_WATCH_DEPTH down (deeper only on the way to a scope
// cgroup), closed when its folder goes. The daemon's timer is the safety net for what no watch sees.
import { existsSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { classifyCgroup, CONTAINER_ROOTS } from '../cgroup/containers.js';

/** Deepest cgroup folder watched for new containers (and walked at start). */
export const MAX_WATCH_DEPTH = 4;

export interface CgroupWatchHandlers {
  /** Cgroups the policies name (scope and exemptions), relative to the mount. */
  scopePaths(): Set<string>;
  /** A scope cgroup was made or removed. */
  onScopeChange(): void;
  /** A container cgroup appeared (`seen`: hrtime when the event arrived, for the attach delay). */
  onContainer(path: string, seen: bigint): void;
  /** A task was moved into a container cgroup (its cgroup.procs written): bind its namespaces now. */
  onTasks?(path: string): void;
  log(line: string): void;
}

const childPath = (rel: string, name: string) => `${rel === '/' ? '' : rel}/${name}`;
const depthOf = (rel: string) => rel.split('/').filter(Boolean).length;

export class CgroupWatcher {
  readonly #watched = new Map<string, FSWatcher>();
  /** Container cgroups watched for tasks moving in (a runtime writes its first task's pid to cgroup.procs). */
  readonly #tasks = new Map<string, FSWatcher>();

  constructor(readonly mount: string, readonly h: CgroupWatchHandlers) {}

  /** Watch the tree as it is now, and the folders of the scope cgroups. */
  start(): void {
    const walk = (rel: string, depth: number) => {
      this.#watchDir(rel);
      if (depth >= MAX_WATCH_DEPTH) return;
      let entries;
      try { entries = readdirSync(join(this.mount, rel), { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const p = childPath(rel, e.name);
        if (!classifyCgroup(p) && !CONTAINER_ROOTS.includes(p)) walk(p, depth + 1);
      }
    };
    walk('/', 0);
    this.watchScopes();
  }

  /** Watch the folder of each scope cgroup (or its nearest existing ancestor): after a reload. */
  watchScopes(): void {
    for (const p of this.h.scopePaths()) {
      let dir = p.split('/').slice(0, -1).join('/') || '/';
      while (dir !== '/' && !existsSync(join(this.mount, dir))) dir = dir.split('/').slice(0, -1).join('/') || '/';
      this.#watchDir(dir, true);
    }
  }

  /** Folders watched now (tests, diagnostics). */
  get size(): number { return this.#watched.size; }

  close(): void {
    for (const w of [...this.#watched.values(), ...this.#tasks.values()]) w.close();
    this.#watched.clear();
    this.#tasks.clear();
  }

  /** Stop watching a cgroup that went, and everything below it (the kernel keeps a watch on a removed folder). */
  #unwatch(rel: string): void {
    for (const m of [this.#watched, this.#tasks]) for (const [p, w] of m) if (p === rel || p.startsWith(`${rel}/`)) { w.close(); m.delete(p); }
  }

  /** Watch a new container's cgroup for its tasks: the daemon binds their namespaces the moment they join. */
  #watchTasks(rel: string): void {
    if (!this.h.onTasks || this.#tasks.has(rel)) return;
    let w: FSWatcher;
    try {
      w = watch(join(this.mount, rel), (type, name) => {
        try { if (type === 'change' && name === 'cgroup.procs') this.h.onTasks!(rel); } catch (e) { this.h.log(`cgroup watch: ${(e as Error).message}`); }
      });
    } catch { return; }
    w.on('error', () => { w.close(); this.#tasks.delete(rel); });
    this.#tasks.set(rel, w);
  }

  #watchDir(rel: string, scope = false): void {
    if (this.#watched.has(rel) || (!scope && CONTAINER_ROOTS.includes(rel))) return;
    // Containers sit at most a few levels down; deeper folders (a delegated subtree that anyone in
    // it may fill) are not watched unless a scope names a cgroup there. The poll covers them.
    if (!scope && depthOf(rel) > MAX_WATCH_DEPTH) return;
    let w: FSWatcher;
    try {
      w = watch(join(this.mount, rel), (type, name) => {
        try { if (type === 'rename' && name) this.#changed(rel, name); } catch (e) { this.h.log(`cgroup watch: ${(e as Error).message}`); }
      });
    } catch { return; }
    w.on('error', () => { this.#unwatch(rel); });
    this.#watched.set(rel, w);
  }

  #changed(rel: string, name: string): void {
    const path = childPath(rel, name);
    const scopes = this.h.scopePaths();
    if (name.includes('.') && !/\.(scope|slice|service)$/.test(name) && !scopes.has(path)) return;
    const seen = process.hrtime.bigint();
    if (scopes.has(path)) this.h.onScopeChange();
    if (!existsSync(join(this.mount, path))) { this.#unwatch(path); return; }
    if (classifyCgroup(path)) { this.#watchTasks(path); this.h.onContainer(path, seen); } else this.#watchDir(path);
    // A folder on the way to a scope cgroup: watch it, so the cgroup's creation is seen.
    if ([...scopes].some((p) => p.startsWith(`${path}/`))) this.watchScopes();
  }
}

/** Every container cgroup now (the poll's pass): `onContainer` for each, outside the roots that hold only containers. */
export function scanContainers(mount: string, onContainer: (path: string) => void): void {
  const walk = (dir: string, rel: string, depth: number) => {
    if (depth > 6) return;
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = `${rel}/${e.name}`;
      if (CONTAINER_ROOTS.includes(p)) continue; // covered by the root's own attachment
      if (classifyCgroup(p)) onContainer(p);
      else walk(join(dir, e.name), p, depth + 1);
    }
  };
  walk(mount, '', 0);
}
