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
import { guardsDir } from './status.js';

type Pinnable = { pin(path: string): void; close(): void };

export class HeldGuard implements Disposable {
  /** prog, counters, events, meta: as pinned when last refreshed. */
  readonly #objects = new Map<string, Pinnable>();
  /** Live links by the id of their cgroup. */
  readonly #links = new Map<bigint, Link>();

  private constructor(readonly name: string, readonly dir: string) {}

  /** Open everything pinned for the guard now (after an apply or a repair). */
  static open(name: string, bpffs?: string): HeldGuard {
    const h = new HeldGuard(name, join(guardsDir(bpffs), name));
    const at = (f: string) => join(h.dir, f);
    try {
      if (existsSync(at('prog'))) h.#objects.set('prog', Program.openPinned(at('prog')));
      for (const f of ['counters', 'events', 'meta']) if (existsSync(at(f))) h.#objects.set(f, BpfMap.openPinnedBytes(at(f)));
      for (const f of existsSync(h.dir) ? readdirSync(h.dir) : []) {
        if (!/^link-\d+$/.test(f)) continue;
        const l = Link.openPinned(at(f));
        const { cgroupId } = l.info();
        if (cgroupId === 0n || h.#links.has(cgroupId)) l.close(); else h.#links.set(cgroupId, l);
      }
    } catch (e) { h.close(); throw e; }
    return h;
  }

  /** Ids of the held program and links: a refresh is needed when the pinned ones differ. */
  get programId(): number | undefined { const p = this.#objects.get('prog'); return p ? (p as Program).info().id : undefined; }

  /**
   * Pin again what was unpinned while still held (and still attached, for links). Returns what it
   * put back. Holds no lock itself: call it under the guards' lock.
   */
  restorePins(): string[] {
    const restored: string[] = [];
    const missing = [...this.#objects.keys()].filter((f) => !existsSync(join(this.dir, f)));
    const links = [...this.#links].filter(([id, l]) => !existsSync(join(this.dir, `link-${id}`)) && l.info().cgroupId !== 0n);
    if (!missing.length && !links.length) return restored;
    pinDir(this.dir);
    // The program before the links and the metadata last: readers never see metadata without a program.
    for (const f of ['prog', 'counters', 'events']) if (missing.includes(f)) { this.#objects.get(f)!.pin(join(this.dir, f)); restored.push(f); }
    for (const [id, l] of links) { l.pin(join(this.dir, `link-${id}`)); restored.push(`link-${id}`); }
    if (missing.includes('meta')) { this.#objects.get('meta')!.pin(join(this.dir, 'meta')); restored.push('meta'); }
    return restored;
  }

  close(): void {
    for (const o of this.#objects.values()) o.close();
    for (const l of this.#links.values()) l.close();
    this.#objects.clear();
    this.#links.clear();
  }

  [Symbol.dispose](): void { this.close(); }
}
