// A pinned guard's audit events, decoded with the version of the policy that produced each one:
// every event carries the generation of the program that sent it, and after a re-apply the ring
// buffer may still hold events of the previous version, whose rule numbers mean other rules. The
// daemon, `sysward events` and anything else that reads a guard's events read them through this.
import { RingBufReader } from '../../bpf/ringbuf.js';
import { policyFromJson } from '../model-json.js';
import { decodeEvent, eventGeneration, type GuardEvent, type RuleNames } from './events.js';
import { readGuardMeta } from './status.js';
import { guardPins } from './layout.js';

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

  decode(rec: Buffer): GuardEvent {
    const gen = eventGeneration(rec);
    if (!this.#versions.has(gen) && Date.now() - (this.#unknown.get(gen) ?? 0) >= 1000) {
      this.#learn();
      if (this.#versions.has(gen)) this.#unknown.delete(gen); else this.#unknown.set(gen, Date.now());
      while (this.#unknown.size > 16) this.#unknown.delete(this.#unknown.keys().next().value!);
    }
    // A version no longer known (more re-applies than the metadata remembers): numbers, not names.
    const names = this.#versions.get(gen) ?? { name: this.name, rules: [] };
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

  close(): Promise<void> { return this.reader.close(); }
}
