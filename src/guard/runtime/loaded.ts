// A compiled guard in the kernel: its maps (filled) and its program, not yet attached anywhere.
import { BpfMap } from '../../bpf/map.js';
import { Program } from '../../bpf/prog.js';
import { createRingBuf } from '../../bpf/ringbuf.js';
import type { Policy } from '../model.js';
import { probeSysctlSetNewValue } from '../../bpf/features.js';
import { findCgroup2Mount } from '../../cgroup/hierarchy.js';
import { GuardInputError } from './errors.js';
import { buildTables, generateGuardProgram, type GuardTables } from '../compiler/index.js';
import { fillGuardMaps, guardMapSpecs, type GuardMapName } from './guard-maps.js';

export const DEFAULT_EVENTS_BYTES = 256 * 1024;

export interface GuardObjects {
  scratch: BpfMap<number, Buffer[]>;
  exact: BpfMap<Buffer, Buffer>;
  subtree: BpfMap<Buffer, Buffer>;
  wild: BpfMap<Buffer, Buffer>;
  values: BpfMap<Buffer, number>;
  config: BpfMap<number, Buffer>;
  counters: BpfMap<number, bigint[]>;
  events: BpfMap<null, Buffer>;
  exempt: BpfMap<bigint, number>;
}

/** A cgroup the guard never applies to (nor to its descendants). */
export interface ExemptCgroup { id: bigint; level: number }

export interface LoadedGuard extends Disposable {
  policy: Policy;
  tables: GuardTables;
  program: Program;
  maps: GuardObjects;
  /** Instructions in the program (for reports). */
  instructionCount: number;
  close(): void;
}

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
 * Create and fill the maps, generate and load the program. `events` reuses an existing ring buffer
 * (a reload keeps readers of the old one working); otherwise a new one of `eventsBytes`.
 */
export function loadGuard(policy: Policy, o: { events?: BpfMap<null, Buffer>; eventsBytes?: number; exempt?: ExemptCgroup[]; generation?: number } = {}): LoadedGuard {
  requireWorkingOverride(policy);
  const tables = buildTables(policy);
  const made: { close(): void }[] = [];
  const track = <T extends { close(): void }>(x: T): T => { made.push(x); return x; };
  try {
    const specs = guardMapSpecs(tables, o.exempt?.length ?? 0);
    const make = (n: GuardMapName) => track(BpfMap.create(specs[n] as never));
    const maps = {
      scratch: make('scratch'), exact: make('exact'), subtree: make('subtree'), wild: make('wild'), values: make('values'),
      config: make('config'), counters: make('counters'), exempt: make('exempt'),
      events: o.events ?? track(createRingBuf(o.eventsBytes ?? DEFAULT_EVENTS_BYTES, 'sw_events')),
    } as unknown as GuardObjects;
    fillGuardMaps(maps as never, tables, policy, o.exempt ?? []);
    const asm = generateGuardProgram(tables, maps, { mode: policy.mode, exemptLevels: (o.exempt ?? []).map((e) => e.level), generation: o.generation ?? 0 });
    const program = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: `sw_${policy.name}`.slice(0, 15).replace(/-/g, '_'), instructions: asm });
    const all = [...made];
    return {
      policy, tables, program, maps, instructionCount: asm.instructions.length,
      close() { program.close(); for (const m of all) m.close(); },
      [Symbol.dispose]() { this.close(); },
    };
  } catch (e) {
    for (const m of made) m.close();
    throw e;
  }
}

