// Shared memory mappings of kernel objects (ring buffers, mmapable arrays).
import { closeSync, fstatSync, openSync } from 'node:fs';
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

const MAP_PRIVATE = 2;

/**
 * A file's bytes mapped read-only (MAP_PRIVATE), for the life of the process: no copy, and pages
 * are read as they are touched. Undefined when the file cannot be mapped (sysfs files before
 * Linux 6.16 for /sys/kernel/btf/vmlinux, empty files): read it instead. Writing to the Buffer
 * kills the process (SIGSEGV); only map what is never written.
 */
export function mapFileReadOnly(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const ptr = mmap(null, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (MAP_FAILED(ptr)) return undefined;
    return Buffer.from(viewOf(ptr, size));
  } catch { return undefined; } finally { if (fd !== undefined) closeSync(fd); }
}
