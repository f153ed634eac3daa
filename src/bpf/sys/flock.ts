// Advisory locks with flock(2): one writer at a time on a folder (bpffs folders included), held
// for as long as the returned fd is open. A lock dies with its process, so a crash never leaves
// a stale lock behind (unlike a lock file's existence).
import { constants, openSync } from 'node:fs';
import { FD } from './fd.js';
import { LOCK_EX, LOCK_NB, errno, errnoName, flock } from './libc.js';
import { SysError } from './errors.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Take an exclusive lock on `path` (a file or folder), waiting at most `timeoutMs` (polling: the
 * caller's thread sleeps, so a held lock never blocks the event loop for longer than that).
 * Returns the held lock, or undefined when it is still held elsewhere after the wait.
 */
export function lockExclusive(path: string, timeoutMs: number): FD | undefined {
  const fd = new FD(openSync(path, constants.O_RDONLY), 'lock');
  const deadline = Date.now() + timeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    if (flock(fd.value, LOCK_EX | LOCK_NB) === 0) return fd;
    const e = errno();
    if (errnoName(e) !== 'EWOULDBLOCK' && errnoName(e) !== 'EAGAIN') { fd.close(); throw new SysError(`locking ${path}`, e); }
    if (Date.now() >= deadline) { fd.close(); return undefined; }
    Atomics.wait(sleeper, 0, 0, Math.min(pauseMs, Math.max(1, deadline - Date.now())));
  }
}
