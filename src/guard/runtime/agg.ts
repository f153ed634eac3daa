// Reading a guard's accounting by kind (abi.ts: the agg hash of kinds → slots, the aggv array of
// the slots' counts, the aggfree queue of freed slots), from the kernel's pinned maps, a loaded
// guard's or the interpreter's: the one place that knows how the three fit together.
import { existsSync } from 'node:fs';
import { BpfMap } from '../../bpf/map.js';
import { bytes, none, u32 } from '../../bpf/codec.js';
import { AggKey, AggSlot, AggVal } from '../compiler/abi.js';
import type { GuardPins } from './layout.js';

/** What the kernel's maps and the interpreter's both offer (BpfMap, TypedVmMap). */
export interface AggMaps {
  agg: { entries(): Iterable<[Buffer, Buffer]>; get(key: Buffer): Buffer | undefined; delete(key: Buffer): boolean; close?(): void };
  aggv: { get(slot: number): Buffer | undefined; set(slot: number, value: Buffer): unknown; close?(): void };
  aggfree: { push(slot: number): void; close?(): void };
}

export interface AggCounts { count: bigint; suppressed: bigint; first: bigint; last: bigint }

export interface AggKind { key: Buffer; slot: number; counts: AggCounts }

/** A slot's counts (struct agg_val). */
export function aggCounts(v: Buffer): AggCounts {
  const count = v.readBigUInt64LE(AggVal.COUNT), sent = v.readBigUInt64LE(AggVal.SENT);
  // Read while a CPU is between its count and its send, sent may be ahead: never below zero.
  return { count, suppressed: count > sent ? count - sent : 0n, first: v.readBigUInt64LE(AggVal.FIRST), last: v.readBigUInt64LE(AggVal.LAST) };
}

/**
 * Every kind with its counts. A kind whose slot is not (or no longer) its own, being handed out or
 * given back at this moment, is left for the next read.
 */
export function* aggKinds(m: AggMaps): Generator<AggKind> {
  for (const [key, s] of m.agg.entries()) {
    const slot = s.readUInt32LE(AggSlot.SLOT), tag = s.readBigUInt64LE(AggSlot.TAG);
    const v = slot ? m.aggv.get(slot) : undefined;
    if (!v || v.readBigUInt64LE(AggVal.TAG) !== tag) continue;
    yield { key: Buffer.from(key), slot, counts: aggCounts(v) };
  }
}

/**
 * Forget finished kinds (no task can add to them: their cgroup is gone, or their policy version
 * was replaced and idle): the kind leaves the hash, its slot is cleared and handed out again.
 * Each kind is checked to still own the slot it was read with (a read from an earlier call may be
 * stale); callers that could race another releaser hold the guards' lock. Returns those released.
 * (A process killed between the delete and the push loses that one slot for the maps' life.)
 */
export function releaseAggKinds<K extends { key: Buffer; slot: number }>(m: AggMaps, kinds: readonly K[]): K[] {
  const free = Buffer.alloc(AggVal.SIZE);
  const out: K[] = [];
  for (const k of kinds) {
    const s = m.agg.get(k.key);
    if (!s || s.readUInt32LE(AggSlot.SLOT) !== k.slot) continue;
    const v = m.aggv.get(k.slot);
    if (!v || v.readBigUInt64LE(AggVal.TAG) !== s.readBigUInt64LE(AggSlot.TAG)) continue;
    // Tag 0 first: a CPU that remembers the kind misses from now on, and finds no kind to count into.
    m.aggv.set(k.slot, free);
    if (!m.agg.delete(k.key)) continue;
    m.aggfree.push(k.slot);
    out.push(k);
  }
  return out;
}

/** The kernel's accounting maps (a loaded guard's, or opened from pins). */
export interface KernelAgg { agg: BpfMap<Buffer, Buffer>; aggv: BpfMap<number, Buffer>; aggfree: BpfMap<null, number> }
export interface PinnedAgg extends KernelAgg, Disposable { close(): void }

/** The pinned accounting maps of a guard; undefined when any is missing or of another layout. */
export function openPinnedAgg(pins: Pick<GuardPins, 'agg' | 'aggValues' | 'aggFree'>): PinnedAgg | undefined {
  if (![pins.agg, pins.aggValues, pins.aggFree].every((p) => existsSync(p))) return undefined;
  const opened: BpfMap<unknown, unknown>[] = [];
  try {
    const agg = BpfMap.openPinnedBytes(pins.agg);
    opened.push(agg as BpfMap<unknown, unknown>);
    const aggv = BpfMap.openPinned(pins.aggValues, u32, bytes(AggVal.SIZE));
    opened.push(aggv as BpfMap<unknown, unknown>);
    const aggfree = BpfMap.openPinned(pins.aggFree, none, u32);
    opened.push(aggfree as BpfMap<unknown, unknown>);
    const ok = (m: BpfMap<unknown, unknown>, type: string, k: number, v: number) => { const i = m.info(); return i.typeName === type && i.keySize === k && i.valueSize === v; };
    // An older layout (a per-CPU hash of counts): not this program's maps; the apply makes new ones.
    if (!ok(agg as BpfMap<unknown, unknown>, 'HASH', AggKey.SIZE, AggSlot.SIZE) || !ok(aggv as BpfMap<unknown, unknown>, 'ARRAY', 4, AggVal.SIZE) || !ok(aggfree as BpfMap<unknown, unknown>, 'QUEUE', 0, 4)) throw new Error('another layout');
    return { agg, aggv, aggfree, close() { for (const m of opened) m.close(); }, [Symbol.dispose]() { this.close(); } };
  } catch {
    for (const m of opened) m.close();
    return undefined;
  }
}

/** What every kind counted, added up (tests, benchmarks, `sysward run`'s closing line). */
export function aggTotals(m: AggMaps): { count: bigint; suppressed: bigint } {
  const t = { count: 0n, suppressed: 0n };
  for (const k of aggKinds(m)) { t.count += k.counts.count; t.suppressed += k.counts.suppressed; }
  return t;
}

/** The accesses a pinned guard counted without sending them as events (0 when it has no accounting maps). */
export function pinnedSuppressed(pins: Pick<GuardPins, 'agg' | 'aggValues' | 'aggFree'>): bigint {
  using m = openPinnedAgg(pins);
  return m ? aggTotals(m).suppressed : 0n;
}
