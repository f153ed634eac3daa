// A running daemon says what it reads: /run/sysward/daemons/PID.json. A guard's ring buffer has
// one reader (each event goes to whoever takes it first), so `sysward events` beside a daemon that
// reads a guard must not read it too: it follows the daemon's audit log instead (events.ts).
// The other way round, `sysward events` reading a guard's ring buffer says so in
// /run/sysward/readers/PID.json: a daemon that starts then announces itself and waits for it to
// hand over (events.ts switches to the daemon's log) before it reads, so that from then on every
// event is the daemon's to write.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BPFFS } from '../bpf/pin.js';

export const ANNOUNCE_DIR = '/run/sysward/daemons';
export const READERS_DIR = '/run/sysward/readers';

export interface DaemonAnnouncement {
  pid: number;
  /** The bpffs its guards are pinned in. */
  bpffs: string;
  /** Its audit log (JSON lines), or null when it writes events to stdout only. */
  eventsFile: string | null;
  /** Guards whose events it reads now. */
  guards: string[];
}

/** A `sysward events` process reading guards' ring buffers itself. */
export interface ReaderAnnouncement {
  pid: number;
  bpffs: string;
  guards: string[];
}

const file = (dir: string, pid: number) => join(dir, `${pid}.json`);

export function announce(a: DaemonAnnouncement | ReaderAnnouncement, dir = ANNOUNCE_DIR): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(`${file(dir, a.pid)}.tmp`, JSON.stringify(a));
    renameSync(`${file(dir, a.pid)}.tmp`, file(dir, a.pid));
  } catch { /* a read-only /run: `sysward events` then cannot tell (its help says to stop it beside a daemon) */ }
}

export function withdraw(pid = process.pid, dir = ANNOUNCE_DIR): void {
  rmSync(file(dir, pid), { force: true });
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};

/** Live announcements in `dir` that read `guard` on `bpffs`, but this process's; those of dead processes are removed. */
function reading<T extends ReaderAnnouncement>(guard: string, bpffs: string, dir: string): T[] {
  let names: string[];
  try { names = readdirSync(dir).filter((f) => /^\d+\.json$/.test(f)); } catch { return []; }
  const found: T[] = [];
  for (const f of names) {
    let a: T;
    try { a = JSON.parse(readFileSync(join(dir, f), 'utf8')) as T; } catch { continue; }
    if (a.pid === process.pid) continue;
    if (!alive(a.pid)) { rmSync(join(dir, f), { force: true }); continue; }
    if (a.bpffs === bpffs && a.guards.includes(guard)) found.push(a);
  }
  return found;
}

/** The running daemon that reads `guard`'s events (on `bpffs`), if any. */
export const daemonReading = (guard: string, bpffs = DEFAULT_BPFFS, dir = ANNOUNCE_DIR): DaemonAnnouncement | undefined =>
  reading<DaemonAnnouncement>(guard, bpffs, dir)[0];

/** The pids of `sysward events` processes that read `guard`'s ring buffer themselves. */
export const readersOf = (guard: string, bpffs = DEFAULT_BPFFS, dir = READERS_DIR): number[] =>
  reading<ReaderAnnouncement>(guard, bpffs, dir).map((a) => a.pid);
