// Where the writer's namespaces are in the kernel's memory: byte offsets of the fields the guard
// reads from the current task (task_struct → nsproxy → net, uts, ipc, mnt, cgroup namespaces;
// → cred → user namespace; → thread_pid → the active PID namespace), each namespace's inode
// number (ns_common.inum) as /proc/PID/ns/* shows it. Taken from the running kernel's BTF, so no
// headers and no clang: the program is generated with these numbers for this kernel. Pure: a Btf
// in, numbers out (runtime/namespaces.ts reads the kernel's BTF, caches, and probes support).
import { BtfError, type Btf, type BtfType } from '../../bpf/btf/btf.js';

/** The namespaces an event reports, in the order of its fields (abi.ts Ev.NS). */
export const NS_KINDS = ['mnt', 'net', 'uts', 'ipc', 'user', 'pid', 'cgroup'] as const;
export type NsKind = (typeof NS_KINDS)[number];

/** Namespaces reached through task->nsproxy, and the nsproxy member that points at each. */
export const NSPROXY_MEMBER = { mnt: 'mnt_ns', net: 'net_ns', uts: 'uts_ns', ipc: 'ipc_ns', cgroup: 'cgroup_ns' } as const;
type ProxiedKind = keyof typeof NSPROXY_MEMBER;
const NS_STRUCT: Record<NsKind, string> = {
  mnt: 'mnt_namespace', net: 'net', uts: 'uts_namespace', ipc: 'ipc_namespace', user: 'user_namespace', pid: 'pid_namespace', cgroup: 'cgroup_namespace',
};

export interface TaskLayout {
  /** task_struct.nsproxy */
  nsproxy: number;
  /** nsproxy.<kind>_ns */
  proxy: Record<ProxiedKind, number>;
  /** Offset of ns.inum inside each namespace's struct. */
  inum: Record<NsKind, number>;
  /** task_struct.cred, cred.user_ns */
  cred: number; credUserNs: number;
  /** task_struct.thread_pid, pid.level, pid.numbers, sizeof(struct upid), upid.ns */
  threadPid: number; pidLevel: number; pidNumbers: number; upidSize: number; upidNs: number;
  /**
   * Offset in mnt_namespace of its 64-bit id (NS_GET_MNTNS_ID: `seq` until Linux 6.17, then
   * `ns.ns_id`), which is never given to another namespace; undefined where the kernel has none
   * (or user space cannot read it), and the follower keys namespaces by inode number instead.
   */
  mntId?: number;
}

/** Byte offset of `path` (members, anonymous structs and unions searched through) in struct `name`. */
export function memberOffset(btf: Btf, name: string, path: string[]): { offset: number; type: number } {
  let t: BtfType = btf.typeByName(name, 'STRUCT');
  let offset = 0;
  let type = t.id;
  for (const [i, field] of path.entries()) {
    const found = findMember(btf, t, field);
    if (!found) throw new BtfError(`the kernel's struct ${name} has no ${path.slice(0, i + 1).join('.')}`);
    offset += found.bitOffset / 8;
    type = found.type;
    if (i < path.length - 1) t = btf.resolve(type);
  }
  return { offset, type };
}

function findMember(btf: Btf, t: BtfType, field: string, depth = 0): { bitOffset: number; type: number } | undefined {
  if (depth > 8 || !t.members) return undefined;
  for (const m of t.members) {
    if (m.name === field) return { bitOffset: m.bitOffset, type: m.type };
    if (m.name === '') {
      const inner = findMember(btf, btf.resolve(m.type), field, depth + 1);
      if (inner) return { bitOffset: m.bitOffset + inner.bitOffset, type: inner.type };
    }
  }
  return undefined;
}

export function taskLayoutFromBtf(btf: Btf): TaskLayout {
  const off = (s: string, ...p: string[]) => memberOffset(btf, s, p).offset;
  const inum = Object.fromEntries(Object.entries(NS_STRUCT).map(([k, s]) => [k, off(s, 'ns', 'inum')])) as Record<NsKind, number>;
  const proxy = Object.fromEntries(Object.entries(NSPROXY_MEMBER).map(([k, m]) => [k, off('nsproxy', m)])) as Record<ProxiedKind, number>;
  return {
    nsproxy: off('task_struct', 'nsproxy'), proxy, inum,
    cred: off('task_struct', 'cred'), credUserNs: off('cred', 'user_ns'),
    threadPid: off('task_struct', 'thread_pid'), pidLevel: off('pid', 'level'), pidNumbers: off('pid', 'numbers'),
    upidSize: btf.sizeOf(btf.typeByName('upid', 'STRUCT').id), upidNs: off('upid', 'ns'),
    ...mountNamespaceIdOffset(btf),
  };
}

function mountNamespaceIdOffset(btf: Btf): { mntId?: number } {
  for (const path of [['seq'], ['ns', 'ns_id']]) {
    try { return { mntId: memberOffset(btf, 'mnt_namespace', path).offset }; } catch { /* the other one */ }
  }
  return {};
}

/**
 * A layout for the interpreter when no kernel BTF is at hand (explain and test run anywhere): any
 * consistent numbers do, since the interpreter's task is built from the same layout.
 */
export const MODEL_TASK_LAYOUT: TaskLayout = {
  nsproxy: 0, proxy: { uts: 8, ipc: 16, mnt: 24, net: 40, cgroup: 48 }, inum: { mnt: 16, net: 16, uts: 16, ipc: 16, user: 16, pid: 16, cgroup: 16 },
  cred: 8, credUserNs: 8, threadPid: 16, pidLevel: 4, pidNumbers: 8, upidSize: 16, upidNs: 8, mntId: 24,
};
