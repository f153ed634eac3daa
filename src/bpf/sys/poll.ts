// Waiting for an fd to become readable (or, with another event mask, to signal another event: PSI
// triggers signal EPOLLPRI) without blocking the event loop: epoll_wait runs on a libuv worker
// thread (a koffi async call); an eventfd in the same epoll set wakes it on close.
import { SysError } from './errors.js';
import { close, epollCreate1, epollCtl, epollWait, errno, eventfd, write } from './libc.js';
import type { FD } from './fd.js';

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
/** epoll event bits (<sys/epoll.h>). */
export const EPOLLIN = 0x001;
export const EPOLLPRI = 0x002;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
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
  #lastEvents = 0;

  /** `events`: what to wait for (default EPOLLIN); EPOLLERR and EPOLLHUP are always reported. */
  constructor(readonly target: FD, readonly events = EPOLLIN) {
    this.#epfd = epollCreate1(EPOLL_CLOEXEC);
    if (this.#epfd < 0) throw new SysError('creating an epoll instance', errno());
    this.#wakefd = eventfd(0, EFD_CLOEXEC);
    if (this.#wakefd < 0) { const e = errno(); close(this.#epfd); throw new SysError('creating an eventfd', e); }
    this.#add(target.value, 0n, events);
    this.#add(this.#wakefd, WAKE_TOKEN, EPOLLIN);
  }

  /** The event bits the target reported in the last wait that returned true (0 after a timeout). */
  get lastEvents(): number { return this.#lastEvents; }

  #add(fd: number, token: bigint, events: number): void {
    const ev = Buffer.alloc(EVENT_SIZE);
    ev.writeUInt32LE(events, 0);
    ev.writeBigUInt64LE(token, DATA_OFFSET);
    if (epollCtl(this.#epfd, EPOLL_CTL_ADD, fd, ev) !== 0) throw new SysError('watching an fd with epoll', errno());
  }

  /** Resolves true when the target signalled one of `events` (see lastEvents), false once close() was called. */
  wait(timeoutMs = -1): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#pending) return this.#pending;
    const events = Buffer.alloc(EVENT_SIZE * 2);
    this.#pending = new Promise<boolean>((resolve, reject) => {
      epollWait.async(this.#epfd, events, 2, timeoutMs, (err: unknown, n: number) => {
        this.#pending = null;
        if (err) return reject(err);
        if (this.#closed) return resolve(false);
        this.#lastEvents = 0;
        for (let i = 0; i < n; i++) {
          if (events.readBigUInt64LE(i * EVENT_SIZE + DATA_OFFSET) !== WAKE_TOKEN) this.#lastEvents |= events.readUInt32LE(i * EVENT_SIZE);
        }
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
