// What the kernel lets a guard know of the writer's namespaces, decided once per process:
//  - the field offsets (task_struct → nsproxy → …), from the running kernel's BTF. Parsing all of
//    /sys/kernel/btf/vmlinux takes most of a second, so the offsets are cached for the boot in
//    /run/sysward/task-layout.json (keyed by the boot id and the kernel release);
//  - the host's namespaces (below: hostNamespaces);
//  - that a cgroup-sysctl program may read them (bpf_get_current_task_btf and BTF pointer loads
//    need Linux 5.15+, CAP_PERFMON, and no lockdown=confidentiality): a probe program is loaded.
// Where any of it fails the guard still works by cgroup: no `namespace: own` check and no
// follower, and `reason` says why (`sysward probe`, the daemon's start, `guard apply` notes).
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { Btf, VMLINUX_PATH } from '../../bpf/btf/btf.js';
import { Assembler, R0, R1 } from '../../bpf/asm/index.js';
import { encodeInstructions } from '../../bpf/asm/insn.js';
import { Program } from '../../bpf/prog.js';
import { mountNamespaceId } from '../../bpf/sys/index.js';
import { NS_KINDS, type NsKind, type TaskLayout } from '../compiler/task-layout.js';
import { taskLayoutFromBtf } from '../compiler/task-layout-btf.js';
import type { NamespaceFacts } from '../compiler/program.js';

const CACHE = '/run/sysward/task-layout.json';
/** Part of the cache's key: a layout written by a sysward that read other fields is not reused. */
const LAYOUT_VERSION = 2;

const bootId = (): string => { try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { return ''; } };

/** This kernel's offsets: from the cache when this boot wrote it, else from its BTF (and cached). */
export function kernelTaskLayout(o: { cache?: string | null } = {}): TaskLayout {
  const cache = o.cache === undefined ? CACHE : o.cache;
  const key = `${LAYOUT_VERSION} ${bootId()} ${release()}`;
  if (cache) {
    try {
      const c = JSON.parse(readFileSync(cache, 'utf8')) as { key: string; layout: TaskLayout };
      if (c.key === key && c.layout && typeof c.layout.nsproxy === 'number') return c.layout;
    } catch { /* none yet, or unreadable: build it */ }
  }
  if (!existsSync(VMLINUX_PATH)) throw new Error(`the kernel has no BTF (${VMLINUX_PATH} is missing; it needs CONFIG_DEBUG_INFO_BTF=y)`);
  const layout = taskLayoutFromBtf(Btf.kernel());
  if (cache && bootId()) {
    try {
      mkdirSync(cache.slice(0, cache.lastIndexOf('/')), { recursive: true, mode: 0o755 });
      writeFileSync(`${cache}.tmp`, JSON.stringify({ key, layout }));
      renameSync(`${cache}.tmp`, cache);
    } catch { /* a read-only /run: computed again next time */ }
  }
  return layout;
}

/** Inode number of a /proc/PID/ns/KIND link ("net:[4026531833]"), or undefined. */
const nsInode = (pid: number | 'self', kind: NsKind): number | undefined => {
  try { const m = /\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`)); return m ? Number(m[1]) : undefined; } catch { return undefined; }
};

/** PID 2 is kthreadd in the host's PID namespace: a kernel thread (PF_KTHREAD), never moved out of the initial namespaces. */
const isKthreadd = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const flags = Number(stat.slice(close + 2).split(' ')[6]);
    return comm === 'kthreadd' && (flags & 0x00200000) !== 0;
  } catch { return false; }
};

/** The initial PID namespace's inode number: fixed since Linux 3.8 (PROC_PID_INIT_INO). */
const INIT_PID_NS = 0xeffffffc;

/**
 * The host's (the initial) namespaces. Kernel threads never leave them, so kthreadd's (PID 2) are
 * read, else PID 1's, each only when it is in the initial PID namespace (whose inode number is
 * fixed): a container's /proc shows its own PID 1. Nothing is guessed from the daemon's own
 * namespaces: under systemd's sandboxing its mount namespace is private, in a DaemonSet all are.
 */
export function hostNamespaces(): { inums: Record<NsKind, number>; source: string } | { problem: string } {
  const read = (pid: number) => {
    const inums = Object.fromEntries(NS_KINDS.map((k) => [k, nsInode(pid, k)]));
    return NS_KINDS.every((k) => inums[k] !== undefined) && inums.pid === INIT_PID_NS ? inums as Record<NsKind, number> : undefined;
  };
  const kthreadd = isKthreadd(2) ? read(2) : undefined;
  if (kthreadd) return { inums: kthreadd, source: '/proc/2/ns (kthreadd, a kernel thread: always in the initial namespaces)' };
  const init = read(1);
  if (init) return { inums: init, source: '/proc/1/ns (init)' };
  // Root without CAP_SYS_PTRACE (a capability bounding set that leaves it out) may not read
  // another process's namespaces: say that, not "wrong PID namespace".
  let denied = false;
  try { readlinkSync('/proc/2/ns/mnt'); } catch (e) { denied = (e as NodeJS.ErrnoException).code === 'EACCES'; }
  if (denied && isKthreadd(2)) return { problem: 'reading /proc/2/ns is refused (EACCES): the process lacks CAP_SYS_PTRACE, which reading another process\'s namespaces needs; add it (the systemd unit\'s CapabilityBoundingSet, the container\'s capabilities)' };
  return { problem: 'neither kthreadd\'s (/proc/2/ns) nor init\'s (/proc/1/ns) namespaces can be read in the initial PID namespace: run as root with the host\'s PID namespace (hostPID: true; docker --pid=host)' };
}

/** The namespace-reading program the guard generates, in little: does this kernel load it? */
function probeProgram(layout: TaskLayout): string | undefined {
  const a = new Assembler();
  a.call('get_current_task_btf');
  a.ldx('u64', R1, R0, layout.nsproxy).ldx('u64', R1, R1, layout.proxy.mnt).ldx('u32', R1, R1, layout.inum.mnt);
  a.ldx('u64', R1, R0, layout.cred).ldx('u64', R1, R1, layout.credUserNs).ldx('u32', R1, R1, layout.inum.user);
  a.mov(R0, 1).exit();
  try {
    Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', instructions: encodeInstructions(a.assemble().instructions), license: 'GPL', name: 'sw_ns_probe' }).close();
    return undefined;
  } catch (e) {
    const m = (e as Error).message.split('\n')[0]!;
    return /unknown func|invalid func/.test(m)
      ? 'this kernel does not offer bpf_get_current_task_btf to cgroup-sysctl programs (Linux 5.15+)'
      : /access is allowed only to CAP_PERFMON|EPERM|lockdown/i.test(m)
        ? `the kernel refuses reading the task from a cgroup-sysctl program (CAP_PERFMON missing, or lockdown=confidentiality): ${m}`
        : `the kernel refuses the namespace-reading program: ${m}`;
  }
}

export type NamespaceSupport = { facts: NamespaceFacts; source: string } | { reason: string };

let support: NamespaceSupport | undefined;

/** Whether guards can read the writer's namespaces here, and with what; memoised per process. */
export function namespaceSupport(): NamespaceSupport {
  if (support) return support;
  let layout: TaskLayout;
  try { layout = kernelTaskLayout(); } catch (e) { return (support = { reason: `no field offsets: ${(e as Error).message}` }); }
  const host = hostNamespaces();
  if ('problem' in host) return (support = { reason: `the host's namespaces are unknown: ${host.problem}` });
  const refused = probeProgram(layout);
  if (refused) return (support = { reason: refused });
  // Without a way to read a namespace's 64-bit id from user space, bind by inode number.
  if (layout.mntId !== undefined) { try { mountNamespaceId('/proc/self/ns/mnt'); } catch { layout = { ...layout }; delete layout.mntId; } }
  return (support = { facts: { layout, host: host.inums }, source: host.source });
}

/**
 * What the follower's bound map is keyed by for a process's mount namespace: its 64-bit id where
 * the kernel has one (never reused), else its inode number (which a namespace made after this one
 * died may get again); undefined when the process is gone.
 */
export function mountNamespaceKey(pid: number, layout: TaskLayout): bigint | undefined {
  if (layout.mntId !== undefined) return mountNamespaceId(`/proc/${pid}/ns/mnt`);
  const inum = nsInode(pid, 'mnt');
  return inum === undefined ? undefined : BigInt(inum);
}

/** The mount namespace inode of a process, or undefined (gone, or not readable). */
export const mountNamespaceOf = (pid: number): number | undefined => nsInode(pid, 'mnt');
