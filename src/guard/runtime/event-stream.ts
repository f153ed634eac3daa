// A pinned guard's audit events, decoded with the version of the policy that produced each one:
// every event carries the generation of the program that sent it, and after a re-apply the ring
// buffer may still hold events of the previous version, whose rule numbers mean other rules. The
// daemon, `sysward events` and anything else that reads a guard's events read them through this.
import { RingBufReader } from '../../bpf/ringbuf.js';
import { policyFromJson } from '../model-json.js';
import { BpfMap } from '../../bpf/map.js';
import { decodeAggKind, decodeEvent, eventGeneration, wallTime, type GuardEvent, type GuardReport, type GuardSummary, type RuleNames } from './events.js';
import { AGG_MAX, AggKey } from '../compiler/abi.js';
import { bytes } from '../../bpf/codec.js';
import { existsSync } from 'node:fs';
import { aggKinds, openPinnedAgg, releaseAggKinds, type PinnedAgg } from './agg.js';

/** The map of how much of each kind of access summaries reported (made by the first reader that summarises). */
function openReported(pin: string): BpfMap<Buffer, Buffer> {
  if (existsSync(pin)) return BpfMap.openPinnedBytes(pin);
  const m = BpfMap.create({ type: 'HASH', key: bytes(AggKey.SIZE), value: bytes(16), maxEntries: AGG_MAX, flags: 1 /* BPF_F_NO_PREALLOC */, name: 'sw_agg_seen' });
  try { m.pin(pin); } catch (e) { m.close(); if (existsSync(pin)) return BpfMap.openPinnedBytes(pin); throw e; }
  return m;
}
import { dropCount, readGuardMeta } from './status.js';
import { GuardLockBusyError, withGuardLock } from './lock.js';
import { guardPins } from './layout.js';

/** A counters map held open, with its kernel id. */
interface HeldCounters { map: BpfMap<Buffer, Buffer>; id: number }

/** agg-reported's key for a counters map's drop counter: no kind has this generation. */
const DROPPED_GENERATION = 0xffffffff;
function droppedKey(countersId: number): Buffer {
  const k = Buffer.alloc(AggKey.SIZE);
  k.writeUInt32LE(DROPPED_GENERATION, 0);
  k.writeUInt32LE(countersId, 4);
  return k;
}

export class GuardEventStream {
  readonly reader: RingBufReader;
  /** Rule names per generation, learnt from the pinned metadata (and given by the applier). */
  readonly #versions = new Map<number, RuleNames>();
  /**
   * Generations the metadata did not know when last asked, and when: asked again at most once a
   * second (a flood of such events must not read the metadata per event; a version applied
   * meanwhile by another process is learnt a moment later).
   */
  readonly #unknown = new Map<number, number>();

  constructor(readonly name: string, readonly o: { bpffs?: string; cgroupName?: (id: bigint) => string | undefined } = {}) {
    this.reader = new RingBufReader(guardPins(name, o.bpffs).events);
    this.#learn();
    // Held from the start: an apply made before the first summaries (a daemon's first reload)
    // replaces the counters map, and what it dropped meanwhile is reported from this one.
    try {
      const map = BpfMap.openPinnedBytes(guardPins(name, o.bpffs).counters);
      this.#counters = { map, id: map.info().id };
    } catch { /* not pinned now: held at the first summaries */ }
  }

  get #dir(): string { return guardPins(this.name, this.o.bpffs).dir; }

  /** The kernel id of the ring buffer read (a pin replaced by another map is told apart by it). */
  get mapId(): number { return this.reader.mapId; }

  /** Tell the stream a version it will see events of (the applier knows before the metadata says). */
  remember(generation: number, policy: RuleNames): void {
    this.#versions.set(generation, policy);
    while (this.#versions.size > 16) this.#versions.delete(this.#versions.keys().next().value!);
  }

  /** Read the current version and the recent ones from the pinned metadata. */
  #learn(): void {
    let meta;
    try { meta = readGuardMeta(this.#dir); } catch { return; }
    if (!meta) return;
    if (!this.#versions.has(meta.generation)) this.remember(meta.generation, policyFromJson(meta.policy));
    for (const h of meta.history ?? []) {
      if (!this.#versions.has(h.generation)) this.remember(h.generation, { name: this.name, rules: h.rules.map((text) => ({ key: { text } })) });
    }
  }

  /** Names for a generation, learnt from the metadata when not known (at most once a second per generation). */
  #names(gen: number): RuleNames | undefined {
    if (!this.#versions.has(gen) && Date.now() - (this.#unknown.get(gen) ?? 0) >= 1000) {
      this.#learn();
      if (this.#versions.has(gen)) this.#unknown.delete(gen); else this.#unknown.set(gen, Date.now());
      while (this.#unknown.size > 16) this.#unknown.delete(this.#unknown.keys().next().value!);
    }
    return this.#versions.get(gen);
  }

  /**
   * Summary records for what the kernel counted but did not send as events since the last call
   * (a flood over the per-kind rate, a full ring buffer). How much of each kind was reported is
   * kept in a pinned map beside the guard (agg-reported), so a restarted daemon goes on where the
   * last one stopped instead of reporting again. Kinds whose cgroup is gone (no task can add to
   * them) and kinds of a replaced version idle for a minute are removed once reported, so the
   * map holds live kinds only. `gone(id)`: whether a cgroup no longer exists.
   */
  summaries(gone: (cgroupId: bigint) => boolean = () => false): GuardReport[] {
    // The last call's, never committed (its lines could not be written): reported again below.
    this.#dropPending();
    const pins = guardPins(this.name, this.o.bpffs);
    // (undefined when the guard is not pinned, or pinned in another layout.)
    let agg: PinnedAgg | undefined = openPinnedAgg(pins);
    if (!agg) return [];
    const out: GuardReport[] = [];
    let reported: BpfMap<Buffer, Buffer> | undefined;
    try {
      reported = this.#openReported(pins.aggReported, agg);
      const now = process.hrtime.bigint();
      const current = (() => { try { return readGuardMeta(this.#dir)?.generation; } catch { return undefined; } })();
      const done: { key: Buffer; slot: number }[] = [];
      const updates: [Buffer, Buffer][] = [];
      for (const { key, slot, counts: c } of aggKinds(agg)) {
        const was = reported.get(key);
        const before = was ? { suppressed: was.readBigUInt64LE(0), at: was.readBigUInt64LE(8) } : undefined;
        const delta = c.suppressed - (before?.suppressed ?? 0n);
        const gen = key.readUInt32LE(AggKey.GENERATION);
        if (delta > 0n) {
          const names = this.#names(gen) ?? { name: this.name, rules: [] };
          const s: GuardSummary = {
            type: 'summary', time: new Date().toISOString(), ...decodeAggKind(key, names, this.o.cgroupName),
            count: Number(delta), from: wallTime(before && before.at ? before.at : c.first), to: wallTime(c.last),
          };
          if (!this.#versions.has(gen) && s.rule.key.startsWith('rule ')) s.rule.key = `rule ${s.rule.index} of an earlier version`;
          out.push(s);
          const v = Buffer.alloc(16);
          v.writeBigUInt64LE(c.suppressed, 0);
          v.writeBigUInt64LE(c.last, 8);
          updates.push([key, v]);
        }
        if (gone(key.readBigUInt64LE(AggKey.CGROUP)) || (gen !== current && current !== undefined && now - c.last > 60_000_000_000n)) done.push({ key, slot });
      }
      const { stale, counters } = this.#dropped(pins.counters, reported, out, updates);
      this.#pendingReported = { map: reported, updates, done, agg, stale, counters };
      reported = undefined;
      agg = undefined;
    } finally { reported?.close(); agg?.close(); }
    return out;
  }

  /**
   * agg-reported as this stream last used it, held open with the id of the agg map it counts for.
   * A pin removed meanwhile (an operator's rm, the guard's folder removed and put back by the
   * daemon) is pinned again from it: made anew, it would be empty and every count ever reported
   * would be reported again. Not when the guard was made anew (another agg map): its counts start
   * from 0, and the old map's would hide them.
   */
  #seen: { map: BpfMap<Buffer, Buffer>; aggId: number; mapId: number } | undefined;

  #openReported(pin: string, agg: PinnedAgg): BpfMap<Buffer, Buffer> {
    const aggId = agg.agg.info().id;
    if (this.#seen && this.#seen.aggId !== aggId) this.#forgetSeen();
    if (!existsSync(pin)) {
      if (this.#seen) { try { this.#seen.map.pin(pin); } catch { /* pinned meanwhile by another reader: that one is used */ } }
      // Made anew below (the guard's agg maps were made anew, or no reader summarised it yet): how
      // much of a held old counters map was reported is not known, and from 0 it would all be again.
      if (!existsSync(pin)) this.#forgetCounters();
    }
    const reported = openReported(pin);
    if (this.#seen?.mapId !== reported.info().id) {
      this.#forgetSeen();
      // Its own descriptor (the pass's is closed once its lines are written), and its own id: a
      // pin replaced between the two opens is held at the next pass.
      try {
        const map = BpfMap.openPinnedBytes(pin);
        this.#seen = { map, aggId, mapId: map.info().id };
      } catch { /* removed again at once: held at the next pass */ }
    }
    return reported;
  }

  #forgetSeen(): void {
    this.#seen?.map.close();
    this.#seen = undefined;
  }

  #forgetCounters(): void {
    this.#counters?.map.close();
    this.#counters = undefined;
  }

  /** What summaries() returned but has not been confirmed written (see commitSummaries). */
  #pendingReported: { map: BpfMap<Buffer, Buffer>; agg: PinnedAgg; updates: [Buffer, Buffer][]; done: { key: Buffer; slot: number }[]; stale: Buffer[]; counters: HeldCounters | undefined } | undefined;

  /** The counters map whose predecessors' agg-reported keys this stream removed; the one read last. */
  #tidiedFor: number | undefined;
  #countersId: number | undefined;
  /**
   * The counters map this stream reported drops of last, held open. A re-apply pins a new one, and
   * until every link runs the new program drops still land in the old one, as do drops since the
   * last summary: read from the pin alone they were never reported (a reload during a flood lost
   * most of its drops). The old map's rest is reported once, then it is let go.
   */
  #counters: HeldCounters | undefined;

  /**
   * `dropped` lines for what the drop counter counted since the last one: accesses with no kind
   * slot left and no room in the ring buffer. Reported progress is kept in agg-reported under a
   * key of its own per counters map (a re-apply makes a new one, counting from 0); the keys of
   * replaced counters maps are returned, to be removed once the lines are written, with the
   * counters map read now (held once they are).
   */
  #dropped(counterPin: string, reported: BpfMap<Buffer, Buffer>, out: GuardReport[], updates: [Buffer, Buffer][]): { stale: Buffer[]; counters: HeldCounters | undefined } {
    let counters: BpfMap<Buffer, Buffer> | undefined;
    try { counters = BpfMap.openPinnedBytes(counterPin); } catch { return { stale: [], counters: undefined }; }
    try {
      const { id } = counters.info();
      const held = this.#counters;
      if (held && held.id !== id) this.#droppedLine(held, reported, out, updates);
      this.#droppedLine({ map: counters, id }, reported, out, updates);
      // Keys of replaced counters maps: looked for only when the counters map is not the one this
      // stream last tidied for (agg-reported holds a key per kind: not walked every summary).
      const stale: Buffer[] = [];
      if (id !== this.#tidiedFor) for (const rk of reported.keys()) if (rk.readUInt32LE(0) === DROPPED_GENERATION && rk.readUInt32LE(4) !== id) stale.push(Buffer.from(rk));
      this.#countersId = id;
      const next = { map: counters, id };
      counters = undefined;
      return { stale, counters: next };
    } finally { counters?.close(); }
  }

  #droppedLine(c: HeldCounters, reported: BpfMap<Buffer, Buffer>, out: GuardReport[], updates: [Buffer, Buffer][]): void {
    const total = dropCount(c.map);
    const key = droppedKey(c.id);
    const was = reported.get(key);
    const before = was ? was.readBigUInt64LE(0) : 0n;
    if (total <= before) return;
    const at = Date.now();
    const since = was ? Number(was.readBigUInt64LE(8)) : (() => { try { return Date.parse(readGuardMeta(this.#dir)?.appliedAt ?? ''); } catch { return NaN; } })();
    out.push({
      type: 'dropped', time: new Date(at).toISOString(), guard: this.name, count: Number(total - before),
      // (A replaced map's first line: from the latest apply, the best the metadata knows.)
      from: new Date(Number.isFinite(since) && since <= at ? since : at).toISOString(), to: new Date(at).toISOString(),
      why: `the ring buffer was full and the access had no count of its own (the guard's ${AGG_MAX} kinds all taken, or its kind being set up or released at that moment)`,
    });
    const nv = Buffer.alloc(16);
    nv.writeBigUInt64LE(total, 0);
    nv.writeBigUInt64LE(BigInt(at), 8);
    updates.push([key, nv]);
  }

  /**
   * The summaries of the last summaries() call are written (the audit log flushed): remember them
   * as reported, and release the kinds that are finished (their slots are handed out again). Not
   * called (a crash, a failed write), the next call reports them again. `written`: how many of
   * them, from the first, were written (a disk that filled midway); the rest are reported again.
   */
  commitSummaries(written = Infinity): void {
    const p = this.#pendingReported;
    if (!p) return;
    this.#pendingReported = undefined;
    try {
      // One update per report, in the same order.
      for (const [k, v] of p.updates.slice(0, written)) p.map.set(k, v);
      const unwritten = new Set(p.updates.slice(written).map(([k]) => k.toString('hex')));
      // A finished kind whose last summary was not written stays, to be reported at the next call.
      const done = p.done.filter((d) => !unwritten.has(d.key.toString('hex')));
      // Under the guards' lock, so two readers (the daemon, `sysward events`) never release a
      // kind twice; when another process holds it, the kinds are released at a later call.
      let released: { key: Buffer; slot: number }[] = [];
      if (done.length) {
        try { released = withGuardLock(this.o.bpffs, () => releaseAggKinds(p.agg, done), 50); } catch (e) { if (!(e instanceof GuardLockBusyError)) throw e; }
      }
      for (const d of released) p.map.delete(d.key);
      // A replaced counters map's dropped line not written: its key, and the map, are kept for it.
      if (unwritten.size) return;
      for (const k of p.stale) p.map.delete(k);
      this.#tidiedFor = this.#countersId;
      // Reported up to here: the map read now is the one to report the rest of, if it is replaced.
      if (p.counters && p.counters.id !== this.#counters?.id) { this.#counters?.map.close(); this.#counters = p.counters; p.counters = undefined; }
    } finally { p.map.close(); p.agg.close(); p.counters?.map.close(); }
  }

  #dropPending(): void {
    const p = this.#pendingReported;
    this.#pendingReported = undefined;
    if (p) { p.map.close(); p.agg.close(); p.counters?.map.close(); }
  }

  decode(rec: Buffer): GuardEvent {
    const gen = eventGeneration(rec);
    // A version no longer known (more re-applies than the metadata remembers): numbers, not names.
    const names = this.#names(gen) ?? { name: this.name, rules: [] };
    const e = decodeEvent(rec, names, this.o.cgroupName);
    if (!this.#versions.has(gen) && e.rule.key.startsWith('rule ')) e.rule.key = `rule ${e.rule.index} of an earlier version`;
    return e;
  }

  /** Deliver what is queued now; returns how many. */
  drain(onEvent: (e: GuardEvent) => void, limit?: number): number {
    return this.reader.drain((rec) => onEvent(this.decode(rec)), limit);
  }

  consume(onEvent: (e: GuardEvent) => void, o: Parameters<RingBufReader['consume']>[1] = {}): Promise<void> {
    return this.reader.consume((rec) => onEvent(this.decode(rec)), o);
  }

  close(): Promise<void> {
    this.#dropPending();
    this.#forgetSeen();
    this.#forgetCounters();
    return this.reader.close();
  }
}
