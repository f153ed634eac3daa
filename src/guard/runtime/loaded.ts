// A compiled guard in the kernel: its maps (filled) and its program, not yet attached anywhere.
import { BpfMap } from '../../bpf/map.js';
import { bytes, u32, u64, u8 } from '../../bpf/codec.js';
import { Program } from '../../bpf/prog.js';
import { createRingBuf } from '../../bpf/ringbuf.js';
import type { Policy } from '../model.js';
import { probeSysctlSetNewValue } from '../../bpf/features.js';
import { findCgroup2Mount } from '../../cgroup/hierarchy.js';
import { GuardInputError } from './errors.js';
import {
  ConfigIndex, NAME_BUF, Rec, Scratch, VALUE_MAX, WILD_REM_BUF, buildTables, dropsCounterIndex, encodeRecord,
  generateGuardProgram, specialRuleIds, type GuardTables,
} from '../compiler/index.js';

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

/** Map names as bpftool shows them: sw_<what> (15 characters at most). */
const mapName = (what: string) => `sw_${what}`.slice(0, 15);

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
    const rec = bytes(Rec.SIZE);
    const ids = specialRuleIds(tables.nRules);
    const maps: GuardObjects = {
      scratch: track(BpfMap.create({ type: 'PERCPU_ARRAY', key: u32, value: bytes(Scratch.SIZE), maxEntries: 1, name: mapName('scratch') })),
      exact: track(BpfMap.create({ type: 'HASH', key: bytes(NAME_BUF), value: rec, maxEntries: Math.max(1, tables.exact.length), name: mapName('exact') })),
      subtree: track(BpfMap.create({ type: 'LPM_TRIE', key: bytes(4 + NAME_BUF), value: rec, maxEntries: Math.max(1, tables.subtree.length), name: mapName('subtree') })),
      wild: track(BpfMap.create({ type: 'LPM_TRIE', key: bytes(8 + WILD_REM_BUF), value: rec, maxEntries: Math.max(1, tables.wild.length), name: mapName('wild') })),
      values: track(BpfMap.create({ type: 'HASH', key: bytes(4 + VALUE_MAX + 1), value: u8, maxEntries: Math.max(1, tables.values.length), name: mapName('values') })),
      config: track(BpfMap.create({ type: 'ARRAY', key: u32, value: rec, maxEntries: 2, name: mapName('config') })),
      counters: track(BpfMap.create({ type: 'PERCPU_ARRAY', key: u32, value: u64, maxEntries: dropsCounterIndex(tables.nRules) + 1, name: mapName('counters') })),
      events: o.events ?? track(createRingBuf(o.eventsBytes ?? DEFAULT_EVENTS_BYTES, mapName('events'))),
      exempt: track(BpfMap.create({ type: 'HASH', key: u64, value: u8, maxEntries: Math.max(1, o.exempt?.length ?? 0), name: mapName('exempt') })),
    };
    for (const e of o.exempt ?? []) maps.exempt.set(e.id, 1);
    if (tables.exact.length) maps.exact.updateBatch(tables.exact);
    for (const [k, v] of tables.subtree) maps.subtree.set(k, v);
    for (const [k, v] of tables.wild) maps.wild.set(k, v);
    if (tables.values.length) maps.values.updateBatch(tables.values.map((k) => [k, 1] as const));
    maps.config.set(ConfigIndex.DEFAULT, tables.defaults);
    // A name longer than the guard reads is refused on writes (fail closed), allowed on reads.
    maps.config.set(ConfigIndex.NAME_TOO_LONG, encodeRecord({ id: ids.NAME_TOO_LONG, specificity: 0, write: 'deny', read: policy.defaults.read }));
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

