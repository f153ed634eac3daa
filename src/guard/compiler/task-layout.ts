// Where the writer's namespaces are in the kernel's memory: byte offsets of the fields the guard
// reads from the current task (task_struct → nsproxy → net, uts, ipc, mnt, cgroup namespaces;
// → cred → user namespace; → thread_pid → the active PID namespace), each namespace's inode
// number (ns_common.inum) as /proc/PID/ns/* shows it. Taken from the running kernel's BTF, so no
// headers and no clang: the program is generated with these numbers for this kernel
// (task-layout-btf.ts: a Btf in, numbers out; runtime/namespaces.ts reads the kernel's BTF, caches,
// and probes support). This file has no BTF code, so the interpreter's commands do not load it.

/** The namespaces an event reports, in the order of its fields (abi.ts Ev.NS). */
export const NS_KINDS = ['mnt', 'net', 'uts', 'ipc', 'user', 'pid', 'cgroup'] as const;
export type NsKind = (typeof NS_KINDS)[number];

/** Namespaces reached through task->nsproxy, and the nsproxy member that points at each. */
export const NSPROXY_MEMBER = { mnt: 'mnt_ns', net: 'net_ns', uts: 'uts_ns', ipc: 'ipc_ns', cgroup: 'cgroup_ns' } as const;
export type ProxiedKind = keyof typeof NSPROXY_MEMBER;
export const NS_STRUCT: Record<NsKind, string> = {
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

/**
 * A layout for the interpreter when no kernel BTF is at hand (explain and test run anywhere): any
 * consistent numbers do, since the interpreter's task is built from the same layout.
 */
export const MODEL_TASK_LAYOUT: TaskLayout = {
  nsproxy: 0, proxy: { uts: 8, ipc: 16, mnt: 24, net: 40, cgroup: 48 }, inum: { mnt: 16, net: 16, uts: 16, ipc: 16, user: 16, pid: 16, cgroup: 16 },
  cred: 8, credUserNs: 8, threadPid: 16, pidLevel: 4, pidNumbers: 8, upidSize: 16, upidNs: 8, mntId: 24,
};
