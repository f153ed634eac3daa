// The helpers the interpreter implements, with the kernel's semantics (sources: kernel/bpf/helpers.c,
// kernel/bpf/cgroup.c, kernel/bpf/ringbuf.c, lib/kstrtox.c, lib/ctype.c). A helper gets a
// VmHelperCall: its arguments (r1..r5) and checked access to the memory they point to. Arguments
// are checked as the verifier checks them (a key buffer must be initialised, a size must be > 0
// where the verifier wants a constant size, ...), so a program the kernel would reject faults here
// instead of producing a result the kernel never would.

import { helperId } from '../asm/index.js';
import { type ContextModel, SysctlState } from './context.js';
import { Errno } from './errors.js';
import { VmMap, VmQueueMap, VmRingBuf } from './maps.js';
import { Region, VmPointer, type VmValue, fault, formatValue, writeUnsigned, zeroed } from './memory.js';

/** The task a program runs for: what the get_current_* helpers return. */
export interface VmTask {
  pid?: number;
  /** Thread group id (the process id as ps shows it). */
  tgid?: number;
  uid?: number;
  gid?: number;
  /** Up to 15 bytes (TASK_COMM_LEN - 1). */
  comm?: string;
  /** Its cgroup v2 id (the cgroup directory's inode number). */
  cgroupId?: bigint;
  /**
   * Ids of the cgroups from the root (level 0) down to the task's own, for
   * get_current_ancestor_cgroup_id(level). Default: [1n, cgroupId] (or [1n] when cgroupId is 1).
   */
  ancestorCgroupIds?: readonly bigint[];
  /** ktime_get_ns (and the boot / coarse clocks): a fixed value or a clock. Default: process.hrtime. */
  ktimeNs?: bigint | (() => bigint);
  /** The task_struct get_current_task_btf points at: the kernel memory a program may read through it. */
  kernelTask?: VmKernelObject;
}

/**
 * A kernel object as a program reading BTF pointers sees it: its bytes (zero but for `values`)
 * and its pointer members, which lead to further objects.
 */
export interface VmKernelObject {
  /** How traces and errors name it: `task_struct`, `nsproxy`. */
  label: string;
  size: number;
  values?: readonly { off: number; size: 1 | 2 | 4 | 8; value: bigint }[];
  pointers?: readonly { off: number; to: VmKernelObject }[];
}

/** Regions of kernel objects, made once per object (they are read-only). */
const kernelRegions = new WeakMap<VmKernelObject, Region>();
function kernelRegion(o: VmKernelObject): Region {
  let r = kernelRegions.get(o);
  if (r) return r;
  r = new Region('kernel', o.label, zeroed(o.size), false);
  kernelRegions.set(o, r);
  for (const v of o.values ?? []) writeUnsigned(r.view, v.off, v.size, v.value);
  if (o.pointers?.length) r.pointers = new Map(o.pointers.map((p) => [p.off, new VmPointer(kernelRegion(p.to), 0)]));
  return r;
}

export const DEFAULT_TASK = { pid: 4242, tgid: 4242, uid: 0, gid: 0, comm: 'vm-task', cgroupId: 1n } as const;

/** What a helper sees of the call and the machine. */
export interface VmHelperCall {
  /** r1..r5 as they were at the call (index 0 is r1); undefined when not initialised. */
  readonly args: readonly (VmValue | undefined)[];
  /** The task, with defaults filled in. */
  readonly task: Readonly<Required<Omit<VmTask, 'ktimeNs' | 'kernelTask'>>> & { ktimeNs(): bigint; kernelTask: VmKernelObject | undefined };
  /** The CPU the program runs on (get_smp_processor_id, per-CPU maps). */
  readonly cpu: number;
  /** Argument `n` (1..5) as a scalar; faults on a pointer or an uninitialised register. */
  scalar(n: number): bigint;
  /** Argument `n` as a pointer; faults on NULL and other scalars. */
  pointer(n: number): VmPointer;
  /** A size argument: a scalar within 0..limit; `allowZero` false where the verifier wants > 0. */
  size(n: number, allowZero: boolean, limit?: number): number;
  /** Copy of `len` bytes at argument `n` (a pointer to initialised memory). */
  read(n: number, len: number): Buffer;
  /** Writes `bytes` where argument `n` points (marking stack bytes written). */
  write(n: number, bytes: Uint8Array): void;
  /** Argument `n` as a map (a ld_imm64 map pointer). */
  map(n: number): VmMap;
  /** Argument `n` must be the program's context pointer; returns its model. */
  context(n: number): ContextModel;
  /** Draws from the run's deterministic generator (get_prandom_u32). */
  random(): number;
  /** A line of trace_printk output. */
  print(line: string): void;
  /** A ring buffer reservation made by this call (so the run can check it is released). */
  reserved(region: Region): void;
  released(region: Region): void;
}

/** A helper: returns r0 (a scalar or a pointer), or undefined for void helpers (r0 is then unset). */
export type VmHelper = (call: VmHelperCall) => VmValue | undefined;

const neg = (code: keyof typeof Errno): bigint => BigInt.asUintN(64, BigInt(-Errno[code]));
const u64 = (n: number | bigint): bigint => BigInt.asUintN(64, BigInt(n));

// ---- maps ---------------------------------------------------------------------------------------

function mapLookup(c: VmHelperCall): VmValue {
  const map = c.map(1);
  if (map instanceof VmRingBuf || map instanceof VmQueueMap) {
    throw fault('helper', `map_lookup_elem on ${map.type} map ${map.label}`, map instanceof VmRingBuf ? 'the verifier rejects it: use ringbuf_reserve / ringbuf_output' : 'the verifier rejects it: use map_peek_elem or map_pop_elem');
  }
  const region = map.programLookup(c.read(2, map.keySize), c.cpu);
  return region ? new VmPointer(region, 0) : 0n;
}

function mapUpdate(c: VmHelperCall): VmValue {
  const map = c.map(1);
  if (map instanceof VmRingBuf || map instanceof VmQueueMap) {
    throw fault('helper', `map_update_elem on ${map.type} map ${map.label}`, 'the verifier rejects it: use the map\'s own helpers');
  }
  return u64(map.programUpdate(c.read(2, map.keySize), c.read(3, map.valueSize), c.scalar(4), c.cpu));
}

function mapDelete(c: VmHelperCall): VmValue {
  const map = c.map(1);
  if (map instanceof VmRingBuf || map instanceof VmQueueMap) {
    throw fault('helper', `map_delete_elem on ${map.type} map ${map.label}`, 'the verifier rejects it');
  }
  return u64(map.programDelete(c.read(2, map.keySize)));
}

function queueMap(c: VmHelperCall, what: string): VmQueueMap {
  const map = c.map(1);
  if (!(map instanceof VmQueueMap)) throw fault('helper', `${what} on ${map.type} map ${map.label}`, 'it works on QUEUE and STACK maps only');
  return map;
}

/** queue_stack_map pop / peek: the value, or a zero-filled buffer and -ENOENT when empty. */
function queueTake(c: VmHelperCall, pop: boolean): VmValue {
  const map = queueMap(c, pop ? 'map_pop_elem' : 'map_peek_elem');
  const v = pop ? map.pop() : map.peek();
  c.write(2, v ?? zeroed(map.valueSize));
  return v ? 0n : neg('ENOENT');
}

// ---- ring buffer --------------------------------------------------------------------------------

/** BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP: the only flags output, submit and discard take. */
const RB_WAKEUP_FLAGS = 3n;

function ringBuf(c: VmHelperCall, what: string): VmRingBuf {
  const map = c.map(1);
  if (!(map instanceof VmRingBuf)) throw fault('helper', `${what} on ${map.type} map ${map.label}`, 'pass a RINGBUF map');
  return map;
}

function ringbufOutput(c: VmHelperCall): VmValue {
  const rb = ringBuf(c, 'ringbuf_output');
  const size = c.size(3, true);
  const data = c.read(2, size);
  if (c.scalar(4) & ~RB_WAKEUP_FLAGS) return neg('EINVAL');
  const region = rb.reserve(size);
  if (!region) return neg('EAGAIN');
  region.bytes.set(data);
  rb.commit(region, false);
  return 0n;
}

function ringbufReserve(c: VmHelperCall): VmValue {
  const rb = ringBuf(c, 'ringbuf_reserve');
  const size = c.size(2, true);
  if (c.scalar(3) !== 0n) return 0n;
  const region = rb.reserve(size);
  if (!region) return 0n;
  c.reserved(region);
  return new VmPointer(region, 0);
}

function ringbufCommit(c: VmHelperCall, discard: boolean): undefined {
  const what = discard ? 'ringbuf_discard' : 'ringbuf_submit';
  const p = c.pointer(1);
  c.scalar(2);
  if (p.region.kind !== 'ringbuf_mem' || !(p.region.owner instanceof VmRingBuf)) {
    throw fault('helper', `${what} of ${p.toString()}`, 'pass the pointer ringbuf_reserve returned');
  }
  if (p.off !== 0) throw fault('helper', `${what} of ${p.toString()}: the pointer was moved`, 'pass the pointer ringbuf_reserve returned, at offset 0');
  if (!p.region.owner.commit(p.region, discard)) {
    throw fault('helper', `${what} of a record already submitted or discarded`, 'release each reservation exactly once');
  }
  c.released(p.region);
  return undefined;
}

/** ringbuf_query flags: BPF_RB_AVAIL_DATA, RING_SIZE, CONS_POS, PROD_POS. */
function ringbufQuery(c: VmHelperCall): VmValue {
  const rb = ringBuf(c, 'ringbuf_query');
  switch (c.scalar(2)) {
    case 0n: return u64(rb.usedBytes);
    case 1n: return u64(rb.maxEntries);
    case 2n: return u64(rb.consumerPos);
    case 3n: return u64(rb.producerPos);
    default: return 0n;
  }
}

// ---- task ---------------------------------------------------------------------------------------

/** strscpy_pad: at most len - 1 bytes, NUL-terminated, zero-padded. */
function paddedString(text: string, len: number): Uint8Array {
  const out = zeroed(len);
  out.set(Buffer.from(text).subarray(0, Math.max(0, len - 1)));
  return out;
}

function getCurrentComm(c: VmHelperCall): VmValue {
  const size = c.size(2, false);
  // The kernel's comm is at most TASK_COMM_LEN - 1 = 15 bytes.
  c.write(1, paddedString(Buffer.from(c.task.comm).subarray(0, 15).toString('latin1'), size));
  return 0n;
}

function ancestorCgroupId(c: VmHelperCall): VmValue {
  const level = BigInt.asIntN(32, c.scalar(1));
  if (level < 0n || level >= BigInt(c.task.ancestorCgroupIds.length)) return 0n;
  return c.task.ancestorCgroupIds[Number(level)]!;
}

// ---- cgroup-sysctl ------------------------------------------------------------------------------

function sysctl(c: VmHelperCall, what: string): SysctlState {
  const ctx = c.context(1);
  if (!(ctx instanceof SysctlState)) throw fault('helper', `${what} in a program whose context is not a sysctl access`, 'run it with ctx: { kind: \'sysctl\', ... }');
  return ctx;
}

/**
 * bpf_sysctl_get_name: the name (or with BPF_F_SYSCTL_BASE_NAME the last part) copied as strscpy
 * copies it, part by part: truncated to len - 1 bytes and NUL-terminated, -E2BIG when it did not
 * fit. Copying the whole name with one truncation gives the same bytes and result.
 */
function sysctlGetName(c: VmHelperCall): VmValue {
  const s = sysctl(c, 'sysctl_get_name');
  const len = c.size(3, false);
  const flags = c.scalar(4);
  // arg2 is ARG_PTR_TO_MEM: the verifier wants all len bytes initialised (the selftests zero the
  // buffer first), even though the helper only writes the name and its NUL.
  c.read(2, len);
  const name = Buffer.from(s.nameFor((flags & 1n) !== 0n));
  const out = zeroed(Math.min(len, name.length + 1));
  name.copy(out, 0, 0, out.length - 1);
  c.write(2, out);
  return name.length < len ? u64(name.length) : neg('E2BIG');
}

/** copy_sysctl_value: copy and zero-pad; -E2BIG with a NUL at len - 1; -EINVAL and zeros without a value. */
function copySysctlValue(c: VmHelperCall, len: number, src: Buffer | null): VmValue {
  const out = zeroed(len);
  if (src === null || src.length === 0) {
    c.write(2, out);
    return neg('EINVAL');
  }
  src.copy(out, 0, 0, Math.min(len, src.length));
  if (len > src.length) {
    c.write(2, out);
    return u64(src.length);
  }
  out[len - 1] = 0;
  c.write(2, out);
  return neg('E2BIG');
}

function sysctlGetCurrentValue(c: VmHelperCall): VmValue {
  const s = sysctl(c, 'sysctl_get_current_value');
  return copySysctlValue(c, c.size(3, false), s.currentValue);
}

function sysctlGetNewValue(c: VmHelperCall): VmValue {
  const s = sysctl(c, 'sysctl_get_new_value');
  const len = c.size(3, false);
  if (!s.write) {
    c.write(2, zeroed(len));
    return neg('EINVAL');
  }
  return copySysctlValue(c, len, s.newValue);
}

function sysctlSetNewValue(c: VmHelperCall): VmValue {
  const s = sysctl(c, 'sysctl_set_new_value');
  const len = c.size(3, false);
  const value = c.read(2, len);
  if (!s.write || s.newValue === null) return neg('EINVAL');
  if (len > SYSCTL_PAGE_SIZE_MINUS_1) return neg('E2BIG');
  s.newValue = value;
  s.newUpdated = true;
  return 0n;
}
const SYSCTL_PAGE_SIZE_MINUS_1 = 4095;

// ---- strtol / strtoul ---------------------------------------------------------------------------

/** lib/ctype.c's isspace: \t \n \v \f \r, space, and 0xa0 (Latin-1 no-break space). */
const isSpace = (ch: number): boolean => (ch >= 9 && ch <= 13) || ch === 32 || ch === 0xa0;
const isXDigit = (ch: number): boolean => (ch >= 48 && ch <= 57) || ((ch | 0x20) >= 97 && (ch | 0x20) <= 102);
const U64_MAX = (1n << 64n) - 1n;
/** BPF_STRTOX_BASE_MASK */
const BASE_MASK = 0x1fn;

interface Parsed { ret: number; value: bigint; negative: boolean }

/** __bpf_strtoull: returns characters consumed (or -errno), the magnitude and the sign. */
export function kernelStrtoull(buf: Uint8Array, flags: bigint): Parsed {
  const fail = (code: keyof typeof Errno): Parsed => ({ ret: -Errno[code], value: 0n, negative: false });
  let base = Number(flags & BASE_MASK);
  if (base !== 0 && base !== 8 && base !== 10 && base !== 16) return fail('EINVAL');
  if (flags & ~BASE_MASK) return fail('EINVAL');
  let i = 0;
  while (i < buf.length && isSpace(buf[i]!)) i++;
  const negative = i < buf.length && buf[i] === 0x2d;
  if (negative) i++;
  const consumed = i;
  if (buf.length - i === 0) return fail('EINVAL');
  // At most 63 bytes after the sign are parsed, from a NUL-terminated copy.
  const str = zeroed(66);
  str.set(buf.subarray(i, i + Math.min(buf.length - i, 63)));
  let s = 0;
  if (base === 0) {
    if (str[0] === 0x30) base = (str[1]! | 0x20) === 0x78 && isXDigit(str[2]!) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && str[0] === 0x30 && (str[1]! | 0x20) === 0x78) s = 2;
  // _parse_integer: overflow is noted and parsing goes on, as the kernel does.
  const b = BigInt(base);
  let res = 0n;
  let digits = 0;
  let overflow = false;
  for (;;) {
    const ch = str[s + digits]!;
    const lc = ch | 0x20;
    let val: number;
    if (ch >= 48 && ch <= 57) val = ch - 48;
    else if (lc >= 97 && lc <= 102) val = lc - 97 + 10;
    else break;
    if (val >= base) break;
    const v = BigInt(val);
    if (res >> 60n !== 0n && res > (U64_MAX - v) / b) overflow = true;
    res = (res * b + v) & U64_MAX;
    digits++;
  }
  if (overflow) return fail('ERANGE');
  if (digits === 0) return fail('EINVAL');
  return { ret: consumed + s + digits, value: res, negative };
}

/** bpf_strtol's result: characters consumed or -errno, and the value stored in *res. */
export function kernelStrtol(buf: Uint8Array, flags: bigint): { ret: number; value: bigint } {
  const p = kernelStrtoull(buf, flags);
  if (p.ret < 0) return { ret: p.ret, value: 0n };
  if (p.negative) {
    const v = BigInt.asIntN(64, -p.value);
    if (v > 0n) return { ret: -Errno.ERANGE, value: 0n };
    return { ret: p.ret, value: BigInt.asUintN(64, v) };
  }
  if (BigInt.asIntN(64, p.value) < 0n) return { ret: -Errno.ERANGE, value: 0n };
  return { ret: p.ret, value: p.value };
}

/** bpf_strtoul's result. */
export function kernelStrtoul(buf: Uint8Array, flags: bigint): { ret: number; value: bigint } {
  const p = kernelStrtoull(buf, flags);
  if (p.ret < 0) return { ret: p.ret, value: 0n };
  if (p.negative) return { ret: -Errno.EINVAL, value: 0n };
  return { ret: p.ret, value: p.value };
}

function strto(c: VmHelperCall, parse: (buf: Uint8Array, flags: bigint) => { ret: number; value: bigint }): VmValue {
  const len = c.size(2, false);
  const flags = c.scalar(3);
  const buf = c.read(1, len);
  if (c.pointer(4).off % 8 !== 0) throw fault('misaligned', `strtol/strtoul result pointer ${c.pointer(4).toString()} is not 8-byte aligned`, 'the verifier wants an aligned long');
  const res = zeroed(8);
  c.write(4, res); // *res = 0 first, whatever happens next
  const r = parse(buf, flags);
  if (r.ret >= 0) {
    res.writeBigUInt64LE(r.value);
    c.write(4, res);
  }
  return u64(r.ret);
}

// ---- trace_printk -------------------------------------------------------------------------------

/** bpf_trace_printk's formats: %d %i %u %x %X %c %s %% with l / ll modifiers; up to three arguments. */
function tracePrintk(c: VmHelperCall): VmValue {
  const size = c.size(2, false);
  const fmtBytes = c.read(1, size);
  const nul = fmtBytes.indexOf(0);
  if (nul < 0) throw fault('helper', 'trace_printk format is not NUL-terminated within its size', 'include the NUL in fmt_size');
  const fmt = fmtBytes.subarray(0, nul).toString('latin1');
  let arg = 3;
  const line = fmt.replace(/%(l{0,2})([diuxXcsp%])/g, (_m, width: string, conv: string) => {
    if (conv === '%') return '%';
    if (arg > 5) throw fault('helper', 'trace_printk with more than three arguments', 'print at most three values per call');
    const n = arg++;
    const v = c.args[n - 1];
    if (conv === 's') {
      // The string up to its NUL, read through the checks (bounds, stack bytes written).
      const p = c.pointer(n);
      const nulAt = p.region.bytes.indexOf(0, Math.max(0, p.off));
      const text = c.read(n, (nulAt < 0 ? p.region.size : nulAt + 1) - p.off);
      return text.subarray(0, text.indexOf(0) < 0 ? text.length : text.indexOf(0)).toString('latin1');
    }
    if (conv === 'p') return formatValue(v);
    const x = c.scalar(n);
    const wide = width.length > 0;
    const val = wide ? x : x & 0xffff_ffffn;
    switch (conv) {
      case 'd': case 'i': return (wide ? BigInt.asIntN(64, val) : BigInt.asIntN(32, val)).toString();
      case 'u': return val.toString();
      case 'x': return val.toString(16);
      case 'X': return val.toString(16).toUpperCase();
      default: return String.fromCharCode(Number(x & 0xffn));
    }
  });
  c.print(line.replace(/\n$/, ''));
  return u64(Buffer.byteLength(line, 'latin1'));
}

// ---- the table ----------------------------------------------------------------------------------

const ktime = (c: VmHelperCall): VmValue => c.task.ktimeNs();

/** Built-in helpers by name (without bpf_). */
export const BUILTIN_HELPERS: Readonly<Record<string, VmHelper>> = {
  map_lookup_elem: mapLookup,
  map_update_elem: mapUpdate,
  map_delete_elem: mapDelete,
  map_push_elem: (c) => u64(queueMap(c, 'map_push_elem').push(c.read(2, c.map(1).valueSize), c.scalar(3))),
  map_pop_elem: (c) => queueTake(c, true),
  map_peek_elem: (c) => queueTake(c, false),
  map_lookup_percpu_elem: (c) => {
    const map = c.map(1);
    const cpu = c.scalar(3);
    if (!map.isPerCpu) throw fault('helper', `map_lookup_percpu_elem on ${map.type} map ${map.label}`, 'it works on per-CPU maps only');
    if (cpu >= BigInt(map.cpus)) return 0n;
    const region = map.programLookup(c.read(2, map.keySize), Number(cpu));
    return region ? new VmPointer(region, 0) : 0n;
  },
  ringbuf_output: ringbufOutput,
  ringbuf_reserve: ringbufReserve,
  ringbuf_submit: (c) => ringbufCommit(c, false),
  ringbuf_discard: (c) => ringbufCommit(c, true),
  ringbuf_query: ringbufQuery,
  ktime_get_ns: ktime,
  ktime_get_boot_ns: ktime,
  ktime_get_coarse_ns: ktime,
  get_prandom_u32: (c) => BigInt(c.random()),
  get_smp_processor_id: (c) => BigInt(c.cpu),
  get_numa_node_id: () => 0n,
  get_current_pid_tgid: (c) => (BigInt(c.task.tgid >>> 0) << 32n) | BigInt(c.task.pid >>> 0),
  get_current_uid_gid: (c) => (BigInt(c.task.gid >>> 0) << 32n) | BigInt(c.task.uid >>> 0),
  get_current_comm: getCurrentComm,
  get_current_cgroup_id: (c) => c.task.cgroupId,
  get_current_ancestor_cgroup_id: ancestorCgroupId,
  get_current_task_btf: (c) => {
    const t = c.task.kernelTask;
    if (!t) throw fault('helper', 'get_current_task_btf: the run models no task_struct', 'give the run a task with kernelTask (VmKernelObject)');
    return new VmPointer(kernelRegion(t), 0);
  },
  trace_printk: tracePrintk,
  sysctl_get_name: sysctlGetName,
  sysctl_get_current_value: sysctlGetCurrentValue,
  sysctl_get_new_value: sysctlGetNewValue,
  sysctl_set_new_value: sysctlSetNewValue,
  strtol: (c) => strto(c, kernelStrtol),
  strtoul: (c) => strto(c, kernelStrtoul),
};

/** Helper table by id: built-ins, then `extra` (by name or id) on top. */
export function helperTable(extra: Readonly<Record<string, VmHelper>> = {}): Map<number, VmHelper> {
  const table = new Map<number, VmHelper>();
  for (const [name, fn] of Object.entries(BUILTIN_HELPERS)) table.set(helperId(name), fn);
  for (const [name, fn] of Object.entries(extra)) table.set(/^\d+$/.test(name) ? Number(name) : helperId(name), fn);
  return table;
}
