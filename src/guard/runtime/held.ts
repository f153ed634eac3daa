// A guard's kernel objects held open by the daemon. Pins are what keep a guard alive without a
// process; while the daemon runs it also holds every object itself, so a deleted pin (or a whole
// guard folder removed with rm -r) detaches nothing: the next reconcile pins the same objects
// again, and the reader goes on reading the same ring buffer.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { Link } from '../../bpf/link.js';
import { Program } from '../../bpf/prog.js';
import { pinDir } from '../../bpf/pin.js';
import { FOLLOW_OBJECTS, GUARD_OBJECTS, PROGRAM_OBJECTS, guardPins, linkPinCgroupId, type GuardObject, type FollowObject, type GuardPins } from './layout.js';

type Pinnable = { pin(path: string): void; close(): void };
type HeldObject = Exclude<GuardObject | FollowObject, 'followLink'>;
/** The programs and maps held (the links apart), from layout.ts: a new pin there is held here. */
const HELD_OBJECTS = [...GUARD_OBJECTS, ...FOLLOW_OBJECTS].filter((f): f is HeldObject => f !== 'followLink');
/**
 * The order their pins are put back in, the metadata aside (it goes last, after the links): the
 * program first, so readers that find the metadata always find a program.
 */
const RESTORE_ORDER = HELD_OBJECTS.filter((f) => f !== 'meta');

export class HeldGuard implements Disposable {
  /** HELD_OBJECTS: as pinned when last refreshed. */
  readonly #objects = new Map<HeldObject, Pinnable>();
  /** Live links by the id of their cgroup. */
  readonly #links = new Map<bigint, Link>();
  /** The follower's link on the root cgroup (guards that follow). */
  #followLink: Link | undefined;

  private constructor(readonly name: string, readonly pins: GuardPins) {}

  /** Open everything pinned for the guard now (after an apply or a repair). */
  static open(name: string, bpffs?: string): HeldGuard {
    const pins = guardPins(name, bpffs);
    const h = new HeldGuard(name, pins);
    try {
      for (const f of HELD_OBJECTS) {
        if (existsSync(pins[f])) h.#objects.set(f, PROGRAM_OBJECTS.includes(f) ? Program.openPinned(pins[f]) : BpfMap.openPinnedBytes(pins[f]));
      }
      if (existsSync(pins.followLink)) {
        const l = Link.openPinned(pins.followLink);
        if (l.info().cgroupId === 0n) l.close(); else h.#followLink = l;
      }
      for (const f of existsSync(pins.dir) ? readdirSync(pins.dir) : []) {
        if (linkPinCgroupId(f) === undefined) continue;
        const l = Link.openPinned(join(pins.dir, f));
        const { cgroupId } = l.info();
        if (cgroupId === 0n || h.#links.has(cgroupId)) l.close(); else h.#links.set(cgroupId, l);
      }
    } catch (e) { h.close(); throw e; }
    return h;
  }

  /** Every object of a guard was pinned when opened (not caught between a deletion and a repair). */
  get complete(): boolean { return GUARD_OBJECTS.every((f) => this.#objects.has(f)); }

  /** Ids of the held program and links: a refresh is needed when the pinned ones differ. */
  get programId(): number | undefined { const p = this.#objects.get('prog'); return p ? (p as Program).info().id : undefined; }

  /** Whether any held object's pin is missing (checked without the lock: a pass usually finds none). */
  get unpinned(): boolean {
    return [...this.#objects.keys()].some((f) => !existsSync(this.pins[f])) || [...this.#links.keys()].some((id) => !existsSync(this.pins.link(id))) ||
      (!!this.#followLink && !existsSync(this.pins.followLink));
  }

  /**
   * Pin again what was unpinned while still held (and still attached, for links). Returns what it
   * put back. Holds no lock itself: call it under the guards' lock.
   */
  restorePins(): string[] {
    const restored: string[] = [];
    const p = this.pins;
    const missing = [...this.#objects.keys()].filter((f) => !existsSync(p[f]));
    const links = [...this.#links].filter(([id, l]) => !existsSync(p.link(id)) && l.info().cgroupId !== 0n);
    const follow = this.#followLink && !existsSync(p.followLink) && this.#followLink.info().cgroupId !== 0n;
    if (!missing.length && !links.length && !follow) return restored;
    pinDir(p.dir);
    // The program before the links and the metadata last: readers never see metadata without a program.
    for (const f of RESTORE_ORDER) if (missing.includes(f)) { this.#objects.get(f)!.pin(p[f]); restored.push(f); }
    for (const [id, l] of links) { l.pin(p.link(id)); restored.push(`link-${id}`); }
    if (follow) { this.#followLink!.pin(p.followLink); restored.push('follow-link'); }
    if (missing.includes('meta')) { this.#objects.get('meta')!.pin(p.meta); restored.push('meta'); }
    return restored;
  }

  close(): void {
    for (const o of this.#objects.values()) o.close();
    for (const l of this.#links.values()) l.close();
    this.#followLink?.close();
    this.#followLink = undefined;
    this.#objects.clear();
    this.#links.clear();
  }

  [Symbol.dispose](): void { this.close(); }
}
