// Reading a daemon's audit log as it grows (`sysward events` beside the daemon): whole lines only,
// following the daemon's rotation (the file renamed and made again), a logrotate copytruncate
// (the file shorter than what was read) and a file not made yet.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

export interface TailOptions {
  /** Start at the end (follow only what is written from now) or at the beginning. */
  fromEnd: boolean;
  /** Keep reading until `signal` aborts; else stop at the end of the file. */
  follow: boolean;
  signal?: AbortSignal;
  pollMs?: number;
}

export async function tailLines(path: string, onLine: (line: string) => void, o: TailOptions): Promise<void> {
  let fd: number | undefined;
  let ino = -1;
  let pos = 0;
  let partial = '';
  const buf = Buffer.alloc(1 << 16);
  const open = (atEnd: boolean) => {
    try { fd = openSync(path, 'r'); } catch { fd = undefined; return; }
    const s = fstatSync(fd);
    ino = s.ino;
    pos = atEnd ? s.size : 0;
    partial = '';
  };
  const drain = () => {
    if (fd === undefined) return;
    if (fstatSync(fd).size < pos) { pos = 0; partial = ''; } // truncated under us (copytruncate)
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return;
      pos += n;
      const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l) onLine(l);
    }
  };
  open(o.fromEnd);
  try {
    for (;;) {
      drain();
      if (!o.follow || o.signal?.aborted) return;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
      // Rotated (a new file at the path): what the old one still had first, then the new one from its start.
      let now: number | undefined;
      try { now = statSync(path).ino; } catch { now = undefined; }
      if (now !== undefined && now !== ino) {
        drain();
        if (fd !== undefined) closeSync(fd);
        open(false);
      }
    }
  } finally { if (fd !== undefined) closeSync(fd); }
}
