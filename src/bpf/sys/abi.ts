// Struct layouts and flags of the bpf(2) uapi, defined once. Field names are the kernel's.
// test/bpf/sys/abi.test.ts compiles a C program against /usr/include/linux/bpf.h and checks every
// size and offset here, and every flag value.
import { Layout, bytes } from './layout.js';
export * from './abi-enums.js';

export const BPF_OBJ_NAME_LEN = 16;
export const BPF_TAG_SIZE = 8;

/** Flags, grouped by where they go. C name in the comment where it differs from BPF_ + key. */
export const MapUpdate = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;
export const MapFlag = {
  F_NO_PREALLOC: 1 << 0, F_NO_COMMON_LRU: 1 << 1, F_NUMA_NODE: 1 << 2, F_RDONLY: 1 << 3, F_WRONLY: 1 << 4,
  F_STACK_BUILD_ID: 1 << 5, F_ZERO_SEED: 1 << 6, F_RDONLY_PROG: 1 << 7, F_WRONLY_PROG: 1 << 8, F_CLONE: 1 << 9,
  F_MMAPABLE: 1 << 10, F_PRESERVE_ELEMS: 1 << 11, F_INNER_MAP: 1 << 12,
} as const;
export const AttachFlag = { F_ALLOW_OVERRIDE: 1 << 0, F_ALLOW_MULTI: 1 << 1, F_REPLACE: 1 << 2 } as const;
export const QueryFlag = { F_QUERY_EFFECTIVE: 1 << 0 } as const;
export const ProgLoadFlag = { F_STRICT_ALIGNMENT: 1 << 0, F_ANY_ALIGNMENT: 1 << 1, F_TEST_RND_HI32: 1 << 2, F_TEST_STATE_FREQ: 1 << 3, F_SLEEPABLE: 1 << 4 } as const;
export const LinkUpdateFlag = { F_REPLACE: 1 << 2 } as const;
export const StatsType = { RUN_TIME: 0 } as const;
export const SysctlFlag = { F_SYSCTL_BASE_NAME: 1 } as const;
export const PseudoSrc = { MAP_FD: 1, MAP_VALUE: 2 } as const;
/** Ring buffer record header bits (kernel/bpf/ringbuf.c): BPF_RINGBUF_BUSY_BIT, _DISCARD_BIT, _HDR_SZ. */
export const RingBuf = { BUSY_BIT: 1 << 31, DISCARD_BIT: 1 << 30, HDR_SZ: 8 } as const;

const ATTR = 'union bpf_attr';

export const MapCreateAttr = new Layout(ATTR, '', {
  map_type: 'u32', key_size: 'u32', value_size: 'u32', max_entries: 'u32', map_flags: 'u32',
  inner_map_fd: 'u32', numa_node: 'u32', map_name: bytes(BPF_OBJ_NAME_LEN), map_ifindex: 'u32',
  btf_fd: 'u32', btf_key_type_id: 'u32', btf_value_type_id: 'u32', btf_vmlinux_value_type_id: 'u32',
  map_extra: 'u64',
});

/** MAP_LOOKUP/UPDATE/DELETE/GET_NEXT_KEY/LOOKUP_AND_DELETE_ELEM, MAP_FREEZE. `value` is also `next_key`. */
export const MapElemAttr = new Layout(ATTR, '', { map_fd: 'u32', key: 'ptr', value: 'ptr', flags: 'u64' });

export const MapBatchAttr = new Layout(ATTR, 'batch.', {
  in_batch: 'ptr', out_batch: 'ptr', keys: 'ptr', values: 'ptr', count: 'u32', map_fd: 'u32',
  elem_flags: 'u64', flags: 'u64',
});

export const ProgLoadAttr = new Layout(ATTR, '', {
  prog_type: 'u32', insn_cnt: 'u32', insns: 'ptr', license: 'ptr', log_level: 'u32', log_size: 'u32',
  log_buf: 'ptr', kern_version: 'u32', prog_flags: 'u32', prog_name: bytes(BPF_OBJ_NAME_LEN),
  prog_ifindex: 'u32', expected_attach_type: 'u32', prog_btf_fd: 'u32', func_info_rec_size: 'u32',
  func_info: 'ptr', func_info_cnt: 'u32', line_info_rec_size: 'u32', line_info: 'ptr', line_info_cnt: 'u32',
  attach_btf_id: 'u32', attach_prog_fd: 'u32', core_relo_cnt: 'u32', fd_array: 'ptr', core_relos: 'ptr',
  core_relo_rec_size: 'u32',
  // Linux 6.4: the log size the verifier needed, so a retry can size its buffer exactly.
  log_true_size: 'u32',
}, { log_true_size: null });

export const ObjAttr = new Layout(ATTR, '', { pathname: 'ptr', bpf_fd: 'u32', file_flags: 'u32' });

export const ProgAttachAttr = new Layout(ATTR, '', {
  target_fd: 'u32', attach_bpf_fd: 'u32', attach_type: 'u32', attach_flags: 'u32', replace_bpf_fd: 'u32',
});

export const TestRunAttr = new Layout(ATTR, 'test.', {
  prog_fd: 'u32', retval: 'u32', data_size_in: 'u32', data_size_out: 'u32', data_in: 'ptr', data_out: 'ptr',
  repeat: 'u32', duration: 'u32', ctx_size_in: 'u32', ctx_size_out: 'u32', ctx_in: 'ptr', ctx_out: 'ptr',
  flags: 'u32', cpu: 'u32', batch_size: 'u32',
});

export const GetIdAttr = new Layout(ATTR, '', { start_id: 'u32', next_id: 'u32', open_flags: 'u32' });

export const InfoAttr = new Layout(ATTR, 'info.', { bpf_fd: 'u32', info_len: 'u32', info: 'ptr' });

export const ProgQueryAttr = new Layout(ATTR, 'query.', {
  target_fd: 'u32', attach_type: 'u32', query_flags: 'u32', attach_flags: 'u32', prog_ids: 'ptr',
  prog_cnt: 'u32', prog_attach_flags: 'ptr',
  // Linux 6.6 (tcx/mprog): link ids and the attachment revision.
  link_ids: 'ptr', link_attach_flags: 'ptr', revision: 'u64',
}, { link_ids: null, link_attach_flags: null, revision: null });

export const LinkCreateAttr = new Layout(ATTR, 'link_create.', {
  prog_fd: 'u32', target_fd: 'u32', attach_type: 'u32', flags: 'u32', target_btf_id: 'u32',
});

export const LinkUpdateAttr = new Layout(ATTR, 'link_update.', {
  link_fd: 'u32', new_prog_fd: 'u32', flags: 'u32', old_prog_fd: 'u32',
});

/** RAW_TRACEPOINT_OPEN (Linux 4.17): `name` points to the tracepoint's name; returns a link fd. */
export const RawTracepointOpenAttr = new Layout(ATTR, 'raw_tracepoint.', { name: 'ptr', prog_fd: 'u32' });

/** BTF_LOAD (Linux 4.18): raw BTF in, a BTF object fd out; the log explains a refusal. */
export const BtfLoadAttr = new Layout(ATTR, '', {
  btf: 'ptr', btf_log_buf: 'ptr', btf_size: 'u32', btf_log_size: 'u32', btf_log_level: 'u32',
  // Linux 6.4: the log size the kernel needed.
  btf_log_true_size: 'u32',
}, { btf_log_true_size: null });

export const LinkDetachAttr = new Layout(ATTR, 'link_detach.', { link_fd: 'u32' });
export const EnableStatsAttr = new Layout(ATTR, 'enable_stats.', { type: 'u32' });
export const ProgBindMapAttr = new Layout(ATTR, 'prog_bind_map.', { prog_fd: 'u32', map_fd: 'u32', flags: 'u32' });

export const ProgInfo = new Layout('struct bpf_prog_info', '', {
  type: 'u32', id: 'u32', tag: bytes(BPF_TAG_SIZE), jited_prog_len: 'u32', xlated_prog_len: 'u32',
  jited_prog_insns: 'ptr', xlated_prog_insns: 'ptr', load_time: 'u64', created_by_uid: 'u32',
  nr_map_ids: 'u32', map_ids: 'ptr', name: bytes(BPF_OBJ_NAME_LEN), ifindex: 'u32',
  gpl_compatible: 'u32', netns_dev: 'u64', netns_ino: 'u64', nr_jited_ksyms: 'u32',
  nr_jited_func_lens: 'u32', jited_ksyms: 'ptr', jited_func_lens: 'ptr', btf_id: 'u32',
  func_info_rec_size: 'u32', func_info: 'ptr', nr_func_info: 'u32', nr_line_info: 'u32',
  line_info: 'ptr', jited_line_info: 'ptr', nr_jited_line_info: 'u32', line_info_rec_size: 'u32',
  jited_line_info_rec_size: 'u32', nr_prog_tags: 'u32', prog_tags: 'ptr', run_time_ns: 'u64',
  run_cnt: 'u64', recursion_misses: 'u64', verified_insns: 'u32', attach_btf_obj_id: 'u32',
  attach_btf_id: 'u32', pad_end: 'u32',
}, { gpl_compatible: null, pad_end: null });

/** struct bpf_func_info: where each function of a program starts, and its BTF FUNC type. */
export const FuncInfo = new Layout('struct bpf_func_info', '', { insn_off: 'u32', type_id: 'u32' });

/**
 * struct bpf_line_info: the source line of the instruction at insn_off; file and line are offsets
 * into the program's BTF strings, line_col is the line number << 10 | the column.
 */
export const LineInfo = new Layout('struct bpf_line_info', '', { insn_off: 'u32', file_name_off: 'u32', line_off: 'u32', line_col: 'u32' });
/** BPF_LINE_INFO_LINE_NUM and BPF_LINE_INFO_LINE_COL of a line_col. */
export const lineInfoLine = (lineCol: number): number => lineCol >>> 10;
export const lineInfoColumn = (lineCol: number): number => lineCol & 0x3ff;

export const MapInfo = new Layout('struct bpf_map_info', '', {
  type: 'u32', id: 'u32', key_size: 'u32', value_size: 'u32', max_entries: 'u32', map_flags: 'u32',
  name: bytes(BPF_OBJ_NAME_LEN), ifindex: 'u32', btf_vmlinux_value_type_id: 'u32', netns_dev: 'u64',
  netns_ino: 'u64', btf_id: 'u32', btf_key_type_id: 'u32', btf_value_type_id: 'u32', pad: 'u32',
  map_extra: 'u64',
}, { pad: null });

/** struct bpf_btf_info (OBJ_GET_INFO_BY_FD of a BTF object): the raw BTF and its name. */
export const BtfInfo = new Layout('struct bpf_btf_info', '', {
  btf: 'ptr', btf_size: 'u32', id: 'u32', name: 'ptr', name_len: 'u32', kernel_btf: 'u32',
});

/** struct bpf_link_info with the cgroup member of its union (the one sysward reads). */
export const LinkInfo = new Layout('struct bpf_link_info', '', {
  type: 'u32', id: 'u32', prog_id: 'u32', cgroup_id: 'u64', attach_type: 'u32', pad: 'u32',
  // room for the largest union member of newer kernels; the kernel fills at most info_len bytes
  rest: bytes(48),
}, { cgroup_id: 'cgroup.cgroup_id', attach_type: 'cgroup.attach_type', pad: null, rest: null });

/** struct bpf_lpm_trie_key: a u32 prefix length, then the data. */
export const LPM_PREFIXLEN_BYTES = 4;
