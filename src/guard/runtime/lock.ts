// One writer at a time on the guards' pins, for the CLI and the daemon alike: two `guard apply`
// of one name at once left a link running one program, the metadata naming another, a counters
// map that was not the program's, or no guard at all. The lock is flock(2) on the sysward folder
// in bpffs, so it dies with its holder (kill -9 leaves no stale lock).
import { DEFAULT_BPFFS, ensureBpffs, pinDir } from '../../bpf/pin.js';
import { lockExclusive } from '../../bpf/sys/flock.js';
import { syswardRoot } from './layout.js';

/** How long a writer waits for another to finish (an apply of 10,000 rules takes ~70 ms). */
export const GUARD_LOCK_TIMEOUT_MS = 30_000;

/** The folder whose lock guards every pin below it. */

/** The lock stayed held by another process for the whole wait. */
export class GuardLockBusyError extends Error { override name = 'GuardLockBusyError'; }

let held = 0;

/** Run `f` holding the guards' lock (re-entrant within this process). */
export function withGuardLock<T>(bpffs: string | undefined, f: () => T, timeoutMs: number = GUARD_LOCK_TIMEOUT_MS): T {
  if (held > 0) { held++; try { return f(); } finally { held--; } }
  ensureBpffs(bpffs ?? DEFAULT_BPFFS);
  const root = pinDir(syswardRoot(bpffs));
  const lock = lockExclusive(root, timeoutMs);
  if (!lock) throw new GuardLockBusyError(`another sysward process is changing guards (it has held the lock on ${root} for ${timeoutMs / 1000} s or more); wait for it, or find it with \`fuser -v ${root}\``);
  held++;
  try { return f(); } finally { held--; lock.close(); }
}
