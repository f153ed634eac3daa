import { existsSync, readFileSync } from 'node:fs';
import { release, arch } from 'node:os';
import { parse, printJson, type Command } from '../command.js';
import { requireRoot } from '../root.js';
import { PROBED_MAP_TYPES, probeCgroupLink, probeHelper, probeMapType, probeProgramType, type Support } from '../../bpf/features.js';
import { probeSysctlSetNewValueAsync } from '../../guard/runtime/override-probe.js';
import { namespaceSupport } from '../../guard/runtime/namespaces.js';
import { DEFAULT_BPFFS, isBpffs } from '../../bpf/pin.js';
import { findCgroup2Mount, isHybrid, NoCgroupV2Error } from '../../cgroup/hierarchy.js';
import type { ProgTypeName } from '../../bpf/prog.js';
import { out } from '../output.js';

const PROG_TYPES: ProgTypeName[] = ['CGROUP_SYSCTL', 'CGROUP_SKB', 'CGROUP_SOCK', 'CGROUP_DEVICE', 'CGROUP_SOCKOPT', 'SOCKET_FILTER', 'KPROBE', 'TRACEPOINT', 'RAW_TRACEPOINT', 'PERF_EVENT', 'XDP', 'SCHED_CLS'];
/** What a sysctl guard calls; each must be available to cgroup-sysctl programs. */
const SYSCTL_HELPERS = ['sysctl_get_name', 'sysctl_get_current_value', 'sysctl_get_new_value', 'sysctl_set_new_value', 'strtol', 'strtoul',
  'map_lookup_elem', 'map_update_elem', 'ringbuf_output', 'ringbuf_reserve', 'ringbuf_submit', 'ringbuf_discard',
  'get_current_pid_tgid', 'get_current_uid_gid', 'get_current_comm', 'get_current_cgroup_id', 'ktime_get_ns'];

const readTrim = (p: string): string | undefined => { try { return readFileSync(p, 'utf8').trim(); } catch { return undefined; } };

export interface ProbeReport {
  kernel: { release: string; arch: string };
  root: boolean;
  cgroup2: { path: string | null; hybrid: boolean; error?: string };
  bpffs: { path: string; mounted: boolean };
  unprivilegedBpfDisabled: number | null;
  btf: { vmlinux: boolean };
  lsm: { bpf: boolean; list: string | null };
  programTypes: Record<string, Support>;
  mapTypes: Record<string, Support>;
  sysctlHelpers: Record<string, Support>;
  cgroupLink: Support | null;
  sysctlSetNewValue: Support | null;
  /**
   * Whether guards read the writer's namespaces (follow tasks out of their cgroups, check
   * namespace: own), and where the host's namespaces were read from.
   */
  namespaces: (Support & { hostFrom?: string }) | null;
  /** The two things the guard cannot do without; null when they were not probed (not root). */
  guardSupported: boolean | null;
}

export async function probeAll(): Promise<ProbeReport> {
  let cgPath: string | null = null;
  let cgError: string | undefined;
  try { cgPath = findCgroup2Mount(); } catch (e) { if (!(e instanceof NoCgroupV2Error)) throw e; cgError = e.message; }
  const root = process.geteuid?.() === 0;
  const needsRoot: Support = { supported: false, reason: 'not probed: needs root' };
  const each = <T extends string>(names: readonly T[], f: (n: T) => Support) => Object.fromEntries(names.map((n) => [n, root ? f(n) : needsRoot]));
  // The set_new_value probe's child process runs while the other probes load their programs.
  const setNewValue = root && cgPath ? probeSysctlSetNewValueAsync(cgPath) : null;
  const lsmList = readTrim('/sys/kernel/security/lsm') ?? null;
  const unpriv = readTrim('/proc/sys/kernel/unprivileged_bpf_disabled');
  const r: ProbeReport = {
    kernel: { release: release(), arch: arch() },
    root,
    cgroup2: { path: cgPath, hybrid: cgPath !== null && isHybrid(), ...(cgError ? { error: cgError } : {}) },
    bpffs: { path: DEFAULT_BPFFS, mounted: isBpffs(DEFAULT_BPFFS) },
    unprivilegedBpfDisabled: unpriv === undefined ? null : Number(unpriv),
    btf: { vmlinux: existsSync('/sys/kernel/btf/vmlinux') },
    lsm: { bpf: lsmList?.split(',').includes('bpf') ?? false, list: lsmList },
    programTypes: each(PROG_TYPES, probeProgramType),
    mapTypes: each(PROBED_MAP_TYPES, probeMapType),
    sysctlHelpers: each(SYSCTL_HELPERS, (h) => probeHelper('CGROUP_SYSCTL', h)),
    cgroupLink: root && cgPath ? probeCgroupLink(cgPath) : null,
    sysctlSetNewValue: null,
    namespaces: null,
    guardSupported: false,
  };
  if (root) {
    const ns = namespaceSupport();
    r.namespaces = 'facts' in ns ? { supported: true, hostFrom: ns.source } : { supported: false, reason: `${ns.reason}; guards then work by cgroup alone: a task that moves itself to another cgroup leaves its guard, and namespace: own is not checked` };
  }
  r.sysctlSetNewValue = setNewValue ? await setNewValue : null;
  r.guardSupported = cgPath === null ? false : !root ? null : (r.programTypes.CGROUP_SYSCTL?.supported ?? false) && (r.mapTypes.RINGBUF?.supported ?? false);
  return r;
}

const mark = (s: Support | null): string => (s === null ? 'not probed' : s.supported ? 'yes' : `no (${s.reason})`);

function printHuman(r: ProbeReport): void {
  const rows: [string, string][] = [
    ['kernel', `${r.kernel.release} ${r.kernel.arch}`],
    ['cgroup v2', r.cgroup2.path ? `${r.cgroup2.path}${r.cgroup2.hybrid ? ' (hybrid host: v1 controllers mounted beside it)' : ''}` : `missing: ${r.cgroup2.error}`],
    ['bpffs', r.bpffs.mounted ? r.bpffs.path : `not mounted at ${r.bpffs.path} (sysward mounts it when it pins, as root)`],
    ['unprivileged bpf', r.unprivilegedBpfDisabled === null ? 'unknown' : r.unprivilegedBpfDisabled === 0 ? 'allowed' : `disabled (kernel.unprivileged_bpf_disabled=${r.unprivilegedBpfDisabled})`],
    ['BTF (vmlinux)', r.btf.vmlinux ? 'yes' : 'no'],
    ['BPF LSM', r.lsm.list === null ? 'unknown (securityfs not mounted)' : r.lsm.bpf ? 'enabled' : `not enabled (lsm=${r.lsm.list})`],
    ['cgroup bpf_link', mark(r.cgroupLink)],
    ['sysctl set_new_value', mark(r.sysctlSetNewValue)],
    ['writer namespaces', r.namespaces?.supported ? `yes (host namespaces from ${r.namespaces.hostFrom})` : mark(r.namespaces)],
  ];
  const w = 22;
  // One write for the report (each out() is a write(2)).
  const lines: string[] = [];
  for (const [k, v] of rows) lines.push(`${k.padEnd(w)}${v}\n`);
  for (const [title, table] of [['program types', r.programTypes], ['map types', r.mapTypes], ['cgroup_sysctl helpers', r.sysctlHelpers]] as const) {
    lines.push(`\n${title}\n`);
    for (const [k, v] of Object.entries(table)) lines.push(`  ${k.toLowerCase().padEnd(w + 4)}${mark(v)}\n`);
  }
  const verdict = r.guardSupported === null ? 'not known: program types, maps and helpers were not probed (needs root)'
    : r.guardSupported ? 'supported on this host' : 'NOT supported on this host (needs cgroup v2, cgroup_sysctl programs and ring buffers)';
  lines.push(`\nsysctl guard: ${verdict}\n`);
  out(lines.join(''));
}

const command: Command = {
  name: 'probe',
  summary: 'what this kernel supports',
  help: `usage: sysward probe [--json]

Report what this kernel supports for sysward: the cgroup v2 mount (unified or hybrid), bpffs,
program and map types, the helpers a cgroup-sysctl program calls, cgroup bpf_links, and whether
bpf_sysctl_set_new_value really stores the value (tested in a private UTS namespace on
kernel.domainname; the host's value is not touched), and whether guards can read the writer's
namespaces (to follow a task that leaves its cgroup, and for namespace: own). Kernel probes need
root.

options:
  --json   print the report as JSON
  -h, --help

exit status: 0 when the sysctl guard can run here, 1 when it cannot, 2 on bad usage, or without
root when the answer needs the kernel probes (what a user can see is printed first).
`,
  async run(argv) {
    const { values } = parse('probe', argv, { json: { type: 'boolean' } }, false);
    const r = await probeAll();
    if (values.json) printJson(r); else printHuman(r);
    if (r.guardSupported === null) requireRoot('probe', 'program types, maps and helpers are probed by loading them into the kernel, which only root can do');
    return r.guardSupported ? 0 : 1;
  },
};
export default command;
