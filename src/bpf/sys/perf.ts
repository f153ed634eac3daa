// perf_event_open(2) for tracepoints: the event a BPF program of type TRACEPOINT is linked to.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Layout } from './layout.js';
import { SysError } from './errors.js';
import { FD } from './fd.js';
import { errno, mount, perfEventOpenNumber, syscallPerf } from './libc.js';

/** The first 64 bytes of struct perf_event_attr (PERF_ATTR_SIZE_VER0), all a tracepoint needs. */
export const PerfEventAttr = new Layout('struct perf_event_attr', '', {
  type: 'u32', size: 'u32', config: 'u64', sample_period: 'u64', sample_type: 'u64', read_format: 'u64',
  flags: 'u64', wakeup_events: 'u32', bp_type: 'u32', config1: 'u64',
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
