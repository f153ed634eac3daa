// Audit events as JSON lines: a file rotated by size (FILE, FILE.1 … FILE.N, and FILE.first kept
// through a flood) and/or stdout. The file outlives its operators: renamed or deleted (logrotate)
// it is opened anew, truncated (copytruncate) it is followed, and a line is in it whole or not at
// all, even when the disk fills; when it cannot be written the log says so once, and again when it
// can (docs/daemon.md, "Audit log").
import { existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FD } from '../bpf/sys/fd.js';

export interface AuditLogOptions {
  /** JSON lines file; undefined: no file. */
  file?: string;
  /** Rotate when the file would grow past this (default 10 MiB; 0: never, logrotate rotates). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
  /**
   * A flood that rotates through every kept file within this many ms keeps the file it began in
   * as FILE.first (default DEFAULT_KEEP_FIRST_MS; 0: off). See #dropOldest.
   */
  keepFirstMs?: number;
  /** Also write each event to stdout. */
  stdout?: boolean;
  /** Where the log says it cannot write, and when it can again (default: stderr). */
  log?: (line: string) => void;
}

/** Queued bytes that trigger a flush on their own. */
const FLUSH_BYTES = 64 * 1024;
export const DEFAULT_KEEP_FIRST_MS = 60 * 60 * 1000;

const missing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
const renameIfThere = (from: string, to: string) => { try { renameSync(from, to); } catch (e) { if (!missing(e)) throw e; } };

/** Lines in buf[0, end): JSON.stringify never emits a raw newline, so one per line. */
function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

export class AuditLog {
  /** Owned, so a descriptor number the log has let go (and the process reused) is never touched. */
  #fd: FD | undefined;
  #size = 0;
  /** Where the file must be cut back to before the next write (a cut that failed after a partial line). */
  #cut: number | undefined;
  #queue: string[] = [];
  #queued = 0;
  /** Lines failed since writing started failing, said when it recovers. */
  #lost = 0;
  /** Inside a flood whose first file FILE.first already holds. */
  #flood: boolean;
  /** Why the last rotation failed (said once, not at every flush). */
  #rotateError: string | undefined;
  #closed = false;
  #say: (line: string) => void;
  readonly maxBytes: number;
  readonly keep: number;
  readonly keepFirstMs: number;
  /** Lines written to the file (or stdout when there is no file); queued lines are not counted yet. */
  written = 0;
  /** Lines that could not be written (counted as dropped, never silently lost). */
  failed = 0;
  /** Why the file cannot be written, while it cannot (/healthz); cleared by the next line written. */
  problem: string | undefined;

  constructor(readonly o: AuditLogOptions) {
    this.maxBytes = o.maxBytes ?? 10 * 1024 * 1024;
    this.keep = o.keep ?? 5;
    this.keepFirstMs = o.keepFirstMs ?? DEFAULT_KEEP_FIRST_MS;
    this.#say = o.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} sysward audit log: ${l}\n`));
    this.#flood = o.file !== undefined && existsSync(`${o.file}.first`);
    // A log that cannot be opened does not stop the daemon (its guards matter more): it says so
    // and tries again at every flush.
    if (o.file) this.#tryOpen();
  }

  #open(): void {
    if (this.#fd && this.#cut !== undefined) try { ftruncateSync(this.#fd.value, this.#cut); } catch { /* a torn line left behind in a file let go */ }
    this.#fd?.close();
    this.#fd = undefined;
    this.#cut = undefined;
    mkdirSync(dirname(this.o.file!), { recursive: true, mode: 0o750 });
    // 'a' is O_APPEND: after a copytruncate every write still lands at the end, not past a hole.
    this.#fd = new FD(openSync(this.o.file!, 'a', 0o640), 'audit log');
    this.#size = fstatSync(this.#fd.value).size;
  }

  #tryOpen(): void {
    try { this.#open(); } catch (e) { this.#failing(e); }
  }

  /**
   * Once a flush (two stat calls, not one a line): a file renamed or deleted under us (logrotate's
   * default create) is opened anew at its path; one truncated (copytruncate) is followed by size.
   */
  #follow(): void {
    if (this.#fd) {
      const mine = fstatSync(this.#fd.value, { bigint: true });
      const there = statSync(this.o.file!, { bigint: true, throwIfNoEntry: false });
      if (there?.ino === mine.ino && there.dev === mine.dev) {
        if (this.#cut === undefined) { this.#size = Number(mine.size); return; }
        ftruncateSync(this.#fd.value, this.#cut);
        this.#size = this.#cut;
        this.#cut = undefined;
        return;
      }
      this.#say(`${this.o.file} was renamed, deleted or replaced: opening it anew`);
    }
    this.#open();
  }

  /** SIGUSR1 (logrotate's postrotate): let the current file go and open FILE again now. */
  reopen(): void {
    if (this.o.file && !this.#closed) this.#tryOpen();
  }

  /**
   * Whole lines only: when a write fails midway (ENOSPC, EDQUOT, EIO) the file is cut back to the
   * last whole line; the lines before it count as written, the caller counts the rest as failed.
   */
  #append(lines: string[], buf = Buffer.from(lines.join(''))): void {
    const fd = this.#fd!.value;
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(fd, buf, off);
    } catch (e) {
      const whole = off === 0 ? 0 : buf.lastIndexOf(0x0a, off - 1) + 1;
      this.written += countLines(buf, whole);
      if (off > whole) {
        // From the size now, not our bookkeeping: a copytruncate in between must not become a hole.
        const cut = fstatSync(fd).size - (off - whole);
        try { ftruncateSync(fd, cut); } catch { this.#cut = cut; }
      }
      throw e;
    }
    this.#size += buf.length;
    this.written += lines.length;
  }

  #rotate(): void {
    const f = this.o.file!;
    if (this.keep > 0) {
      this.#dropOldest(f);
      for (let i = this.keep - 1; i >= 1; i--) renameIfThere(`${f}.${i}`, `${f}.${i + 1}`);
      renameIfThere(f, `${f}.1`);
    } else {
      rmSync(f, { force: true });
    }
    this.#rotateError = undefined;
    this.#open();
  }

  /**
   * Rotation drops FILE.keep, except in a flood: when FILE.keep was written to less than
   * keepFirstMs ago, every kept file holds the flood and nothing from before it would be left.
   * The first such file of a flood is kept as FILE.first instead (replacing an earlier flood's),
   * so the events that began an incident survive its end; the flood is over once a rotation drops a
   * file older than that. At start FILE.first is taken to be the current flood's: when unsure, the
   * older record stays.
   */
  #dropOldest(f: string): void {
    const oldest = `${f}.${this.keep}`;
    const st = statSync(oldest, { throwIfNoEntry: false });
    if (!st) return;
    const young = this.keepFirstMs > 0 && Date.now() - st.mtimeMs < this.keepFirstMs;
    if (young && !this.#flood) renameSync(oldest, `${f}.first`);
    else rmSync(oldest, { force: true });
    this.#flood = young;
  }

  /**
   * Queue an event; it reaches the file at the next flush (the daemon flushes after each batch it
   * reads from a ring buffer, and whenever 64 KiB are queued): one write(2) per batch instead of
   * one per event, which was two thirds of the daemon's time under a flood. `json`: the event as
   * JSON.stringify writes it, when the caller has it already (events.ts eventJson).
   */
  write(event: object, json?: string): void {
    const line = `${json ?? JSON.stringify(event)}\n`;
    this.#queue.push(line);
    this.#queued += line.length;
    if (this.#queued >= FLUSH_BYTES) this.flush();
  }

  /**
   * Write these lines now, after what is queued, in a flush of their own; returns how many of them
   * reached the log. They are a prefix: a flush stops at the first line that does not fit. For
   * summary lines, which are remembered as reported only as far as they were written: one written
   * and then reported again (with those that failed) would be counted twice.
   */
  writeNow(json: readonly string[]): number {
    this.flush();
    const before = this.written;
    for (const j of json) this.#queue.push(`${j}\n`);
    this.flush();
    return this.written - before;
  }

  /** Write what is queued: to stdout, and to the file, rotating where a line would pass maxBytes. */
  flush(): void {
    if (this.#queue.length === 0) return;
    const lines = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    const before = this.written;
    let error: unknown;
    try {
      // One conversion of the batch, for stdout and the file alike.
      const text = lines.join('');
      if (this.o.stdout) process.stdout.write(text);
      if (this.o.file) this.#writeFile(lines, text); else this.written += lines.length;
    } catch (e) {
      error = e;
    }
    const lost = lines.length - (this.written - before);
    this.failed += lost;
    if (error) { this.#lost += lost; this.#failing(error); } else if (this.problem !== undefined) this.#recovered();
  }

  #writeFile(lines: string[], text: string): void {
    if (this.#closed) throw new Error('the audit log is closed');
    this.#follow();
    // Most batches fit: one conversion, no line measured.
    const all = Buffer.from(text);
    if (this.maxBytes <= 0 || this.#size + all.length <= this.maxBytes) { this.#append(lines, all); return; }
    let from = 0;
    let bytes = 0;
    let rotationFailed = false;
    for (let i = 0; i < lines.length; i++) {
      const n = Buffer.byteLength(lines[i]!);
      if (this.maxBytes > 0 && !rotationFailed && this.#size + bytes > 0 && this.#size + bytes + n > this.maxBytes) {
        if (i > from) this.#append(lines.slice(from, i));
        from = i;
        bytes = 0;
        try { this.#rotate(); } catch (e) {
          // Renames refused (a directory in the way, a read-only parent): write on past maxBytes
          // rather than lose the lines, and try again at the next flush.
          if (!this.#fd) throw e;
          rotationFailed = true;
          const why = (e as Error).message;
          if (why !== this.#rotateError) this.#say(`cannot rotate ${this.o.file} (writing on past ${this.maxBytes} bytes): ${why}`);
          this.#rotateError = why;
        }
      }
      bytes += n;
    }
    if (lines.length > from) this.#append(lines.slice(from));
  }

  #failing(e: unknown): void {
    const why = `cannot write ${this.o.file}: ${(e as Error).message}`;
    if (this.problem === undefined) this.#say(`${why}; events are counted as failed (sysward_events_log_failures_total) until it can be written again`);
    this.problem = why;
  }

  #recovered(): void {
    this.#say(`${this.o.file} is written again; ${this.#lost} event(s) could not be written meanwhile`);
    this.problem = undefined;
    this.#lost = 0;
  }

  close(): void {
    this.flush();
    this.#closed = true;
    this.#fd?.close();
    this.#fd = undefined;
  }
}
