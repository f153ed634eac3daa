// The guard's maps, described once: their shapes and their contents. The kernel loader
// (loaded.ts) and the interpreter loader (vm-guard.ts) create them with their own map types.
import { bytes, u32, u64, u8, type Codec } from '../../bpf/codec.js';
import type { Policy } from '../model.js';
import {
  ConfigIndex, NAME_BUF, Rec, Scratch, VALUE_MAX, WILD_REM_BUF, dropsCounterIndex, encodeRecord, specialRuleIds,
  type GuardTables,
} from '../compiler/index.js';

export type GuardMapName = 'scratch' | 'exact' | 'subtree' | 'wild' | 'values' | 'config' | 'counters' | 'exempt';

export interface GuardMapSpec { type: 'PERCPU_ARRAY' | 'HASH' | 'LPM_TRIE' | 'ARRAY'; key: Codec<unknown>; value: Codec<unknown>; maxEntries: number; name: string }

/** Map names as bpftool shows them: sw_<what> (15 characters at most). */
const mapName = (what: string) => `sw_${what}`.slice(0, 15);

export function guardMapSpecs(t: GuardTables, exemptCount: number): Record<GuardMapName, GuardMapSpec> {
  const rec = bytes(Rec.SIZE) as Codec<unknown>;
  const spec = (type: GuardMapSpec['type'], key: Codec<unknown>, value: Codec<unknown>, maxEntries: number, what: string): GuardMapSpec => ({ type, key, value, maxEntries: Math.max(1, maxEntries), name: mapName(what) });
  return {
    scratch: spec('PERCPU_ARRAY', u32 as Codec<unknown>, bytes(Scratch.SIZE) as Codec<unknown>, 1, 'scratch'),
    exact: spec('HASH', bytes(NAME_BUF) as Codec<unknown>, rec, t.exact.length, 'exact'),
    subtree: spec('LPM_TRIE', bytes(4 + NAME_BUF) as Codec<unknown>, rec, t.subtree.length, 'subtree'),
    wild: spec('LPM_TRIE', bytes(8 + WILD_REM_BUF) as Codec<unknown>, rec, t.wild.length, 'wild'),
    values: spec('HASH', bytes(4 + VALUE_MAX + 1) as Codec<unknown>, u8 as Codec<unknown>, t.values.length, 'values'),
    config: spec('ARRAY', u32 as Codec<unknown>, rec, 2, 'config'),
    counters: spec('PERCPU_ARRAY', u32 as Codec<unknown>, u64 as Codec<unknown>, dropsCounterIndex(t.nRules) + 1, 'counters'),
    exempt: spec('HASH', u64 as Codec<unknown>, u8 as Codec<unknown>, exemptCount, 'exempt'),
  };
}

/** What both map kinds offer for filling. */
interface Fillable { set(key: never, value: never): unknown; updateBatch(entries: readonly (readonly [never, never])[]): number }

/** Fill the maps with the policy's tables (the same bytes for the kernel and the interpreter). */
export function fillGuardMaps(maps: Record<GuardMapName, Fillable>, t: GuardTables, policy: Policy, exempt: { id: bigint }[]): void {
  type Any = Record<GuardMapName, { set(k: unknown, v: unknown): unknown; updateBatch(e: readonly (readonly [unknown, unknown])[]): number }>;
  const m = maps as unknown as Any;
  for (const e of exempt) m.exempt.set(e.id, 1);
  if (t.exact.length) m.exact.updateBatch(t.exact);
  for (const [k, v] of t.subtree) m.subtree.set(k, v);
  for (const [k, v] of t.wild) m.wild.set(k, v);
  if (t.values.length) m.values.updateBatch(t.values.map((k) => [k, 1] as const));
  m.config.set(ConfigIndex.DEFAULT, t.defaults);
  // A name longer than the guard reads is refused on writes (fail closed), allowed on reads.
  m.config.set(ConfigIndex.NAME_TOO_LONG, encodeRecord({ id: specialRuleIds(t.nRules).NAME_TOO_LONG, specificity: 0, write: 'deny', read: policy.defaults.read }));
}
