// The dashboard's pieces without a kernel: the event stream's batching under a burst, its ids (a
// reconnect resumes, a restarted daemon resets), a client that never reads dropped at its cap, the
// HTTP rules (methods, Host, query strings), and the page served with a content security policy
// and a script that never takes event text as HTML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { Script } from 'node:vm';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { serveDashboard } from '../../src/daemon/dashboard.js';
import { EventFeed } from '../../src/daemon/event-feed.js';
import { serveDaemon } from '../../src/daemon/http.js';
import { lastLines } from '../../src/daemon/audit-tail.js';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** Read an SSE stream until `done(messages)` says so. */
type Msg = { event: string; data: string; id?: string };
function readStream(url: string, done: (msgs: Msg[]) => boolean, headers: Record<string, string> = {}): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      let buf = '';
      const msgs: Msg[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          const event = block.split('\n').find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
          const id = block.split('\n').find((l) => l.startsWith('id: '))?.slice(4);
          if (data) msgs.push({ event, data, ...(id ? { id } : {}) });
        }
        if (done(msgs)) { req.destroy(); resolve(msgs); }
      });
    });
    req.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e); });
  });
}

test('event feed: recent events first, then batches; a burst past a batch is counted, not sent', async () => {
  const feed = new EventFeed();
  for (let i = 0; i < 3; i++) feed.push({ n: i });
  const { server, url } = await serve((req, res) => feed.subscribe(req, res));
  try {
    let connected = false;
    const got = readStream(url, (msgs) => {
      if (!connected && msgs.length >= 3) {
        connected = true;
        for (let i = 3; i < 253; i++) feed.push({ n: i });
        feed.flush();
      }
      return msgs.some((m) => m.event === 'skipped');
    });
    const msgs = await got;
    assert.equal(msgs[0]!.event, 'reset', 'a page with no id starts from the history');
    const events = msgs.filter((m) => m.event === 'message').map((m) => (JSON.parse(m.data) as { n: number }).n);
    assert.deepEqual(events, Array.from({ length: 203 }, (_, i) => i), 'the 3 recent, then a batch of 200');
    assert.equal(msgs.find((m) => m.event === 'skipped')!.data, '50');
  } finally {
    feed.close();
    server.close();
  }
});

test('the page and its script: security headers, and event text only ever set as text', async () => {
  const { server, url } = await serve((req, res) => { if (!serveDashboard(req.url ?? '', res)) { res.writeHead(404); res.end(); } });
  try {
    const fetchText = async (path: string) => { const r = await fetch(url + path); return { r, text: await r.text() }; };
    const page = await fetchText('/');
    assert.match(page.r.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.equal(page.r.status, 200);
    assert.match(page.r.headers.get('content-security-policy')!, /default-src 'none'/);
    assert.match(page.text, /<title>sysward<\/title>/);
    assert.match(page.text, /<script src="\/dashboard.js"><\/script>/);
    const script = await fetchText('/dashboard.js');
    assert.match(script.r.headers.get('content-type')!, /text\/javascript/);
    assert.doesNotMatch(script.text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    assert.match(script.text, /new EventSource\('\/api\/events'\)/);
    assert.doesNotThrow(() => new Script(script.text, { filename: 'dashboard.js' }), 'the script parses');
    assert.equal((await fetch(`${url}/nothing`)).status, 404);
  } finally { server.close(); }
});

test('event feed: a page that reconnects with its last id gets only what came after; an id from another run resets', async () => {
  const feed = new EventFeed();
  for (let i = 0; i < 5; i++) feed.push({ n: i });
  const { server, url } = await serve((req, res) => feed.subscribe(req, res));
  try {
    const first = await readStream(url, (m) => m.filter((x) => x.event === 'message').length >= 5);
    const ids = first.filter((m) => m.event === 'message').map((m) => m.id!);
    assert.equal(new Set(ids).size, 5, 'every event has its own id');
    assert.ok(ids.every((id) => id.startsWith(`${feed.epoch}.`)));
    for (let i = 5; i < 8; i++) feed.push({ n: i });
    // What EventSource does after a drop: Last-Event-ID is the last id it saw.
    const again = await readStream(url, (m) => m.filter((x) => x.event === 'message').length >= 3, { 'last-event-id': ids[4]! });
    assert.deepEqual(again.map((m) => m.event === 'message' ? (JSON.parse(m.data) as { n: number }).n : m.event), [5, 6, 7], 'no reset, nothing sent twice');
    const other = await readStream(url, (m) => m.filter((x) => x.event === 'message').length >= 8, { 'last-event-id': `zzz.${ids[4]!.split('.')[1]}` });
    assert.equal(other[0]!.event, 'reset', 'an id from another daemon run starts over');
    assert.equal(other.filter((m) => m.event === 'message').length, 8);
  } finally { feed.close(); server.close(); }
});

test('event feed: history from the audit log (its last lines, across a rotation) comes first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-tail-'));
  try {
    const file = join(dir, 'audit.jsonl');
    writeFileSync(`${file}.1`, ['{"n":1}', '{"n":2}', '{"n":3}'].join('\n') + '\n');
    writeFileSync(file, `{"n":4}\nnot json\n{"n":5}\n{"n":6, "partial`);
    assert.deepEqual(lastLines(file, 4), ['{"n":3}', '{"n":4}', 'not json', '{"n":5}']);
    assert.deepEqual(lastLines(file, 2), ['not json', '{"n":5}']);
    assert.deepEqual(lastLines(join(dir, 'none.jsonl'), 5), []);
    const feed = new EventFeed();
    feed.seed(lastLines(file, 10));
    feed.push({ n: 7 });
    assert.equal(feed.stats().dashboardClients, 0);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** A daemon's HTTP endpoints over a real feed and registry (what the daemon passes serveDaemon). */
async function endpoints(feed: EventFeed, allowHosts?: string[], healthy = true) {
  const registry = new Registry();
  const server = await serveDaemon({
    metrics: { registry }, feed, health: () => (healthy ? { ok: true, body: { status: 'ok' } } : { ok: false, body: { status: 'failing', events: { problem: 'the audit log cannot be written (ENOSPC)' } } }), status: () => ({ events: feed.stats() }),
  }, { host: '127.0.0.1', port: 0, ...(allowHosts ? { allowHosts } : {}) }, () => {});
  return { server, port: (server.address() as { port: number }).port };
}

/** One raw HTTP/1.1 request; the status line and headers of the answer. */
function raw(port: number, request: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(request));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => { text += c; });
    s.on('end', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), head, body });
    });
    s.on('error', reject);
  });
}

test('http: GET and HEAD only (405 with Allow), query strings ignored, Host names checked (DNS rebinding)', async () => {
  const feed = new EventFeed();
  const { server, port } = await endpoints(feed);
  try {
    const req = (method: string, path: string, host = `127.0.0.1:${port}`) => raw(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    for (const path of ['/', '/?x=1', '/index.html?a=b#c', '/api/status', '/metrics', '/healthz', '/livez', '/dashboard.js?v=2']) {
      assert.equal((await req('GET', path)).status, 200, `GET ${path}`);
      const head = await req('HEAD', path);
      assert.equal(head.status, 200, `HEAD ${path}`);
      assert.equal(head.body, '', `HEAD ${path} has no body`);
    }
    assert.match((await req('HEAD', '/api/events')).head, /text\/event-stream/);
    assert.equal(feed.clients, 0, 'HEAD does not subscribe');
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      for (const path of ['/', '/api/status', '/api/events', '/metrics', '/nothing']) {
        const r = await req(method, path);
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.match(r.head, /\r\nallow: GET, HEAD\r\n/i);
      }
    }
    assert.equal((await req('GET', '/nothing')).status, 404);
    for (const host of ['localhost', `localhost:${port}`, 'app.localhost', '127.0.0.1', `[::1]:${port}`, '10.1.2.3:9479']) assert.equal((await req('GET', '/api/status', host)).status, 200, `Host: ${host}`);
    for (const host of ['attacker.example', `rebind.attacker.example:${port}`, 'localhost.attacker.example', '127.0.0.1.nip.io']) {
      const r = await req('GET', '/api/status', host);
      assert.equal(r.status, 403, `Host: ${host}`);
      assert.match(r.body, /--allow-host/);
      assert.equal((await req('GET', '/api/events', host)).status, 403);
    }
  } finally { feed.close(); server.close(); }
  const named = await endpoints(new EventFeed(), ['sysward.internal']);
  try {
    assert.equal((await raw(named.port, 'GET / HTTP/1.1\r\nHost: sysward.internal:9479\r\nConnection: close\r\n\r\n')).status, 200, 'a name the operator allows');
    assert.equal((await raw(named.port, 'GET / HTTP/1.1\r\nHost: other.internal\r\nConnection: close\r\n\r\n')).status, 403);
  } finally { named.server.close(); }
});

test('http: a client that never reads its event stream is dropped at its cap; a reading one is not', async () => {
  const feed = new EventFeed();
  const { server, port } = await endpoints(feed);
  const stats = async () => ((await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { events: ReturnType<EventFeed['stats']> }).events;
  // The slow client: subscribes, then never reads (paused: the kernel's socket buffers fill, then the daemon's).
  const slow = connect(port, '127.0.0.1');
  slow.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  slow.pause();
  slow.on('error', () => {});
  let received = 0;
  const reader = get({ port, host: '127.0.0.1', path: '/api/events' }, (res) => res.on('data', (c: Buffer) => { received += c.length; }));
  reader.on('error', () => {});
  try {
    while (feed.clients < 2) await new Promise((r) => setTimeout(r, 10));
    const big = 'x'.repeat(20_000);
    let sent = 0;
    // Flood: 200 events of 20 kB a flush (of which the feed sends 256 KiB), until the slow client is dropped (a bound, not a time).
    for (let round = 0; round < 200 && (await stats()).dashboardClientsDropped === 0; round++) {
      for (let i = 0; i < 200; i++) feed.push({ n: sent++, value: big });
      feed.flush();
      await new Promise((r) => setImmediate(r));
    }
    const s = await stats();
    assert.equal(s.dashboardClientsDropped, 1, `the slow client was dropped (after ${sent} events)`);
    assert.ok(s.dashboardMaxQueuedBytes <= s.dashboardMaxClientBytes, `queued for one client ${s.dashboardMaxQueuedBytes} <= cap ${s.dashboardMaxClientBytes}`);
    assert.equal(s.dashboardClients, 1, 'the reading client stays');
    assert.ok(received > 0);
  } finally { slow.destroy(); reader.destroy(); feed.close(); server.close(); }
});

test('http: /healthz says 503 when a guard or the log fails; /livez stays 200 (a restart would mend neither)', async () => {
  const { server, port } = await endpoints(new EventFeed(), undefined, false);
  try {
    const get = (path: string) => raw(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    const h = await get('/healthz');
    assert.equal(h.status, 503);
    assert.match(h.body, /ENOSPC/);
    const l = await get('/livez');
    assert.equal(l.status, 200);
    assert.match(l.body, /"status":"alive"/);
  } finally { server.close(); }
});
