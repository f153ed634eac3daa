// Waiting for an fd to become readable without blocking the event loop: epoll_wait runs on a
// libuv worker thread (a koffi async call); an eventfd in the same epoll set wakes it on close.
import { SysError } from './errors.js';
import { close, epollCreate1, epollCtl, epollWait, errno, eventfd, write } from './libc.js';
import type { FD } from './fd.js';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
const EFD_CLOEXEC = 0o2000000;
// struct epoll_event is packed on x86_64 (12 bytes), naturally aligned elsewhere (16 bytes).
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
const WAKE_TOKEN = 0xffffffffn;

export class ReadableWaiter {
  #epfd: number;
  #wakefd: number;
  #pending: Promise<boolean> | null = null;
  #closed = false;

  constructor(readonly target: FD) {
    this.#epfd = epollCreate1(EPOLL_CLOEXEC);
    if (this.#epfd < 0) throw new SysError('creating an epoll instance', errno());
    this.#wakefd = eventfd(0, EFD_CLOEXEC);
    if (this.#wakefd < 0) { const e = errno(); close(this.#epfd); throw new SysError('creating an eventfd', e); }
    this.#add(target.value, 0n);
    this.#add(this.#wakefd, WAKE_TOKEN);
  }

  #add(fd: number, token: bigint): void {
    const ev = Buffer.alloc(EVENT_SIZE);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeBigUInt64LE(token, DATA_OFFSET);
    if (epollCtl(this.#epfd, EPOLL_CTL_ADD, fd, ev) !== 0) throw new SysError('watching an fd with epoll', errno());
  }

  /** Resolves true when the target is readable, false once close() was called. */
  wait(timeoutMs = -1): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#pending) return this.#pending;
    const events = Buffer.alloc(EVENT_SIZE * 2);
    this.#pending = new Promise<boolean>((resolve, reject) => {
      epollWait.async(this.#epfd, events, 2, timeoutMs, (err: unknown, n: number) => {
        this.#pending = null;
        if (err) return reject(err);
        if (this.#closed) return resolve(false);
        if (n < 0) return resolve(true); // EINTR: let the caller look again
        resolve(n > 0 || timeoutMs >= 0 ? n > 0 : true);
      });
    });
    return this.#pending;
  }

  /** Wake any waiter and release the fds (after the worker returned). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    write(this.#wakefd, one, 8);
    if (this.#pending) await this.#pending.catch(() => false);
    close(this.#wakefd);
    close(this.#epfd);
  }
}
