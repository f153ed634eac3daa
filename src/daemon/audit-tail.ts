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

/**
 * The last `count` whole lines of a rotated audit log (FILE, then FILE.1 when FILE has fewer),
 * oldest first, reading at most `maxBytes` from the end of each file: the dashboard's history at
 * start. A file that is not there gives no lines.
 */
export function lastLines(path: string, count: number, maxBytes = 1 << 20): string[] {
  const out: string[] = [];
  for (const file of [path, `${path}.1`]) {
    let fd: number;
    try { fd = openSync(file, 'r'); } catch { continue; }
    try {
      const size = fstatSync(fd).size;
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      let n = 0;
      while (n < buf.length) { const r = readSync(fd, buf, n, buf.length - n, start + n); if (r <= 0) break; n += r; }
      const lines = buf.subarray(0, n).toString('utf8').split('\n');
      lines.pop(); // after the last newline: a line being written, or nothing
      if (start > 0) lines.shift(); // cut by maxBytes
      out.unshift(...lines.filter((l) => l).slice(-(count - out.length)));
      if (out.length >= count || start > 0) break;
    } finally { closeSync(fd); }
  }
  return out;
}
