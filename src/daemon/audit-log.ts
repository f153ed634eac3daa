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

export class AuditLog {
  #fd: number | undefined;
  #size = 0;
  readonly maxBytes: number;
  readonly keep: number;
  /** Lines written to the file (or stdout when there is no file). */
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

  write(event: object): void {
    const line = `${JSON.stringify(event)}\n`;
    try {
      if (this.o.stdout) process.stdout.write(line);
      if (this.o.file) {
        const bytes = Buffer.byteLength(line);
        if (this.#size > 0 && this.#size + bytes > this.maxBytes) this.#rotate();
        writeSync(this.#fd!, line);
        this.#size += bytes;
      }
      this.written++;
    } catch {
      this.failed++;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
