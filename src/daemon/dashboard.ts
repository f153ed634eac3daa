// The daemon's local web dashboard: one page (no framework, no build step) that shows the guards in
// force with their counters, the last reload, the host's pressure (PSI) and audit events as they
// happen. Served on the daemon's metrics listener (loopback by default): GET / (page),
// /dashboard.js, /api/status (JSON), /api/events (Server-Sent Events). Under an event storm the
// stream is batched and thinned: the audit log and the metrics stay exact, the page says how many
// events it did not show.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Events kept for a page that connects later. */
const RECENT = 200;
/** Events sent per flush (every FLUSH_MS); the rest are counted as not shown. */
const BATCH = 200;
const FLUSH_MS = 250;
const KEEPALIVE_MS = 15_000;

export class EventFeed {
  readonly #recent: object[] = [];
  readonly #clients = new Set<ServerResponse>();
  #pending: object[] = [];
  #skipped = 0;
  #timer: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;

  get clients(): number { return this.#clients.size; }

  /** An audit event: kept among the recent ones, and sent to connected pages at the next flush. */
  push(event: object): void {
    this.#recent.push(event);
    if (this.#recent.length > RECENT) this.#recent.shift();
    if (this.#clients.size === 0) return;
    if (this.#pending.length < BATCH) this.#pending.push(event); else this.#skipped++;
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Send what is pending now (the timer calls this). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0 && this.#skipped === 0) return;
    let text = this.#pending.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');
    if (this.#skipped) text += `event: skipped\ndata: ${this.#skipped}\n\n`;
    this.#pending = [];
    this.#skipped = 0;
    for (const c of this.#clients) c.write(text);
  }

  /** GET /api/events: the recent events, then new ones as they come. */
  subscribe(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\n\n${this.#recent.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}`);
    this.#clients.add(res);
    this.#keepalive ??= setInterval(() => { for (const c of this.#clients) c.write(': keep-alive\n\n'); }, KEEPALIVE_MS);
    req.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) { clearInterval(this.#keepalive); this.#keepalive = undefined; }
    });
  }

  close(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#keepalive);
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** Serve the page and its script; false when the URL is not the dashboard's. */
export function serveDashboard(url: string, res: ServerResponse): boolean {
  if (url === '/' || url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
    res.end(PAGE);
    return true;
  }
  if (url === '/dashboard.js') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS });
    res.end(SCRIPT);
    return true;
  }
  return false;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sysward</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { background: #1d2430; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; margin-bottom: 16px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
  th { font-weight: 600; color: #5a6475; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
  .refused, .would-refuse { color: #b3261e; font-weight: 600; }
  .audited { color: #8a5a00; font-weight: 600; }
  .allowed { color: #2e7d32; }
  .bad { color: #b3261e; }
  .muted { color: #8a93a3; }
  input { font: inherit; padding: 3px 6px; width: 260px; }
</style>
</head>
<body>
<header><h1>sysward</h1><span id="health" class="muted">connecting…</span><span id="reload" class="muted"></span></header>
<main>
<section><h2>Guards in force</h2>
<table><thead><tr><th>guard</th><th>mode</th><th>cgroups</th><th>rules</th><th class="num">refused</th><th class="num">audited</th><th class="num">allowed</th><th class="num">events dropped</th></tr></thead>
<tbody id="guards"><tr><td colspan="8" class="muted">…</td></tr></tbody></table></section>
<section><h2>Host pressure <span class="muted">(PSI: share of time tasks stalled, averages over 10 s / 60 s / 300 s)</span></h2>
<table><thead><tr><th>resource</th><th class="num">some</th><th class="num">full</th></tr></thead>
<tbody id="pressure"><tr><td colspan="3" class="muted">…</td></tr></tbody></table></section>
<section><h2>Audit events <span id="stream" class="muted"></span></h2>
<p><input id="filter" placeholder="filter: key, comm, cgroup, verdict…" aria-label="filter events"> <span id="skipped" class="muted"></span></p>
<table><thead><tr><th>time</th><th>verdict</th><th>access</th><th>key</th><th>value written</th><th>process</th><th>cgroup</th><th>rule</th></tr></thead>
<tbody id="events"></tbody></table></section>
</main>
<script src="/dashboard.js"></script>
</body>
</html>
`;

// Plain browser JavaScript: text goes in with textContent only (event fields come from processes
// being guarded and must never be taken as HTML).
const SCRIPT = `'use strict';
const $ = (id) => document.getElementById(id);
const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; };
const row = (cells) => { const tr = document.createElement('tr'); for (const c of cells) tr.appendChild(c); return tr; };
const MAX_ROWS = 500;
let skipped = 0;

async function refresh() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    $('health').textContent = s.status === 'ok' ? 'protecting: ' + s.guards.length + ' guard(s)' : s.status;
    $('health').className = s.status === 'ok' ? '' : 'bad';
    const lr = s.lastReload;
    $('reload').textContent = lr ? 'last reload ' + lr.at + ' (' + lr.reason + ')' + (lr.report.errors.length ? ': ' + lr.report.errors.length + ' error(s), last good policies kept' : '') : '';
    $('reload').className = lr && lr.report.errors.length ? 'bad' : 'muted';
    const body = $('guards');
    body.replaceChildren(...(s.guards.length ? s.guards.map((g) => row([
      cell(g.name, 'mono'), cell(g.mode), cell(g.cgroups.join(', ') || '—', 'mono'), cell(String(g.rules)),
      cell(g.refused, 'num'), cell(g.audited, 'num'), cell(g.allowed, 'num'), cell(g.droppedEvents, 'num'),
    ])) : [row([cell('no guard in force', 'bad')])]));
    const avgs = (a) => a ? a.avg10.toFixed(2) + ' / ' + a.avg60.toFixed(2) + ' / ' + a.avg300.toFixed(2) + ' %' : '—';
    $('pressure').replaceChildren(...(s.pressure ? Object.entries(s.pressure).map(([res, p]) => row([cell(res), cell(avgs(p.some), 'num'), cell(avgs(p.full), 'num')]))
      : [row([cell('this kernel reports no pressure (CONFIG_PSI, psi=1)', 'muted')])]));
  } catch (e) {
    $('health').textContent = 'daemon unreachable (' + e.message + ')';
    $('health').className = 'bad';
  }
}

function matches(tr) {
  const f = $('filter').value.trim().toLowerCase();
  return !f || tr.textContent.toLowerCase().includes(f);
}

function addEvent(e) {
  const proc = e.comm + ' [' + e.tgid + '] uid ' + e.uid;
  const tr = row([
    cell(e.time.replace('T', ' ').replace('Z', ''), 'mono'), cell(e.verdict, e.verdict), cell(e.access),
    cell(e.key, 'mono'), cell(e.newValue === null ? '' : e.newValue, 'mono'), cell(proc, 'mono'),
    cell(e.cgroup || e.cgroupId, 'mono'), cell(e.rule.key + ' (' + e.guard + ')', 'mono'),
  ]);
  tr.hidden = !matches(tr);
  const body = $('events');
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
}

$('filter').addEventListener('input', () => { for (const tr of $('events').children) tr.hidden = !matches(tr); });
const source = new EventSource('/api/events');
source.onopen = () => { $('stream').textContent = '(live)'; };
source.onerror = () => { $('stream').textContent = '(reconnecting…)'; };
source.onmessage = (m) => addEvent(JSON.parse(m.data));
source.addEventListener('skipped', (m) => {
  skipped += Number(m.data);
  $('skipped').textContent = skipped + ' event(s) not shown here during bursts; the audit log has them all';
});
refresh();
setInterval(refresh, 2000);
`;
