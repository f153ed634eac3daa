// Shared memory mappings of kernel objects (ring buffers, mmapable arrays).
import { SysError } from './errors.js';
import { MAP_FAILED, errno, getpagesize, mmap, munmap, viewOf } from './libc.js';
import type { FD } from './fd.js';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
const MAP_SHARED = 1;

export const pageSize = (): number => getpagesize();

export class Mapping implements Disposable {
  #ptr: unknown;
  readonly buffer: ArrayBuffer;
  constructor(fd: FD, readonly lengthBytes: number, prot: number, offsetBytes: number, what = 'bpf object') {
    const ptr = mmap(null, lengthBytes, prot, MAP_SHARED, fd.value, offsetBytes);
    if (MAP_FAILED(ptr)) throw new SysError(`mapping ${lengthBytes} bytes of ${what}`, errno());
    this.#ptr = ptr;
    this.buffer = viewOf(ptr, lengthBytes);
  }
  /** After unmap, any view of `buffer` must no longer be touched. */
  unmap(): void {
    if (this.#ptr === null) return;
    munmap(this.#ptr, this.lengthBytes);
    this.#ptr = null;
  }
  [Symbol.dispose](): void { this.unmap(); }
}
