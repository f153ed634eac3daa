// libbpf's SEC() names (the section_defs table of libbpf.c, as of libbpf 1.x): the section name of
// a program says its type, expected attach type and, after the prefix, what it attaches to.
import type { AttachTypeName, ProgTypeName } from '../prog.js';

/** How a program of this kind attaches, when the toolkit knows how. */
export type AttachKind =
  | 'cgroup' // attachCgroup with the expected attach type
  | 'raw_tracepoint' // RAW_TRACEPOINT_OPEN with the name after the prefix
  | 'btf' // LSM, fentry/fexit/fmod_ret, tp_btf: the kernel function named after the prefix (by BTF id)
  | 'tracepoint' | 'kprobe' | 'uprobe' | 'perf_event' | 'xdp' | 'tc' | 'socket' | 'none';

export interface SectionDef {
  prefix: string;
  type: ProgTypeName;
  attachType?: AttachTypeName;
  attach: AttachKind;
  /**
   * The name after "prefix/" is found in vmlinux BTF at load (attach_btf_id): a kernel function, an
   * LSM hook (bpf_lsm_<hook>), a BTF tracepoint (btf_trace_<name>), an iterator target (bpf_iter_<target>).
   */
  btfTarget?: 'lsm' | 'func' | 'tp_btf' | 'iter';
  /** bpf_program__set_sleepable: BPF_F_SLEEPABLE at load. */
  sleepable?: boolean;
}

const d = (prefix: string, type: ProgTypeName, attach: AttachKind, attachType?: AttachTypeName, extra: Partial<SectionDef> = {}): SectionDef =>
  ({ prefix, type, attach, ...(attachType ? { attachType } : {}), ...extra });

/** Order matters: the first prefix that matches wins (longer prefixes first where they overlap). */
export const SECTION_DEFS: readonly SectionDef[] = [
  d('socket', 'SOCKET_FILTER', 'socket'),
  d('sk_reuseport/migrate', 'SK_REUSEPORT', 'none', 'SK_REUSEPORT_SELECT_OR_MIGRATE'),
  d('sk_reuseport', 'SK_REUSEPORT', 'none', 'SK_REUSEPORT_SELECT'),
  d('kprobe.multi', 'KPROBE', 'kprobe', 'TRACE_KPROBE_MULTI'),
  d('kretprobe.multi', 'KPROBE', 'kprobe', 'TRACE_KPROBE_MULTI'),
  d('kprobe', 'KPROBE', 'kprobe'),
  d('kretprobe', 'KPROBE', 'kprobe'),
  d('uprobe.s', 'KPROBE', 'uprobe', undefined, { sleepable: true }),
  d('uretprobe.s', 'KPROBE', 'uprobe', undefined, { sleepable: true }),
  d('uprobe', 'KPROBE', 'uprobe'),
  d('uretprobe', 'KPROBE', 'uprobe'),
  d('usdt', 'KPROBE', 'uprobe'),
  d('ksyscall', 'KPROBE', 'kprobe'),
  d('kretsyscall', 'KPROBE', 'kprobe'),
  d('tc', 'SCHED_CLS', 'tc'),
  d('classifier', 'SCHED_CLS', 'tc'),
  d('action', 'SCHED_ACT', 'tc'),
  d('tracepoint', 'TRACEPOINT', 'tracepoint'),
  d('tp', 'TRACEPOINT', 'tracepoint'),
  d('raw_tracepoint.w', 'RAW_TRACEPOINT_WRITABLE', 'raw_tracepoint'),
  d('raw_tp.w', 'RAW_TRACEPOINT_WRITABLE', 'raw_tracepoint'),
  d('raw_tracepoint', 'RAW_TRACEPOINT', 'raw_tracepoint'),
  d('raw_tp', 'RAW_TRACEPOINT', 'raw_tracepoint'),
  d('tp_btf', 'TRACING', 'btf', 'TRACE_RAW_TP', { btfTarget: 'tp_btf' }),
  d('fentry.s', 'TRACING', 'btf', 'TRACE_FENTRY', { btfTarget: 'func', sleepable: true }),
  d('fmod_ret.s', 'TRACING', 'btf', 'MODIFY_RETURN', { btfTarget: 'func', sleepable: true }),
  d('fexit.s', 'TRACING', 'btf', 'TRACE_FEXIT', { btfTarget: 'func', sleepable: true }),
  d('fentry', 'TRACING', 'btf', 'TRACE_FENTRY', { btfTarget: 'func' }),
  d('fmod_ret', 'TRACING', 'btf', 'MODIFY_RETURN', { btfTarget: 'func' }),
  d('fexit', 'TRACING', 'btf', 'TRACE_FEXIT', { btfTarget: 'func' }),
  d('iter.s', 'TRACING', 'none', 'TRACE_ITER', { btfTarget: 'iter', sleepable: true }),
  d('iter', 'TRACING', 'none', 'TRACE_ITER', { btfTarget: 'iter' }),
  d('lsm.s', 'LSM', 'btf', 'LSM_MAC', { btfTarget: 'lsm', sleepable: true }),
  d('lsm_cgroup', 'LSM', 'none', 'LSM_CGROUP', { btfTarget: 'lsm' }),
  d('lsm', 'LSM', 'btf', 'LSM_MAC', { btfTarget: 'lsm' }),
  d('xdp.frags/devmap', 'XDP', 'none', 'XDP_DEVMAP'),
  d('xdp/devmap', 'XDP', 'none', 'XDP_DEVMAP'),
  d('xdp.frags/cpumap', 'XDP', 'none', 'XDP_CPUMAP'),
  d('xdp/cpumap', 'XDP', 'none', 'XDP_CPUMAP'),
  d('xdp.frags', 'XDP', 'xdp', 'XDP'),
  d('xdp', 'XDP', 'xdp', 'XDP'),
  d('perf_event', 'PERF_EVENT', 'perf_event'),
  d('lwt_in', 'LWT_IN', 'none'),
  d('lwt_out', 'LWT_OUT', 'none'),
  d('lwt_xmit', 'LWT_XMIT', 'none'),
  d('lwt_seg6local', 'LWT_SEG6LOCAL', 'none'),
  d('sockops', 'SOCK_OPS', 'cgroup', 'CGROUP_SOCK_OPS'),
  d('sk_skb/stream_parser', 'SK_SKB', 'none', 'SK_SKB_STREAM_PARSER'),
  d('sk_skb/stream_verdict', 'SK_SKB', 'none', 'SK_SKB_STREAM_VERDICT'),
  d('sk_skb', 'SK_SKB', 'none'),
  d('sk_msg', 'SK_MSG', 'none', 'SK_MSG_VERDICT'),
  d('lirc_mode2', 'LIRC_MODE2', 'none', 'LIRC_MODE2'),
  d('flow_dissector', 'FLOW_DISSECTOR', 'none', 'FLOW_DISSECTOR'),
  d('cgroup_skb/ingress', 'CGROUP_SKB', 'cgroup', 'CGROUP_INET_INGRESS'),
  d('cgroup_skb/egress', 'CGROUP_SKB', 'cgroup', 'CGROUP_INET_EGRESS'),
  d('cgroup/skb', 'CGROUP_SKB', 'none'),
  d('cgroup/sock_create', 'CGROUP_SOCK', 'cgroup', 'CGROUP_INET_SOCK_CREATE'),
  d('cgroup/sock_release', 'CGROUP_SOCK', 'cgroup', 'CGROUP_INET_SOCK_RELEASE'),
  d('cgroup/sock', 'CGROUP_SOCK', 'cgroup', 'CGROUP_INET_SOCK_CREATE'),
  d('cgroup/post_bind4', 'CGROUP_SOCK', 'cgroup', 'CGROUP_INET4_POST_BIND'),
  d('cgroup/post_bind6', 'CGROUP_SOCK', 'cgroup', 'CGROUP_INET6_POST_BIND'),
  d('cgroup/bind4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET4_BIND'),
  d('cgroup/bind6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET6_BIND'),
  d('cgroup/connect4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET4_CONNECT'),
  d('cgroup/connect6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET6_CONNECT'),
  d('cgroup/sendmsg4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_UDP4_SENDMSG'),
  d('cgroup/sendmsg6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_UDP6_SENDMSG'),
  d('cgroup/recvmsg4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_UDP4_RECVMSG'),
  d('cgroup/recvmsg6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_UDP6_RECVMSG'),
  d('cgroup/getpeername4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET4_GETPEERNAME'),
  d('cgroup/getpeername6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET6_GETPEERNAME'),
  d('cgroup/getsockname4', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET4_GETSOCKNAME'),
  d('cgroup/getsockname6', 'CGROUP_SOCK_ADDR', 'cgroup', 'CGROUP_INET6_GETSOCKNAME'),
  d('cgroup/sysctl', 'CGROUP_SYSCTL', 'cgroup', 'CGROUP_SYSCTL'),
  d('cgroup/getsockopt', 'CGROUP_SOCKOPT', 'cgroup', 'CGROUP_GETSOCKOPT'),
  d('cgroup/setsockopt', 'CGROUP_SOCKOPT', 'cgroup', 'CGROUP_SETSOCKOPT'),
  d('cgroup/dev', 'CGROUP_DEVICE', 'cgroup', 'CGROUP_DEVICE'),
  d('struct_ops', 'STRUCT_OPS', 'none'),
  d('sk_lookup', 'SK_LOOKUP', 'none', 'SK_LOOKUP'),
  d('syscall', 'SYSCALL', 'none', undefined, { sleepable: true }),
];

/** The definition for a section name, and what follows the prefix ("" when nothing does). */
export function matchSection(section: string): { def: SectionDef; target: string } | undefined {
  for (const def of SECTION_DEFS) {
    if (section === def.prefix) return { def, target: '' };
    // "kprobe/do_sys_open", and libbpf's "+" defs that also accept "prefix.suffix" are not needed here.
    if (section.startsWith(`${def.prefix}/`)) return { def, target: section.slice(def.prefix.length + 1) };
  }
  return undefined;
}
