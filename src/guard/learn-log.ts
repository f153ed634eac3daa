// `sysward learn --from AUDIT.jsonl…`: the daemon's audit log (events and summary lines,
// docs/daemon.md) → observations for the learner (learn.ts), selected by container, cgroup, guard
// and time. Logs are streamed, never read whole: memory stays bounded by the learner's limits and
// one line (MAX_LINE_BYTES), whatever the size of the log.
import { createReadStream, closeSync, fstatSync, openSync, constants } from 'node:fs';
import { LearnInputError, type Learner, type Observation } from './learn.js';

/** Longest line read: an event is under 2 KB; anything longer is not sysward's audit log. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface LogSelection {
  /** A container id or its prefix, optionally `runtime:id` (as events show it: `docker:4f1c…`). */
  container?: string;
  /** A cgroup path: events of it and of the cgroups below it. */
  cgroup?: string;
  /** Only this guard's events (a daemon with several guards may report one access twice). */
  guard?: string;
  /** ISO 8601: only events at or after it (summary lines whose period ends at or after it). */
  since?: string;
}

export interface LogProgress { file: string; bytes: number; lines: number }

export interface LogStats {
  lines: number;
  bytes: number;
  events: number;
  summaries: number;
  /** Records not selected (another cgroup, guard, or before --since). */
  skipped: number;
  /** Accesses of `dropped` lines (no kind slot and no room for an event): no key to learn from. */
  dropped: number;
  /** The cgroups (paths or runtime:id) of the records used, with how many accesses each (first 1000). */
  cgroups: Map<string, number>;
  /** With --container: the full ids (runtime:id) it matched. */
  containers: Set<string>;
}

/** `-` is standard input. */
export const STDIN = '-';

/**
 * Open a log for reading, refusing what could hang or never end: only regular files (and `-`, a
 * pipe on standard input). A FIFO is opened without waiting for a writer (O_NONBLOCK) and then
 * refused, as are devices, sockets and directories; pipe a FIFO in with `-` instead.
 */
function openLog(file: string): number {
  if (file === STDIN) {
    if (process.stdin.isTTY) throw new LearnInputError('--from -: standard input is a terminal; pipe the audit log in (zcat audit.jsonl.1.gz | sysward learn --from - …)');
    return 0;
  }
  let fd: number;
  try { fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LearnInputError(`${file}: cannot read the audit log: ${code === 'ENOENT' ? 'no such file; check the path' : code === 'EACCES' ? 'permission denied; run as a user that may read it (root)' : code === 'ENXIO' ? 'it is a socket; give a file' : (e as Error).message}`);
  }
  const s = fstatSync(fd);
  if (!s.isFile()) {
    closeSync(fd);
    const what = s.isFIFO() ? 'a FIFO (named pipe)' : s.isDirectory() ? 'a directory' : s.isCharacterDevice() ? 'a character device' : s.isBlockDevice() ? 'a block device' : s.isSocket() ? 'a socket' : 'not a regular file';
    throw new LearnInputError(`${file}: it is ${what}, not a regular file; ${s.isDirectory() ? 'give the audit log files inside it (audit.jsonl, audit.jsonl.1, …)' : 'give a file, or pipe it to standard input with --from -'}`);
  }
  return fd;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An ISO time as Date.toISOString writes it, or undefined. */
function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** What a selection is matched against: where the access was, and the container it left, if any. */
function placesOf(r: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof r.cgroup === 'string') out.push(r.cgroup);
  if (isObject(r.boundTo) && typeof r.boundTo.cgroup === 'string') out.push(r.boundTo.cgroup);
  return out;
}

/** A selector for places: the container id it matched (with --container), true (--cgroup), or undefined. */
function selector(sel: LogSelection): ((place: string) => string | true | undefined) | undefined {
  if (sel.container !== undefined) {
    const c = sel.container;
    const colon = c.indexOf(':');
    const runtime = colon < 0 ? undefined : c.slice(0, colon);
    const id = colon < 0 ? c : c.slice(colon + 1);
    return (place) => {
      const m = /^([a-z][a-z0-9-]*):([^/]+)$/.exec(place);
      return m && (runtime === undefined || m[1] === runtime) && m[2]!.startsWith(id) ? place : undefined;
    };
  }
  if (sel.cgroup !== undefined) {
    const p = sel.cgroup === '/' ? '/' : sel.cgroup.replace(/\/+$/, '');
    return (place) => (p === '/' ? place.startsWith('/') : place === p || place.startsWith(`${p}/`)) || undefined;
  }
  return undefined;
}

/**
 * Read audit logs into `learner`. Throws LearnInputError naming the file and line of the first
 * line that is not an event or summary line of sysward's audit log.
 */
export async function learnFromLogs(files: string[], learner: Learner, sel: LogSelection = {}, o: { onProgress?: (p: LogProgress) => void; progressMs?: number } = {}): Promise<LogStats> {
  const stats: LogStats = { lines: 0, bytes: 0, events: 0, summaries: 0, skipped: 0, dropped: 0, cgroups: new Map(), containers: new Set() };
  const select = selector(sel);
  const since = sel.since;
  const progressMs = o.progressMs ?? 2000;
  let lastProgress = Date.now();
  for (const file of files) {
    const fd = openLog(file);
    const stream = file === STDIN ? process.stdin : createReadStream('', { fd, highWaterMark: 1 << 20 });
    let line = 0;
    let partial: Buffer[] = [];
    let partialBytes = 0;
    let fileBytes = 0;
    const onLine = (buf: Buffer) => {
      line++;
      stats.lines++;
      const text = buf.toString('utf8').trim();
      if (text === '') return;
      const where = `${file === STDIN ? 'standard input' : file}:${line}`;
      let r: unknown;
      try { r = JSON.parse(text); } catch (e) {
        throw new LearnInputError(`${where}: not a JSON line (${(e as Error).message}); give sysward's audit log (the daemon's --events file, or sysward run --events)`);
      }
      if (!isObject(r)) throw new LearnInputError(`${where}: not a JSON object; give sysward's audit log`);
      const summary = r.type === 'summary';
      // Accesses the guard could not attribute: counted, but they name no key to allow.
      if (r.type === 'dropped') {
        if ((sel.guard === undefined || r.guard === sel.guard) && typeof r.count === 'number') stats.dropped += r.count;
        return;
      }
      if (r.type !== undefined && !summary) throw new LearnInputError(`${where}: a record of type ${JSON.stringify(r.type)}, which learn does not know; an audit log holds events, summary lines (type "summary") and dropped lines (type "dropped")`);
      if (typeof r.key !== 'string' || (r.access !== 'read' && r.access !== 'write')) throw new LearnInputError(`${where}: not an event of sysward's audit log (it needs key and access: read or write)`);
      const from = isoTime(summary ? r.from : r.time);
      const to = summary ? isoTime(r.to) : from;
      if (!from || !to) throw new LearnInputError(`${where}: ${summary ? 'from and to' : 'time'} must be ISO 8601 times`);
      let count = 1;
      if (summary) {
        if (typeof r.count !== 'number' || !Number.isSafeInteger(r.count) || r.count < 0) throw new LearnInputError(`${where}: a summary line's count must be a whole number`);
        count = r.count;
      }
      if (sel.guard !== undefined && r.guard !== sel.guard) { stats.skipped++; return; }
      if (since !== undefined && to < since) { stats.skipped++; return; }
      const places = placesOf(r);
      if (select) {
        const hit = places.map(select).find((m) => m !== undefined);
        if (hit === undefined) { stats.skipped++; return; }
        if (typeof hit === 'string') stats.containers.add(hit);
      }
      const place = places[0] ?? (typeof r.cgroupId === 'string' ? `cgroup id ${r.cgroupId}` : 'an unknown cgroup');
      if (stats.cgroups.has(place) || stats.cgroups.size < 1000) stats.cgroups.set(place, (stats.cgroups.get(place) ?? 0) + count);
      if (summary) stats.summaries++; else stats.events++;
      let value: string | null | undefined;
      if (!summary && r.access === 'write') {
        if (r.newValue !== null && typeof r.newValue !== 'string') throw new LearnInputError(`${where}: newValue must be a string or null`);
        value = r.newValue as string | null;
      }
      const obs: Observation = {
        access: r.access, key: r.key, count, from, to,
        ...(value !== undefined ? { value } : {}),
        ...(typeof r.filePos === 'number' ? { filePos: r.filePos } : {}),
        ...(typeof r.comm === 'string' ? { comm: r.comm } : {}),
      };
      try { learner.observe(obs); } catch (e) {
        if (e instanceof LearnInputError) throw new LearnInputError(`${where}: ${e.message}`);
        throw e;
      }
    };
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        fileBytes += chunk.length;
        stats.bytes += chunk.length;
        let start = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
          const piece = chunk.subarray(start, nl);
          if (partialBytes + piece.length > MAX_LINE_BYTES) tooLong(file, line + 1);
          if (partial.length) { partial.push(piece); onLine(Buffer.concat(partial)); partial = []; partialBytes = 0; } else onLine(piece);
          start = nl + 1;
        }
        if (start < chunk.length) {
          partialBytes += chunk.length - start;
          if (partialBytes > MAX_LINE_BYTES) tooLong(file, line + 1);
          partial.push(Buffer.from(chunk.subarray(start)));
        }
        if (o.onProgress && Date.now() - lastProgress >= progressMs) {
          lastProgress = Date.now();
          o.onProgress({ file, bytes: fileBytes, lines: line });
        }
      }
      if (partial.length) onLine(Buffer.concat(partial));
    } finally {
      if (file !== STDIN) stream.destroy();
    }
  }
  if (sel.container !== undefined && stats.containers.size > 1) {
    const ids = [...stats.containers].sort();
    throw new LearnInputError(`--container ${sel.container} matches ${ids.length} containers (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}); give more of the id`);
  }
  return stats;
}

function tooLong(file: string, line: number): never {
  throw new LearnInputError(`${file === STDIN ? 'standard input' : file}:${line}: a line longer than ${MAX_LINE_BYTES} bytes; an audit log line is under 2 KB: is this sysward's audit log?`);
}

/** --since: an ISO 8601 time, or a duration back from now (30m, 24h, 7d). */
export function parseSince(text: string, now = Date.now()): string {
  const rel = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (rel) return new Date(now - Number(rel[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd']).toISOString();
  const t = isoTime(text);
  if (!t || !/^\d{4}-\d{2}-\d{2}/.test(text.trim())) throw new LearnInputError(`--since ${text}: give an ISO 8601 time (2026-12-01, 2026-12-01T08:00:00Z) or a duration back from now (30m, 24h, 7d)`);
  return t;
}
