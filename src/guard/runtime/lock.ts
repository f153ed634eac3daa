// One writer at a time on the guards' pins, for the CLI and the daemon alike: two `guard apply`
// of one name at once left a link running one program, the metadata naming another, a counters
// map that was not the program's, or no guard at all. The lock is flock(2) on the sysward folder
// in bpffs, so it dies with its holder (kill -9 leaves no stale lock).
import { join } from 'node:path';
import { DEFAULT_BPFFS, ensureBpffs, pinDir } from '../../bpf/pin.js';
import { lockExclusive } from '../../bpf/sys/flock.js';

/** How long a writer waits for another to finish (an apply of 10,000 rules takes ~70 ms). */
export const GUARD_LOCK_TIMEOUT_MS = 30_000;

/** The folder whose lock guards every pin below it. */
export const guardsRoot = (bpffs = DEFAULT_BPFFS) => join(bpffs, 'sysward');

let held = 0;

/** Run `f` holding the guards' lock (re-entrant within this process). */
export function withGuardLock<T>(bpffs: string | undefined, f: () => T, timeoutMs = GUARD_LOCK_TIMEOUT_MS): T {
  if (held > 0) { held++; try { return f(); } finally { held--; } }
  ensureBpffs(bpffs ?? DEFAULT_BPFFS);
  const root = pinDir(guardsRoot(bpffs));
  const lock = lockExclusive(root, timeoutMs);
  if (!lock) throw new Error(`another sysward process has been changing guards for ${timeoutMs / 1000} s (a lock on ${root} is held); wait for it, or find it with \`fuser -v ${root}\``);
  held++;
  try { return f(); } finally { held--; lock.close(); }
}
