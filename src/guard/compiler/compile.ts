// A policy → the guard's CollectionSpec: its maps with their contents and its program, whose
// instructions name the maps. A pure function of the policy (and the exempt cgroups' ids): no
// kernel, no files. The kernel loader (src/bpf/collection.ts, runtime/loaded.ts) and the
// interpreter's (src/bpf/vm/collection.ts, runtime/vm-guard.ts) load the same spec.
import { bytes, none, u32, u64, u8, type Codec } from '../../bpf/codec.js';
import type { CollectionSpec, MapSpec } from '../../bpf/spec.js';
import type { Policy } from '../model.js';
import { AGG_MAX, AggKey, AggSlot, AggVal, Bind, BOUND_MAX, ConfigIndex, DEFAULT_EVENTS_PER_SECOND, NAME_BUF, Rec, Scratch, VALUE_MAX, WILD_REM_BUF, dropsCounterIndex, specialRuleIds } from './abi.js';
import { buildTables, encodeRecord, type GuardTables } from './tables.js';
import { generateGuardProgram, type GuardMaps, type NamespaceFacts } from './program.js';

/** A cgroup the guard never applies to (nor to its descendants). */
export interface ExemptCgroup { id: bigint; level: number }

export type GuardMapName = keyof GuardMaps;

/** The spec's name of the program. */
export const GUARD_PROGRAM = 'guard';
/** The spec's name of the follower (the copy for the root cgroup; CompileOptions.follow). */
export const FOLLOW_PROGRAM = 'follow';
/** BPF_F_NO_PREALLOC: the bound map takes memory per namespace bound, not for all of BOUND_MAX up front. */
const NO_PREALLOC = 1;

export const DEFAULT_EVENTS_BYTES = 256 * 1024;

export interface GuardSpec extends CollectionSpec {
  tables: GuardTables;
  /** Instructions in the program (for reports). */
  instructionCount: number;
}

export interface CompileOptions {
  exempt?: ExemptCgroup[];
  /** Stamped into every event, so a reader can tell which policy (rule numbering) produced it. */
  generation?: number;
  /** Size of the event ring buffer (a power of two, at least a page). */
  eventsBytes?: number;
  /** The writer's namespaces: events carry them, `namespace: own` rules check them. */
  namespaces?: NamespaceFacts;
  /** Also the follower program and its `bound` map (needs `namespaces`). */
  follow?: boolean;
  /** Events per second each kind of access sends at full detail (default 10; 0: all of them). */
  eventsPerSecond?: number;
  /** false: no agg map, every access an event (the program before accounting by kind; a benchmark's baseline). */
  aggregate?: boolean;
  /** Kinds of access counted apart (default AGG_MAX); past them an access is sent as before, unattributed. */
  aggKinds?: number;
}

/** Map names as bpftool shows them: sw_<what> (15 characters at most). */
const objectName = (what: string) => `sw_${what}`.slice(0, 15);

export function compileGuard(policy: Policy, o: CompileOptions = {}): GuardSpec {
  const t = buildTables(policy);
  const exempt = o.exempt ?? [];
  const rec = bytes(Rec.SIZE) as Codec<unknown>;
  const spec = (type: MapSpec<unknown, unknown>['type'], key: Codec<unknown>, value: Codec<unknown>, maxEntries: number, what: string, contents: readonly (readonly [unknown, unknown])[] = []): MapSpec<unknown, unknown> =>
    ({ type, key, value, maxEntries: Math.max(1, maxEntries), name: objectName(what), contents });
  const maps: Partial<Record<GuardMapName, MapSpec<unknown, unknown>>> & Record<Exclude<GuardMapName, 'bound' | 'agg' | 'aggv' | 'aggfree'>, MapSpec<unknown, unknown>> = {
    scratch: spec('PERCPU_ARRAY', u32 as Codec<unknown>, bytes(Scratch.SIZE) as Codec<unknown>, 1, 'scratch'),
    exact: spec('HASH', bytes(NAME_BUF) as Codec<unknown>, rec, t.exact.length, 'exact', t.exact),
    subtree: spec('LPM_TRIE', bytes(4 + NAME_BUF) as Codec<unknown>, rec, t.subtree.length, 'subtree', t.subtree),
    wild: spec('LPM_TRIE', bytes(8 + WILD_REM_BUF) as Codec<unknown>, rec, t.wild.length, 'wild', t.wild),
    values: spec('HASH', bytes(4 + VALUE_MAX + 1) as Codec<unknown>, u8 as Codec<unknown>, t.values.length, 'values', t.values.map((k) => [k, 1] as const)),
    config: spec('ARRAY', u32 as Codec<unknown>, rec, 2, 'config', [
      [ConfigIndex.DEFAULT, t.defaults],
      // A name longer than the guard reads is refused on writes (fail closed), allowed on reads.
      [ConfigIndex.NAME_TOO_LONG, encodeRecord({ id: specialRuleIds(t.nRules).NAME_TOO_LONG, specificity: 0, write: 'deny', read: policy.defaults.read })],
    ]),
    counters: spec('PERCPU_ARRAY', u32 as Codec<unknown>, u64 as Codec<unknown>, dropsCounterIndex(t.nRules) + 1, 'counters'),
    events: spec('RINGBUF', none as Codec<unknown>, bytes(0) as Codec<unknown>, o.eventsBytes ?? DEFAULT_EVENTS_BYTES, 'events'),
    exempt: spec('HASH', u64 as Codec<unknown>, u8 as Codec<unknown>, exempt.length, 'exempt', exempt.map((e) => [e.id, 1] as const)),
  };
  if (o.aggregate !== false) {
    const kinds = o.aggKinds ?? AGG_MAX;
    maps.agg = { ...spec('HASH', bytes(AggKey.SIZE) as Codec<unknown>, bytes(AggSlot.SIZE) as Codec<unknown>, kinds, 'agg'), flags: NO_PREALLOC };
    maps.aggv = spec('ARRAY', u32 as Codec<unknown>, bytes(AggVal.SIZE) as Codec<unknown>, kinds + 1, 'aggv');
    maps.aggfree = spec('QUEUE', none as Codec<unknown>, u32 as Codec<unknown>, kinds, 'aggfree');
  }
  const follow = !!(o.follow && o.namespaces);
  if (follow) maps.bound = { ...spec('HASH', u64 as Codec<unknown>, bytes(Bind.SIZE) as Codec<unknown>, BOUND_MAX, 'bound'), flags: NO_PREALLOC };
  const names = Object.fromEntries(Object.keys(maps).map((n) => [n, n])) as Record<GuardMapName, string>;
  const po = { mode: policy.mode, exemptLevels: exempt.map((e) => e.level), generation: o.generation ?? 0, eventsPerSecond: o.eventsPerSecond ?? DEFAULT_EVENTS_PER_SECOND, aggKinds: o.aggKinds ?? AGG_MAX, ...(o.namespaces ? { namespaces: o.namespaces } : {}) };
  const program = generateGuardProgram(t, names, po);
  const objName = (suffix: string) => `sw_${policy.name}`.slice(0, 15 - suffix.length).replace(/-/g, '_') + suffix;
  const programs: GuardSpec['programs'] = { [GUARD_PROGRAM]: { type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: objName(''), license: 'GPL', program } };
  if (follow) programs[FOLLOW_PROGRAM] = { type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: objName('_f'), license: 'GPL', program: generateGuardProgram(t, names, { ...po, follow: true }) };
  return { tables: t, instructionCount: program.instructions.length, maps, programs };
}
