// A compiled guard in the kernel: the spec compileGuard made (src/guard/compiler/compile.ts)
// loaded by the toolkit's one loader: its maps filled, its program verified, attached nowhere yet.
import type { BpfMap } from '../../bpf/map.js';
import type { Program } from '../../bpf/prog.js';
import { loadCollection } from '../../bpf/collection.js';
import type { Policy } from '../model.js';
import { probeSysctlSetNewValue } from './override-probe.js';
import { findCgroup2Mount } from '../../cgroup/hierarchy.js';
import { GuardInputError } from './errors.js';
import { compileGuard, FOLLOW_PROGRAM, GUARD_PROGRAM, type ExemptCgroup, type GuardMapName, type GuardTables } from '../compiler/index.js';
import { namespaceSupport } from './namespaces.js';
import type { KernelAgg } from './agg.js';

export { DEFAULT_EVENTS_BYTES, type ExemptCgroup } from '../compiler/index.js';

export type GuardObjects = Record<Exclude<GuardMapName, 'events' | 'counters' | 'bound' | 'agg' | 'aggv' | 'aggfree'>, BpfMap<unknown, unknown>> & KernelAgg & {
  counters: BpfMap<number, bigint[]>;
  events: BpfMap<null, Buffer>;
  /** The follower's (only on a guard that follows). */
  bound?: BpfMap<bigint, Buffer>;
};

export interface LoadedGuard extends Disposable {
  policy: Policy;
  tables: GuardTables;
  program: Program;
  maps: GuardObjects;
  /** Instructions in the program (for reports). */
  instructionCount: number;
  /** The follower, for the root cgroup (when the guard follows its tasks' mount namespaces). */
  follow?: Program;
  /** Why the guard does not read the writer's namespaces here (then it works by cgroup alone). */
  namespacesUnavailable?: string;
  close(): void;
}

/**
 * Does a policy follow its tasks when they leave its cgroups? A guard of containers or of listed
 * cgroups does, unless its scope says `follow: false`; a guard of the host (the root cgroup) has
 * nowhere to be left.
 */
export const wantsFollow = (policy: Policy): boolean =>
  policy.scope.follow !== false && (policy.scope.containers || policy.scope.cgroups.some((c) => c !== '/'));

/**
 * Override rules need a kernel whose bpf_sysctl_set_new_value stores the value (it silently did
 * not on kernels from about 5.18 until a later fix): refuse such a policy where the probe fails.
 */
function requireWorkingOverride(policy: Policy): void {
  const rules = policy.rules.filter((r) => r.override !== undefined);
  if (!rules.length) return;
  const s = probeSysctlSetNewValue(findCgroup2Mount());
  if (!s.supported) {
    throw new GuardInputError(`${policy.origin ?? policy.name}: override on ${rules.map((r) => r.key.text).join(', ')} cannot work on this kernel: ${s.reason}; remove the override (use values: or lock: instead) or run a kernel with a working bpf_sysctl_set_new_value (see sysward probe)`);
  }
}

/**
 * Compile and load. `events` reuses an existing ring buffer (a reload keeps readers of the old one
 * working); otherwise a new one of `eventsBytes`.
 */
export function loadGuard(policy: Policy, o: {
  events?: BpfMap<null, Buffer>; eventsBytes?: number; exempt?: ExemptCgroup[]; generation?: number;
  /** Build the follower (default: wantsFollow). */
  follow?: boolean;
  /** The bound map to keep (a re-apply keeps the namespaces bound so far). */
  bound?: BpfMap<bigint, Buffer>;
  /** false: compile as where the kernel cannot read namespaces (by cgroup alone; the benchmarks' baseline). */
  readNamespaces?: boolean;
  /** The accounting maps to keep (a re-apply keeps counting into them: the daemon's summaries stay exact). */
  agg?: KernelAgg;
  /** Events per second each kind of access sends (compile.ts; 0: every access). */
  eventsPerSecond?: number;
  /** false: no accounting by kind (compile.ts; the benchmarks' baseline). */
  aggregate?: boolean;
  /** Kinds of access counted apart (compile.ts; default AGG_MAX). */
  aggKinds?: number;
} = {}): LoadedGuard {
  requireWorkingOverride(policy);
  const ns = o.readNamespaces === false ? { reason: 'not asked to read them' } : namespaceSupport();
  const facts = 'facts' in ns ? ns.facts : undefined;
  const spec = compileGuard(policy, { ...o, ...(facts ? { namespaces: facts } : {}), follow: !!facts && (o.follow ?? wantsFollow(policy)) });
  const replaceMaps: Record<string, BpfMap<unknown, unknown>> = {};
  if (o.events) replaceMaps.events = o.events as BpfMap<unknown, unknown>;
  if (o.bound && spec.maps.bound) replaceMaps.bound = o.bound as BpfMap<unknown, unknown>;
  if (o.agg) for (const n of ['agg', 'aggv', 'aggfree'] as const) replaceMaps[n] = o.agg[n] as BpfMap<unknown, unknown>;
  const c = loadCollection(spec, { replaceMaps });
  const follow = c.programs[FOLLOW_PROGRAM];
  return {
    policy, tables: spec.tables, program: c.programs[GUARD_PROGRAM]!, maps: c.maps as unknown as GuardObjects, instructionCount: spec.instructionCount,
    ...(follow ? { follow } : {}), ...('reason' in ns ? { namespacesUnavailable: ns.reason } : {}),
    close() { c.close(); },
    [Symbol.dispose]() { this.close(); },
  };
}
