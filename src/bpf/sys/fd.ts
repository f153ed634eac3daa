// File descriptors owned explicitly: close() or `using`; a GC safety net closes what was dropped.
import { close } from './libc.js';

const leaked = new FinalizationRegistry<number>((fd) => { close(fd); });

export class FD implements Disposable {
  #fd: number;
  constructor(fd: number, readonly kind = 'bpf') {
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`invalid ${kind} file descriptor ${fd}`);
    this.#fd = fd;
    leaked.register(this, fd, this);
  }

  /** The raw number; throws after close so a stale fd is never reused by accident. */
  get value(): number {
    if (this.#fd < 0) throw new Error(`${this.kind} file descriptor used after close`);
    return this.#fd;
  }

  get closed(): boolean { return this.#fd < 0; }

  close(): void {
    if (this.#fd < 0) return;
    leaked.unregister(this);
    close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void { this.close(); }
}
