// The cgroup v2 tree as the kernel holds it: per cgroup its processes, controllers, pressure, the
// eBPF programs attached to it (what `bpftool cgroup tree` lists: BPF_PROG_QUERY per cgroup attach
// type, without the effective flag), and the container it belongs to. On hybrid hosts, which v1
// hierarchies are mounted beside it.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Program } from '../bpf/prog.js';
import { openCgroup, queryCgroup } from '../bpf/link.js';
import type { AttachTypeName } from '../bpf/prog.js';
import { AttachFlag, AttachType, isErrno, type FD } from '../bpf/sys/index.js';
import { mountsOfType } from '../util/mounts.js';
import { cgroupId } from '../cgroup/hierarchy.js';
import { classifyCgroup, type Runtime } from '../cgroup/containers.js';
import { readCgroupPressure, type PressureSet } from './psi.js';

export interface AttachedProgram {
  /** libbpf / bpftool spelling: cgroup_sysctl, cgroup_inet_ingress... */
  attachType: string;
  /** bpftool's words: "multi", "override", "" (exclusive), or unknown(0x..). */
  attachFlags: string;
  id: number;
  name: string;
  /** Program type, lower case as bpftool prints it (cgroup_sysctl, cgroup_skb...). */
  type: string;
  tag: string;
  /** The sysward guard whose pinned program this is, if any. */
  guard: string | null;
}

export interface CgroupNode {
  /** Relative to the v2 mount; "/" for the root. */
  path: string;
  depth: number;
  id: bigint;
  /** Processes (cgroup.procs) and threads (cgroup.threads) directly in it; null when unreadable. */
  processes: number | null;
  threads: number | null;
  /** Controllers available in it (cgroup.controllers) and enabled for its children (cgroup.subtree_control). */
  controllers: string[];
  subtreeControl: string[];
  /** cgroup.events "populated": tasks in it or below. */
  populated: boolean | null;
  pressure: PressureSet;
  /** null: could not be listed (needs root: CAP_NET_ADMIN / CAP_BPF for BPF_PROG_QUERY). */
  programs: AttachedProgram[] | null;
  container: { runtime: Runtime; id: string } | null;
}

export interface V1Hierarchy { mountPoint: string; controllers: string[] }

export interface CgroupTree {
  mount: string;
  hybrid: boolean;
  v1: V1Hierarchy[];
  /** Depth-first, parents before children; children sorted by name. */
  cgroups: CgroupNode[];
  /** Why programs are not listed (not root), else null. */
  programsUnavailable: string | null;
}

/** Cgroup attach types, in the kernel's numeric order (the order bpftool prints them in). */
export const CGROUP_ATTACH_TYPES = (Object.entries(AttachType) as [AttachTypeName, number][])
  .filter(([name]) => name.startsWith('CGROUP_') || name === 'LSM_CGROUP')
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => name);

/** v1 hierarchies from a mount table: the mount options that name controllers (and name=...). */
export function v1Hierarchies(mountsText = readFileSync('/proc/self/mounts', 'utf8')): V1Hierarchy[] {
  const out: V1Hierarchy[] = [];
  for (const line of mountsText.split('\n')) {
    const f = line.split(' ');
    if (f[2] !== 'cgroup') continue;
    const generic = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'strictatime', 'nodiratime', 'clone_children', 'noprefix', 'xattr', 'cpuset_v2_mode', 'favordynmods']);
    const controllers = (f[3] ?? '').split(',').filter((o) => !generic.has(o) && !o.startsWith('release_agent='));
    out.push({ mountPoint: f[1]!.replace(/\\040/g, ' '), controllers });
  }
  return out;
}

const attachFlagsText = (flags: number): string => {
  if (flags === AttachFlag.F_ALLOW_MULTI) return 'multi';
  if (flags === AttachFlag.F_ALLOW_OVERRIDE) return 'override';
  if (flags === 0) return '';
  return `unknown(${flags.toString(16)})`;
};

const words = (path: string): string[] => { try { return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean); } catch { return []; } };
const lineCount = (path: string): number | null => { try { return readFileSync(path, 'utf8').split('\n').filter(Boolean).length; } catch { return null; } };
const populated = (abs: string): boolean | null => {
  try { return /^populated 1$/m.test(readFileSync(join(abs, 'cgroup.events'), 'utf8')); } catch { return null; }
};

export class ProgramsUnavailableError extends Error {}

/** The programs attached to one cgroup (not its ancestors'), bpftool's order. */
export function attachedPrograms(cgroup: string | FD, owners: ReadonlyMap<number, string> = new Map(), cache = new Map<number, { name: string; type: string; tag: string } | null>()): AttachedProgram[] {
  const fd = typeof cgroup === 'string' ? openCgroup(cgroup) : cgroup;
  try {
    const out: AttachedProgram[] = [];
    for (const type of CGROUP_ATTACH_TYPES) {
      let q;
      try {
        q = queryCgroup(fd, type);
      } catch (e) {
        if (isErrno(e, 'EPERM', 'EACCES')) throw new ProgramsUnavailableError('listing the eBPF programs attached to cgroups needs root (CAP_NET_ADMIN, or CAP_SYS_ADMIN)');
        if (isErrno(e, 'EINVAL', 'EOPNOTSUPP', 'ENOTSUPP', 'EBADF')) continue; // an attach type this kernel does not have
        throw e;
      }
      for (const id of q.programIds) {
        let info = cache.get(id);
        if (info === undefined) {
          try {
            using p = Program.fromId(id);
            const i = p.info();
            info = { name: i.name, type: i.typeName.toLowerCase(), tag: i.tag };
          } catch { info = null; } // detached and freed meanwhile
          cache.set(id, info);
        }
        if (!info) continue;
        out.push({ attachType: type.toLowerCase(), attachFlags: attachFlagsText(q.attachFlags), id, name: info.name, type: info.type, tag: info.tag, guard: owners.get(id) ?? null });
      }
    }
    return out;
  } finally {
    if (typeof cgroup === 'string') fd.close();
  }
}

export interface TreeOptions {
  /** Where to start, relative to the mount (default "/"). */
  start?: string;
  /** Levels below the start (0: the start only). */
  depth?: number;
  /** Program id → sysward guard name. */
  owners?: ReadonlyMap<number, string>;
  /** Skip the program listing (faster; or known to be unavailable). */
  programs?: boolean;
  mountsText?: string;
}

/** Walk the tree from `start` (`mount`: the cgroup v2 mount point). */
export function cgroupTree(mount: string, o: TreeOptions = {}): CgroupTree {
  const mountsText = o.mountsText ?? readFileSync('/proc/self/mounts', 'utf8');
  const v1 = v1Hierarchies(mountsText);
  const startRel = o.start && o.start !== '/' ? `/${o.start.replace(/^\/+|\/+$/g, '')}` : '/';
  const startAbs = startRel === '/' ? mount : join(mount, startRel);
  const maxDepth = o.depth ?? Infinity;
  let programsUnavailable: string | null = o.programs === false ? 'not asked for' : null;
  const cache = new Map<number, { name: string; type: string; tag: string } | null>();
  const cgroups: CgroupNode[] = [];

  const visit = (abs: string, depth: number) => {
    const rel = `/${relative(mount, abs)}`.replace(/\/$/, '') || '/';
    let id: bigint;
    try { id = cgroupId(abs); } catch { return; } // removed meanwhile
    let programs: AttachedProgram[] | null = null;
    if (programsUnavailable === null) {
      try { programs = attachedPrograms(abs, o.owners, cache); } catch (e) {
        if (e instanceof ProgramsUnavailableError) programsUnavailable = e.message;
        else if ((e as Error).message.startsWith('ENOENT')) return;
        else if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e; // a folder we may not open: no programs listed for it
      }
    }
    const c = classifyCgroup(rel);
    cgroups.push({
      path: rel, depth, id,
      processes: lineCount(join(abs, 'cgroup.procs')), threads: lineCount(join(abs, 'cgroup.threads')),
      controllers: words(join(abs, 'cgroup.controllers')), subtreeControl: words(join(abs, 'cgroup.subtree_control')),
      populated: populated(abs), pressure: readCgroupPressure(abs), programs,
      container: c ? { runtime: c.runtime, id: c.id } : null,
    });
    if (depth >= maxDepth) return;
    let entries;
    try { entries = readdirSync(abs, { withFileTypes: true }); } catch { return; }
    for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(join(abs, e.name), depth + 1);
  };
  visit(startAbs, 0);
  return { mount, hybrid: mountsOfType('cgroup', mountsText).length > 0, v1, cgroups, programsUnavailable };
}

export interface TreeFilter {
  /** Only cgroups with programs attached. */
  bpf?: boolean;
  /** Only container cgroups. */
  containers?: boolean;
  /** Only populated cgroups (tasks in them or below). */
  populated?: boolean;
}

/**
 * The cgroups a filter selects, with their ancestors (marked `context`) so the tree still reads as
 * one; without a filter, all.
 */
export function filterTree(nodes: CgroupNode[], f: TreeFilter): { node: CgroupNode; context: boolean }[] {
  const active = f.bpf || f.containers || f.populated;
  if (!active) return nodes.map((node) => ({ node, context: false }));
  const match = (n: CgroupNode) => (!f.bpf || (n.programs?.length ?? 0) > 0) && (!f.containers || n.container !== null) && (!f.populated || n.populated === true);
  const keep = new Set<string>();
  const matched = new Set<string>();
  for (const n of nodes) {
    if (!match(n)) continue;
    matched.add(n.path);
    for (let p = n.path; ; p = p.slice(0, p.lastIndexOf('/')) || '/') { keep.add(p); if (p === '/') break; }
  }
  return nodes.filter((n) => keep.has(n.path)).map((node) => ({ node, context: !matched.has(node.path) }));
}
