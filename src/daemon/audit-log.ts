// Audit events as JSON lines: a file rotated by size (FILE, FILE.1 … FILE.N) and/or stdout.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AuditLogOptions {
  /** JSON lines file; undefined: no file. */
  file?: string;
  /** Rotate when the file would grow past this (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept (default 5). */
  keep?: number;
  /** Also write each event to stdout. */
  stdout?: boolean;
}

/** Queued bytes that trigger a flush on their own. */
const FLUSH_BYTES = 64 * 1024;

function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
}

export class AuditLog {
  #fd: number | undefined;
  #size = 0;
  #queue: string[] = [];
  #queued = 0;
  readonly maxBytes: number;
  readonly keep: number;
  /** Lines written to the file (or stdout when there is no file); queued lines are not counted yet. */
  written = 0;
  /** Lines that could not be written (counted as dropped, never silently lost). */
  failed = 0;

  constructor(readonly o: AuditLogOptions) {
    this.maxBytes = o.maxBytes ?? 10 * 1024 * 1024;
    this.keep = o.keep ?? 5;
    if (o.file) this.#open();
  }

  #open(): void {
    mkdirSync(dirname(this.o.file!), { recursive: true, mode: 0o750 });
    this.#fd = openSync(this.o.file!, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
  }

  #rotate(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    const f = this.o.file!;
    rmSync(`${f}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(`${f}.${i}`)) renameSync(`${f}.${i}`, `${f}.${i + 1}`);
    if (this.keep > 0) renameSync(f, `${f}.1`); else rmSync(f, { force: true });
    this.#open();
  }

  /**
   * Queue an event; it reaches the file at the next flush (the daemon flushes after each batch it
   * reads from a ring buffer, and whenever 64 KiB are queued): one write(2) per batch instead of
   * one per event, which was two thirds of the daemon's time under a flood.
   */
  write(event: object): void {
    const line = `${JSON.stringify(event)}\n`;
    this.#queue.push(line);
    this.#queued += line.length;
    if (this.#queued >= FLUSH_BYTES) this.flush();
  }

  /** Write what is queued: to stdout, and to the file, rotating where a line would pass maxBytes. */
  flush(): void {
    if (this.#queue.length === 0) return;
    const lines = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    let done = 0;
    try {
      if (this.o.stdout) process.stdout.write(lines.join(''));
      if (this.o.file) {
        let chunk: string[] = [];
        let chunkBytes = 0;
        const writeChunk = () => {
          if (chunk.length === 0) return;
          writeAll(this.#fd!, Buffer.from(chunk.join('')));
          this.#size += chunkBytes;
          done += chunk.length;
          chunk = [];
          chunkBytes = 0;
        };
        for (const line of lines) {
          const bytes = Buffer.byteLength(line);
          if (this.#size + chunkBytes > 0 && this.#size + chunkBytes + bytes > this.maxBytes) { writeChunk(); this.#rotate(); }
          chunk.push(line);
          chunkBytes += bytes;
        }
        writeChunk();
      } else {
        done = lines.length;
      }
    } catch {
      this.failed += lines.length - done;
    }
    this.written += done;
  }

  close(): void {
    this.flush();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
