// The dashboard's event stream (GET /api/events, Server-Sent Events): audit events and summary
// lines as they happen, after the recent ones (seeded at start from the audit log, so a page opened
// later has history). Every message carries an id, EPOCH.SEQ: a page that reconnects (a dropped
// tunnel, a proxy) sends the last id it saw (Last-Event-ID) and gets only what came after; one
// from another run of the daemon gets `event: reset` and the recent ones again, and starts over,
// so no row is shown twice. Under an event storm the stream is batched and thinned (the audit log
// and the metrics stay exact; the page says how many it did not show). A client that does not read
// is dropped once its unsent bytes pass maxClientBytes: the daemon's memory stays bounded.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Events and summaries kept for a page that connects later, by count and by bytes of JSON. */
export const RECENT = 500;
export const RECENT_BYTES = 1 << 20;
/** Events, and bytes of them, sent per flush (every FLUSH_MS); the rest are counted as not shown. */
const BATCH = 200;
const BATCH_BYTES = 256 << 10;
const FLUSH_MS = 250;
const KEEPALIVE_MS = 15_000;
/** Unsent bytes a client may have queued in the daemon before it is dropped. */
export const MAX_CLIENT_BYTES = 4 << 20;

export interface FeedOptions {
  recent?: number;
  maxClientBytes?: number;
}

/** What /api/status reports of the stream's clients. */
export interface FeedStats {
  /** Pages connected now. */
  dashboardClients: number;
  /** Clients dropped because they did not read (their unsent bytes passed the cap). */
  dashboardClientsDropped: number;
  /** The most unsent bytes one client has had queued in the daemon (never above the cap). */
  dashboardMaxQueuedBytes: number;
  dashboardMaxClientBytes: number;
}

interface Entry { seq: number; json: string }

export class EventFeed {
  /** Changes with every run of the daemon: an id from another run cannot be resumed. */
  readonly epoch = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  readonly #recentMax: number;
  readonly #maxClientBytes: number;
  #recent: Entry[] = [];
  #recentBytes = 0;
  #seq = 0;
  readonly #clients = new Set<ServerResponse>();
  #pending: Entry[] = [];
  #pendingBytes = 0;
  #skipped = 0;
  #dropped = 0;
  #maxQueued = 0;
  #timer: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(o: FeedOptions = {}) {
    this.#recentMax = o.recent ?? RECENT;
    this.#maxClientBytes = o.maxClientBytes ?? MAX_CLIENT_BYTES;
  }

  get clients(): number { return this.#clients.size; }

  stats(): FeedStats {
    let queued = this.#maxQueued;
    for (const c of this.#clients) queued = Math.max(queued, c.writableLength);
    return { dashboardClients: this.#clients.size, dashboardClientsDropped: this.#dropped, dashboardMaxQueuedBytes: queued, dashboardMaxClientBytes: this.#maxClientBytes };
  }

  /** History: audit log lines (JSON) from before this run, oldest first; lines that are not JSON objects are skipped. */
  seed(lines: string[]): void {
    for (const l of lines) {
      try { if (typeof JSON.parse(l) !== 'object') continue; } catch { continue; }
      this.#keep({ seq: ++this.#seq, json: l });
    }
  }

  #keep(e: Entry): void {
    this.#recent.push(e);
    this.#recentBytes += e.json.length;
    while (this.#recent.length > this.#recentMax || (this.#recentBytes > RECENT_BYTES && this.#recent.length > 1)) this.#recentBytes -= this.#recent.shift()!.json.length;
  }

  /**
   * An audit event or summary: kept among the recent ones, and sent to connected pages at the next
   * flush. `json`: the event as the audit log writes it, when the caller has it already.
   */
  push(event: object, json: string = JSON.stringify(event)): void {
    const e = { seq: ++this.#seq, json };
    this.#keep(e);
    if (this.#clients.size === 0) return;
    if (this.#pending.length < BATCH && this.#pendingBytes + e.json.length <= BATCH_BYTES) {
      this.#pending.push(e);
      this.#pendingBytes += e.json.length;
    } else this.#skipped++;
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  #message(e: Entry): string { return `id: ${this.epoch}.${e.seq}\ndata: ${e.json}\n\n`; }

  /** Send what is pending now (the timer calls this). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0 && this.#skipped === 0) return;
    let text = this.#pending.map((e) => this.#message(e)).join('');
    if (this.#skipped) text += `event: skipped\ndata: ${this.#skipped}\n\n`;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipped = 0;
    for (const c of this.#clients) this.#write(c, text);
  }

  /** Write to one client, or drop it when what it has not read would pass the cap. */
  #write(c: ServerResponse, text: string): void {
    if (c.writableLength + Buffer.byteLength(text) > this.#maxClientBytes) {
      this.#dropped++;
      this.#remove(c);
      c.destroy();
      return;
    }
    c.write(text);
    this.#maxQueued = Math.max(this.#maxQueued, c.writableLength);
  }

  #remove(c: ServerResponse): void {
    this.#clients.delete(c);
    if (this.#clients.size === 0) { clearInterval(this.#keepalive); this.#keepalive = undefined; }
  }

  /** GET /api/events: what the page has not seen of the recent events, then new ones as they come. */
  subscribe(req: IncomingMessage, res: ServerResponse, lastEventId?: string | null): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const last = lastEventId ?? req.headers['last-event-id'];
    const m = typeof last === 'string' ? /^([0-9a-z]+)\.(\d+)$/.exec(last) : null;
    const after = m && m[1] === this.epoch ? Number(m[2]) : undefined;
    // Resumable only while what came after it is still kept; else the page starts over.
    const resume = after !== undefined && after <= this.#seq && (this.#recent.length === 0 || after >= this.#recent[0]!.seq - 1);
    const backlog = resume ? this.#recent.filter((e) => e.seq > after) : this.#recent;
    // Pending entries are also in #recent: this client gets them now, not again at the flush.
    const pending = new Set(this.#pending);
    let text = `retry: 1000\n\n${resume ? '' : 'event: reset\ndata: history\n\n'}`;
    for (const e of backlog) if (!pending.has(e)) text += this.#message(e);
    this.#clients.add(res);
    this.#write(res, text);
    this.#keepalive ??= setInterval(() => { for (const c of this.#clients) this.#write(c, ': keep-alive\n\n'); }, KEEPALIVE_MS);
    req.on('close', () => this.#remove(res));
  }

  close(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }
}
