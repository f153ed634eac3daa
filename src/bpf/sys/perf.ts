// perf_event_open(2) for tracepoints, kprobes and uprobes: the event a BPF program of type
// TRACEPOINT or KPROBE is linked to.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Layout } from './layout.js';
import { NotSupportedError, SysError } from './errors.js';
import { FD } from './fd.js';
import { errno, mount, perfEventOpenNumber, syscallPerf } from './libc.js';
import { readKallsyms } from '../kallsyms.js';

/**
 * The first 72 bytes of struct perf_event_attr (PERF_ATTR_SIZE_VER1), all tracepoints and probes
 * need. For the kprobe and uprobe PMUs config1 points to the function name or binary path
 * (kprobe_func, uprobe_path) and config2 is the offset (kprobe_addr, probe_offset).
 */
export const PerfEventAttr = new Layout('struct perf_event_attr', '', {
  type: 'u32', size: 'u32', config: 'u64', sample_period: 'u64', sample_type: 'u64', read_format: 'u64',
  flags: 'u64', wakeup_events: 'u32', bp_type: 'u32', config1: 'ptr', config2: 'u64',
}, { flags: null });

const PERF_TYPE_TRACEPOINT = 2;
const PERF_FLAG_FD_CLOEXEC = 8;
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The tracefs directory, mounted at /sys/kernel/tracing when no tracefs is (needs root). */
export function tracefs(): string {
  for (const d of TRACEFS) if (existsSync(join(d, 'events'))) return d;
  if (mount('nodev', TRACEFS[0]!, 'tracefs', 0, '') !== 0) {
    throw new SysError(`mounting tracefs at ${TRACEFS[0]}`, errno(), { EPERM: 'run as root, or mount it yourself: mount -t tracefs nodev /sys/kernel/tracing' });
  }
  return TRACEFS[0]!;
}

/** The id of tracepoint CATEGORY/NAME (e.g. sched/sched_process_exec). */
export function tracepointId(target: string): number {
  const path = join(tracefs(), 'events', target, 'id');
  try { return Number(readFileSync(path, 'utf8').trim()); } catch {
    throw new Error(`no tracepoint ${target} on this kernel (${path} is missing); list them in ${join(tracefs(), 'events')}`);
  }
}

/** A perf event for a tracepoint on all tasks (pid -1, cpu 0: the BPF program runs on every CPU). */
export function perfEventOpenTracepoint(target: string): FD {
  if (perfEventOpenNumber === undefined) throw new Error(`sysward does not know perf_event_open's syscall number on ${process.arch}`);
  const attr = PerfEventAttr.encode({ type: PERF_TYPE_TRACEPOINT, size: PerfEventAttr.size, config: BigInt(tracepointId(target)), sample_period: 1n, wakeup_events: 1 });
  const fd = Number(syscallPerf(perfEventOpenNumber, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) throw new SysError(`opening a perf event for tracepoint ${target}`, errno(), { EACCES: 'run as root, or lower kernel.perf_event_paranoid', EPERM: 'run as root (CAP_PERFMON)' });
  return new FD(fd, 'perf event');
}

const EVENT_SOURCES = '/sys/bus/event_source/devices';

/** Why the kprobe PMU is missing, from /proc/kallsyms (names are listed even when addresses are hidden). */
function kprobeAbsence(): string {
  const syms = readKallsyms();
  if (!syms) return 'CONFIG_KPROBES or CONFIG_KPROBE_EVENTS is not set, or the kernel is older than 4.17';
  if (syms.addressesOf('register_kprobe').length === 0) return 'CONFIG_KPROBES is not set';
  return 'CONFIG_KPROBE_EVENTS is not set, or the kernel is older than 4.17';
}

/**
 * The dynamic PMU of kprobes or uprobes (Linux 4.17): its perf type and the config bit that makes
 * a return probe, both from sysfs (format/retprobe reads "config:0").
 */
export function probePmu(pmu: 'kprobe' | 'uprobe', retprobe: boolean): { type: number; retprobeBit: number } {
  const dir = join(EVENT_SOURCES, pmu);
  if (!existsSync(dir)) {
    const why = pmu === 'kprobe' ? kprobeAbsence() : 'CONFIG_UPROBE_EVENTS is not set, or the kernel is older than 4.17';
    const fix = pmu === 'kprobe'
      ? 'kprobe/ and kretprobe/ programs cannot attach here; use a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y, or fentry/FUNC and fexit/FUNC where the kernel allows BPF trampolines'
      : 'uprobe/ and uretprobe/ programs cannot attach here; use a kernel built with CONFIG_UPROBE_EVENTS=y';
    throw new NotSupportedError(`${pmu}s`, why, `this kernel has no ${pmu} PMU (${why}: ${dir} is missing); ${fix}`);
  }
  const read = (file: string): string => { try { return readFileSync(join(dir, file), 'utf8').trim(); } catch { return ''; } };
  const type = read('type');
  if (!/^\d+$/.test(type)) throw new Error(`${dir}/type is missing or not a number`);
  if (!retprobe) return { type: Number(type), retprobeBit: -1 };
  // Only return probes need the bit (libbpf reads it only for them too).
  const format = /^config:(\d+)$/.exec(read('format/retprobe'));
  if (!format) throw new Error(`${dir}/format/retprobe is missing or unexpected (sysward reads "config:BIT"): this kernel cannot make return probes`);
  return { type: Number(type), retprobeBit: Number(format[1]) };
}

export interface ProbeEventOptions {
  pmu: 'kprobe' | 'uprobe';
  retprobe: boolean;
  /** kprobe: the kernel function; uprobe: the path of the binary. */
  target: string;
  /** kprobe: bytes into the function; uprobe: the file offset of the probed instruction. */
  offset: number;
}

/** A perf event for a kprobe or uprobe on every process, for LINK_CREATE with BPF_PERF_EVENT. */
export function perfEventOpenProbe(o: ProbeEventOptions): FD {
  if (perfEventOpenNumber === undefined) throw new Error(`sysward does not know perf_event_open's syscall number on ${process.arch}`);
  const { type, retprobeBit } = probePmu(o.pmu, o.retprobe);
  const name = Buffer.from(`${o.target}\0`); // kept referenced until the syscall returned
  const attr = PerfEventAttr.encode({
    type, size: PerfEventAttr.size, config: o.retprobe ? 1n << BigInt(retprobeBit) : 0n, config1: name, config2: BigInt(o.offset),
  });
  // pid -1 (every process) needs a cpu; the program runs on whichever CPU hits the probe.
  const fd = Number(syscallPerf(perfEventOpenNumber, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  const err = fd < 0 ? errno() : 0;
  void name.length;
  if (fd >= 0) return new FD(fd, 'perf event');
  const kind = o.retprobe ? o.pmu.replace('probe', 'retprobe') : o.pmu;
  const where = o.pmu === 'uprobe' ? `${o.target} at file offset 0x${o.offset.toString(16)}` : `${o.target}${o.offset ? `+${o.offset}` : ''}`;
  throw new SysError(`opening a perf event for ${kind} ${where}`, err, o.pmu === 'kprobe' ? {
    ENOENT: `the kernel has no function ${o.target} (see /proc/kallsyms), or it cannot be probed (inlined, notrace)`,
    EINVAL: 'the function cannot be probed (on the kprobe blacklist) or the offset is not inside it',
    EILSEQ: 'the offset is not at an instruction boundary',
    EACCES: 'run as root, or lower kernel.perf_event_paranoid', EPERM: 'run as root (CAP_PERFMON); lockdown=confidentiality forbids kprobes',
  } : {
    ENOENT: `${o.target} does not exist`,
    EINVAL: 'the offset is past the end of the file or the path is not a regular file',
    EACCES: 'run as root, or lower kernel.perf_event_paranoid', EPERM: 'run as root (CAP_PERFMON)',
  });
}
