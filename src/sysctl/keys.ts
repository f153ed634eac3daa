// Facts about particular sysctls that the policy checker and the profiles rely on: which keys a
// namespace confines, which ones take a host, how long a string key can be, which keys are
// vectors of numbers. Names are in kernel form (`net/ipv4/tcp_rmem`); functions take segments.
//
// Checked against /proc/sys of Linux 6.18 (and a fresh network namespace there for the host-only
// net keys); keys of options that kernel lacks (Yama, kexec, modules) from the kernel's
// Documentation/admin-guide/sysctl/*.rst.

import { KNOWN_DIRS, knownKeys, knownLeaf } from './known-keys.js';
import { kernelName } from './names.js';
import { closest } from '../util/suggest.js';

/** The namespace whose copy of a key a write changes. */
export type SysctlNamespace = 'net' | 'uts' | 'ipc' | 'user' | 'pid';

/**
 * net.* keys that exist only in the initial network namespace: a container with its own network
 * namespace does not see them, but one sharing the host's (`--network=host`, `hostNetwork: true`)
 * changes them for the whole host. Found by listing /proc/sys/net in a fresh namespace (6.18).
 */
export const HOST_ONLY_NET_KEYS: readonly string[] = [
  ...[
    'bpf_jit_enable', 'bpf_jit_harden', 'bpf_jit_kallsyms', 'bpf_jit_limit', 'busy_poll', 'busy_read',
    'default_qdisc', 'dev_weight', 'dev_weight_rx_bias', 'dev_weight_tx_bias', 'devconf_inherit_init_net',
    'fb_tunnels_only_for_init_net', 'flow_limit_cpu_bitmap', 'flow_limit_table_len', 'gro_normal_batch',
    'high_order_alloc_disable', 'max_skb_frags', 'mem_pcpu_rsv', 'message_burst', 'message_cost',
    'netdev_budget', 'netdev_budget_usecs', 'netdev_max_backlog', 'netdev_rss_key', 'netdev_tstamp_prequeue',
    'netdev_unregister_timeout_secs', 'rps_sock_flow_entries', 'skb_defer_max', 'warnings',
  ].map((k) => `net/core/${k}`),
  ...[
    'cipso_cache_bucket_size', 'cipso_cache_enable', 'cipso_rbm_optfmt', 'cipso_rbm_strictvalid',
    'fib_sync_mem', 'inet_peer_maxttl', 'inet_peer_minttl', 'inet_peer_threshold', 'ipfrag_secret_interval',
    'tcp_available_ulp', 'tcp_low_latency', 'tcp_max_orphans', 'tcp_mem', 'udp_mem',
    'neigh/default/gc_interval', 'neigh/default/gc_thresh1', 'neigh/default/gc_thresh2', 'neigh/default/gc_thresh3',
    'route/error_burst', 'route/error_cost', 'route/gc_elasticity', 'route/gc_interval', 'route/gc_min_interval',
    'route/gc_min_interval_ms', 'route/gc_thresh', 'route/gc_timeout', 'route/max_size', 'route/redirect_load',
    'route/redirect_number', 'route/redirect_silence',
  ].map((k) => `net/ipv4/${k}`),
  ...[
    'calipso_cache_bucket_size', 'calipso_cache_enable', 'ip6frag_secret_interval', 'mld_max_msf', 'mld_qrv',
    'neigh/default/gc_interval', 'neigh/default/gc_thresh1', 'neigh/default/gc_thresh2', 'neigh/default/gc_thresh3',
  ].map((k) => `net/ipv6/${k}`),
  'net/netfilter/nf_log_all_netns',
  'net/nf_conntrack_max',
];
const hostOnlyNet = new Set(HOST_ONLY_NET_KEYS);

const UTS_KEYS = new Set(['kernel/hostname', 'kernel/domainname']);
const IPC_KEYS = new Set([
  'kernel/shmmax', 'kernel/shmall', 'kernel/shmmni', 'kernel/shm_rmid_forced', 'kernel/shm_next_id',
  'kernel/msgmax', 'kernel/msgmnb', 'kernel/msgmni', 'kernel/msg_next_id', 'kernel/auto_msgmni',
  'kernel/sem', 'kernel/sem_next_id',
]);

/**
 * The namespace that confines a key, or null when a write changes the whole host. net.* is per
 * network namespace (except HOST_ONLY_NET_KEYS); kernel.hostname / domainname per UTS namespace;
 * the System V IPC keys and fs.mqueue.* per IPC namespace; user.* per user namespace;
 * kernel.ns_last_pid per pid namespace. A process that shares the host's namespace (host network,
 * `--ipc=host`, …) changes the host's value all the same.
 */
export function namespaceOf(segments: readonly string[]): SysctlNamespace | null {
  const name = kernelName(segments);
  if (segments[0] === 'net') return hostOnlyNet.has(name) ? null : 'net';
  if (UTS_KEYS.has(name)) return 'uts';
  if (IPC_KEYS.has(name) || (segments[0] === 'fs' && segments[1] === 'mqueue' && segments.length === 3)) return 'ipc';
  if (segments[0] === 'user' && segments.length === 2) return 'user';
  if (name === 'kernel/ns_last_pid') return 'pid';
  return null;
}

/**
 * The namespace every key a pattern can match lives in, or null when the pattern reaches keys of
 * the whole host. A name: namespaceOf. A subtree or a wildcard: net.* (and below it), fs.mqueue.*,
 * user.*; anything else (kernel.*) mixes host-wide keys with namespaced ones.
 */
export function patternNamespaceOf(p: { segments: readonly string[]; kind: 'exact' | 'subtree'; wildcard: number | null }): SysctlNamespace | null {
  if (p.kind === 'exact' && p.wildcard === null) return namespaceOf(p.segments);
  const s = p.segments;
  if (s[0] === 'net') return 'net';
  if (s[0] === 'user') return 'user';
  if (s[0] === 'fs' && s[1] === 'mqueue' && s.length <= 3) return 'ipc';
  return null;
}

export type DangerKind =
  /** Makes the kernel run a program of the writer's choice as host root. */
  | 'escape'
  /** Switches off a protection of the whole host. */
  | 'hardening'
  /** Can take the host down or starve it. */
  | 'availability';

export interface DangerousKey {
  /** Kernel form. */
  name: string;
  kind: DangerKind;
  /** One line: what a hostile write does. */
  reason: string;
}

/** Keys a container (or any tenant) must not write; each with what a hostile write does. */
export const DANGEROUS_KEYS: readonly DangerousKey[] = [
  { name: 'kernel/core_pattern', kind: 'escape', reason: 'a pattern starting with | runs that program as host root on the next crash' },
  { name: 'kernel/modprobe', kind: 'escape', reason: 'the kernel runs this path as host root whenever it loads a module on demand' },
  { name: 'kernel/hotplug', kind: 'escape', reason: 'the kernel runs this path as host root for every uevent' },
  { name: 'kernel/poweroff_cmd', kind: 'escape', reason: 'the kernel runs this command as host root on an orderly power-off' },
  { name: 'kernel/randomize_va_space', kind: 'hardening', reason: '0 or 1 weakens address-space randomisation for every new process on the host' },
  { name: 'kernel/kptr_restrict', kind: 'hardening', reason: '0 shows kernel addresses in /proc to unprivileged users, defeating KASLR' },
  { name: 'kernel/yama/ptrace_scope', kind: 'hardening', reason: '0 lets any process ptrace every other process of the same user' },
  { name: 'kernel/unprivileged_bpf_disabled', kind: 'hardening', reason: '0 lets unprivileged users load BPF programs, a frequent kernel exploit path' },
  { name: 'kernel/dmesg_restrict', kind: 'hardening', reason: '0 lets unprivileged users read the kernel log, kernel addresses included' },
  { name: 'kernel/perf_event_paranoid', kind: 'hardening', reason: 'lower values open kernel profiling and tracing to unprivileged users' },
  { name: 'kernel/kexec_load_disabled', kind: 'hardening', reason: 'one-way switch that stops root from replacing the running kernel with kexec' },
  { name: 'kernel/io_uring_disabled', kind: 'hardening', reason: '0 opens io_uring, a large and often exploited kernel interface, to every process' },
  { name: 'kernel/sysrq', kind: 'hardening', reason: 'enables magic SysRq functions (reboot, crash, kill all tasks) from the keyboard and /proc/sysrq-trigger' },
  { name: 'fs/suid_dumpable', kind: 'hardening', reason: '1 or 2 dumps the memory of setuid programs, secrets included, to the core_pattern handler' },
  { name: 'fs/protected_symlinks', kind: 'hardening', reason: '0 reopens symlink races in world-writable directories such as /tmp' },
  { name: 'fs/protected_hardlinks', kind: 'hardening', reason: '0 lets users hard-link files they cannot read, reopening link-based attacks' },
  { name: 'fs/protected_fifos', kind: 'hardening', reason: 'below 2 reopens FIFO spoofing in world-writable sticky directories' },
  { name: 'fs/protected_regular', kind: 'hardening', reason: 'below 2 reopens file spoofing in world-writable sticky directories' },
  { name: 'vm/mmap_min_addr', kind: 'hardening', reason: 'lowering it makes kernel NULL-pointer dereferences exploitable' },
  { name: 'vm/unprivileged_userfaultfd', kind: 'hardening', reason: '1 lets unprivileged users stall kernel page faults, a common exploit aid' },
  { name: 'user/max_user_namespaces', kind: 'hardening', reason: 'user namespaces open root-only kernel interfaces to unprivileged users' },
  { name: 'dev/tty/ldisc_autoload', kind: 'hardening', reason: '1 lets unprivileged users load any tty line-discipline module' },
  { name: 'dev/tty/legacy_tiocsti', kind: 'hardening', reason: '1 lets a process push keystrokes into its terminal with TIOCSTI' },
  { name: 'net/core/bpf_jit_harden', kind: 'hardening', reason: '0 turns off constant blinding of JIT-compiled BPF, which JIT spraying exploits' },
  { name: 'net/core/bpf_jit_kallsyms', kind: 'hardening', reason: '1 lists the addresses of JIT-compiled BPF images in /proc/kallsyms' },
  { name: 'vm/panic_on_oom', kind: 'availability', reason: '1 or 2 turns running out of memory, even in one cgroup, into a host panic' },
  { name: 'kernel/panic', kind: 'availability', reason: 'decides whether the host reboots after a panic (0: it hangs for ever)' },
  { name: 'kernel/panic_on_oops', kind: 'availability', reason: '1 turns any kernel oops into a host panic' },
  { name: 'kernel/panic_on_warn', kind: 'availability', reason: '1 turns any kernel warning into a host panic' },
  { name: 'vm/overcommit_memory', kind: 'availability', reason: '2 makes allocations fail host-wide; 1 overcommits memory without limit' },
  { name: 'kernel/modules_disabled', kind: 'availability', reason: 'one-way switch: 1 blocks every module load until the next boot' },
  { name: 'vm/drop_caches', kind: 'availability', reason: 'each write empties the page cache and stalls every workload on the host' },
  { name: 'vm/nr_hugepages', kind: 'availability', reason: 'reserves memory as huge pages, away from every other workload' },
  { name: 'kernel/pid_max', kind: 'availability', reason: 'lowering it stops the host from starting processes' },
  { name: 'kernel/threads-max', kind: 'availability', reason: 'lowering it stops the host from starting threads' },
  { name: 'fs/file-max', kind: 'availability', reason: 'lowering it stops the host from opening files' },
];
const dangerous = new Map(DANGEROUS_KEYS.map((d) => [d.name, d]));

/** What a hostile write to this key does, or undefined for keys not known to be dangerous. */
export function dangerOf(segments: readonly string[]): DangerousKey | undefined {
  return dangerous.get(kernelName(segments));
}

/**
 * String sysctls and the longest value each holds, in bytes without the newline. Longer writes are
 * cut to this length by the kernel (proc_dostring), so a policy value beyond it can never be the
 * stored value. Sources: __NEW_UTS_LEN (64), CORENAME_MAX_SIZE (128), KMOD_PATH_LEN (256),
 * UEVENT_HELPER_PATH_LEN (256), POWEROFF_CMD_PATH_LEN (256), TCP_CA_NAME_MAX (16), IFNAMSIZ (16)
 * — each a buffer size with the NUL.
 */
export const STRING_MAX_BYTES: ReadonlyMap<string, number> = new Map([
  ['kernel/hostname', 64],
  ['kernel/domainname', 64],
  ['kernel/core_pattern', 127],
  ['kernel/modprobe', 255],
  ['kernel/hotplug', 255],
  ['kernel/poweroff_cmd', 255],
  ['net/ipv4/tcp_congestion_control', 15],
  ['net/core/default_qdisc', 15],
]);

/** The longest value a known string key holds, or undefined (unknown, or not a string key). */
export function maxValueBytes(segments: readonly string[]): number | undefined {
  return STRING_MAX_BYTES.get(kernelName(segments));
}

/** Vector sysctls: a fixed number of integers separated by white space, with the field names. */
export const VECTOR_FIELDS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ['net/ipv4/tcp_rmem', ['min', 'default', 'max']],
  ['net/ipv4/tcp_wmem', ['min', 'default', 'max']],
  ['net/ipv4/tcp_mem', ['low', 'pressure', 'high']],
  ['net/ipv4/udp_mem', ['low', 'pressure', 'high']],
  ['net/sctp/sctp_mem', ['low', 'pressure', 'high']],
  ['net/sctp/sctp_rmem', ['min', 'default', 'max']],
  ['net/sctp/sctp_wmem', ['min', 'default', 'max']],
  ['net/ipv4/ip_local_port_range', ['first', 'last']],
  ['net/ipv4/ping_group_range', ['first gid', 'last gid']],
  ['kernel/printk', ['console_loglevel', 'default_message_loglevel', 'minimum_console_loglevel', 'default_console_loglevel']],
  ['kernel/sem', ['SEMMSL', 'SEMMNS', 'SEMOPM', 'SEMMNI']],
]);

/** The field names of a known vector key, or undefined. */
export function vectorFields(segments: readonly string[]): readonly string[] | undefined {
  return VECTOR_FIELDS.get(kernelName(segments));
}

// Interface directories (net/ipv4/conf/eth0/…) are '*' in the catalogue.
function catalogueForm(segments: readonly string[]): string[] {
  const s = [...segments];
  if (s[0] === 'net' && (s[1] === 'ipv4' || s[1] === 'ipv6') && (s[2] === 'conf' || s[2] === 'neigh') && s.length >= 4) s[3] = '*';
  return s;
}

// Checking a key looks in its directory's one string of the catalogue (known-keys.ts): building a
// table of every key cost the policy parser ~3 ms of each start.

/** Whether the catalogue of known sysctls has this key. */
export function isKnownKey(segments: readonly string[]): boolean {
  const c = catalogueForm(segments);
  return c.length > 1 && knownLeaf(c.slice(0, -1).join('/'), c[c.length - 1]!);
}

/** Whether the catalogue has keys below this directory. */
export function isKnownDir(segments: readonly string[]): boolean {
  return KNOWN_DIRS.has(catalogueForm(segments).join('/'));
}

function restore(suggested: string, original: readonly string[]): string[] {
  const s = suggested.split('/');
  if (s[3] === '*' && original.length > 3 && original[3] !== '*') s[3] = original[3]!;
  return s;
}

// Indexes for suggestions, built once: a policy of thousands of unknown keys asks for each.
let byParent: Map<string, string[]> | undefined;
let byDepth: Map<number, string[]> | undefined;
const keysByParent = () => {
  if (!byParent) {
    byParent = new Map();
    for (const k of knownKeys()) {
      const cut = k.lastIndexOf('/');
      const list = byParent.get(k.slice(0, cut)) ?? [];
      list.push(k.slice(cut + 1));
      byParent.set(k.slice(0, cut), list);
    }
  }
  return byParent;
};
const keysByDepth = () => {
  if (!byDepth) {
    byDepth = new Map();
    for (const k of knownKeys()) {
      const d = k.split('/').length;
      const list = byDepth.get(d) ?? [];
      list.push(k);
      byDepth.set(d, list);
    }
  }
  return byDepth;
};

/**
 * A known key that this unknown one is probably a misspelling of (segments), or undefined. Looks
 * among the keys of the same directory first, then among all keys of the same depth.
 */
export function suggestKey(segments: readonly string[]): string[] | undefined {
  if (isKnownKey(segments)) return undefined;
  const c = catalogueForm(segments);
  const parent = c.slice(0, -1).join('/');
  const leaf = closest(c[c.length - 1]!, keysByParent().get(parent) ?? []);
  if (leaf !== undefined) return restore(`${parent}/${leaf}`, segments);
  // A known directory with an unknown leaf: the leaf is new or not a typo of a sibling; looking
  // elsewhere would only find far-fetched matches (and costs a scan per key).
  if (KNOWN_DIRS.has(parent)) return undefined;
  const whole = closest(c.join('/'), keysByDepth().get(c.length) ?? []);
  return whole === undefined ? undefined : restore(whole, segments);
}

/** A known directory this unknown one is probably a misspelling of (segments), or undefined. */
export function suggestDir(segments: readonly string[]): string[] | undefined {
  if (isKnownDir(segments)) return undefined;
  const c = catalogueForm(segments);
  const sameDepth = [...KNOWN_DIRS].filter((d) => d.split('/').length === c.length);
  const whole = closest(c.join('/'), sameDepth);
  return whole === undefined ? undefined : restore(whole, segments);
}
