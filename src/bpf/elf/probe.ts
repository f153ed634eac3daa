// Probe sections as libbpf names them: kprobe/FUNC[+OFFSET], kretprobe/FUNC,
// uprobe/BINARY:FUNC[+OFFSET], uretprobe/BINARY:FUNC, and the sleepable uprobe.s / uretprobe.s.
// The target is parsed without a kernel; opening the perf event (kprobe / uprobe PMU) needs one.
import type { FD } from '../sys/fd.js';
import { perfEventOpenProbe } from '../sys/perf.js';
import { Executable } from './executable.js';
import type { ProgramObjectSpec } from './object.js';

/** What a probe section attaches to. */
export interface ProbeTarget {
  pmu: 'kprobe' | 'uprobe';
  retprobe: boolean;
  /** uprobe: the binary as the section names it (a path, or a bare name such as libc.so.6). */
  binary?: string;
  /** kprobe: the kernel function; uprobe: the function symbol in the binary. */
  func: string;
  /** Bytes past the function's start (+OFFSET); 0 for return probes. */
  offset: number;
}

const PROBES: Record<string, Pick<ProbeTarget, 'pmu' | 'retprobe'>> = {
  kprobe: { pmu: 'kprobe', retprobe: false }, kretprobe: { pmu: 'kprobe', retprobe: true },
  uprobe: { pmu: 'uprobe', retprobe: false }, uretprobe: { pmu: 'uprobe', retprobe: true },
  'uprobe.s': { pmu: 'uprobe', retprobe: false }, 'uretprobe.s': { pmu: 'uprobe', retprobe: true },
};

/** Whether a section prefix is a probe sysward attaches (kprobe.multi, ksyscall and usdt are not). */
export const isProbeSection = (prefix: string): boolean => prefix in PROBES;

/** strtol with base 0, as libbpf's "%li": 0x… hex, 0… octal, else decimal. */
function parseOffset(text: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^0[0-7]*$/.test(text)) return Number.parseInt(text, 8);
  if (/^[1-9]\d*$/.test(text)) return Number(text);
  return undefined;
}

/**
 * The target of a probe section, `prefix` and `target` as matchSection splits the name
 * ("uprobe", "/usr/lib/libc.so.6:malloc+4"). `what` names the section in errors.
 */
export function parseProbeTarget(prefix: string, target: string, what = `SEC("${prefix}/${target}")`): ProbeTarget {
  const kind = PROBES[prefix];
  if (!kind) throw new Error(`${what}: attaching ${prefix} programs is not supported by sysward yet; load it and attach with bpftool, or pin it`);
  const example = kind.pmu === 'kprobe' ? `${prefix}/do_unlinkat` : `${prefix}/libc.so.6:malloc`;
  let binary: string | undefined;
  let spec = target;
  if (kind.pmu === 'uprobe') {
    // libbpf's "%m[^:]:%m[^\n]": the binary ends at the first colon.
    const colon = target.indexOf(':');
    if (colon < 0) {
      throw new Error(`${what} names ${target ? `no function in ${target}` : 'no binary and function'}: use ${prefix}/BINARY:FUNC${kind.retprobe ? '' : '[+OFFSET]'}, e.g. ${example}`);
    }
    binary = target.slice(0, colon);
    spec = target.slice(colon + 1);
    if (!binary) throw new Error(`${what} names no binary: use ${prefix}/BINARY:FUNC, e.g. ${example}`);
  }
  let func = spec;
  let offset = 0;
  const plus = spec.lastIndexOf('+');
  if (plus >= 0) {
    const parsed = parseOffset(spec.slice(plus + 1));
    if (parsed === undefined) throw new Error(`${what}: "${spec.slice(plus + 1)}" is not an offset; write FUNC+OFFSET with a decimal or 0x-hex OFFSET`);
    func = spec.slice(0, plus);
    offset = parsed;
  }
  if (!func) throw new Error(`${what} names no function: use ${prefix}/${kind.pmu === 'uprobe' ? 'BINARY:' : ''}FUNC, e.g. ${example}`);
  if (kind.retprobe && offset !== 0) throw new Error(`${what}: return probes take no offset; a ${prefix} fires when ${func} returns`);
  return { ...kind, ...(binary !== undefined ? { binary } : {}), func, offset };
}

/**
 * The perf event a probe program is linked to: a kprobe on the kernel function, or a uprobe on the
 * binary at the function's file offset (plus +OFFSET), on every process that runs it.
 */
export function openProbeEvent(p: ProgramObjectSpec): FD {
  const t = parseProbeTarget(p.def.prefix, p.attachTarget, `${p.name}: SEC("${p.section}")`);
  if (t.pmu === 'kprobe') return perfEventOpenProbe({ pmu: 'kprobe', retprobe: t.retprobe, target: t.func, offset: t.offset });
  const exe = Executable.open(t.binary!);
  return perfEventOpenProbe({ pmu: 'uprobe', retprobe: t.retprobe, target: exe.path, offset: exe.functionOffset(t.func) + t.offset });
}
