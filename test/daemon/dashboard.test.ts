// The dashboard's pieces without a kernel: the event stream's batching under a burst, and the page
// served with a content security policy and a script that never takes event text as HTML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { Script } from 'node:vm';
import { EventFeed, serveDashboard } from '../../src/daemon/dashboard.js';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** Read an SSE stream until `done(messages)` says so. */
function readStream(url: string, done: (msgs: { event: string; data: string }[]) => boolean): Promise<{ event: string; data: string }[]> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      let buf = '';
      const msgs: { event: string; data: string }[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          const event = block.split('\n').find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
          if (data) msgs.push({ event, data });
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
    assert.equal(page.r.status, 200);
    assert.match(page.r.headers.get('content-security-policy')!, /default-src 'self'/);
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
