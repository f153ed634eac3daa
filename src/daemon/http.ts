// The daemon's loopback HTTP endpoints: the dashboard (/), Prometheus metrics (/metrics), health
// (/healthz), status and live events for the page and for scripts (/api/status, /api/events).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { serveDashboard, type EventFeed } from './dashboard.js';

/** What the endpoints read from the daemon. */
export interface DaemonView {
  metrics: { registry: Registry };
  feed: EventFeed;
  /** /healthz: 200 when `ok`, else 503; the body says why. */
  health(): { ok: boolean; body: unknown };
  /** /api/status. */
  status(): unknown;
}

export async function serveDaemon(d: DaemonView, listen: { host: string; port: number }, log: (line: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      d.metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': d.metrics.registry.contentType });
        res.end(text);
      }, (e) => { res.writeHead(500); res.end(String(e)); });
      return;
    }
    if (req.url === '/healthz' || req.url === '/health') {
      let h: { ok: boolean; body: unknown };
      try { h = d.health(); } catch (e) { h = { ok: false, body: { status: 'error', error: (e as Error).message } }; }
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(h.body)}\n`);
      return;
    }
    if (req.url === '/api/status') {
      let body: string;
      try { body = JSON.stringify(d.status()); } catch (e) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`${(e as Error).message}\n`); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${body}\n`);
      return;
    }
    if (req.url === '/api/events') { d.feed.subscribe(req, res); return; }
    if (req.method === 'GET' && serveDashboard(req.url ?? '', res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('sysward daemon: / (dashboard), /metrics (Prometheus), /healthz, /api/status, /api/events\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`cannot listen on ${listen.host}:${listen.port}: the address is in use (another sysward daemon?); pass --listen HOST:PORT`) : e));
    server.listen(listen.port, listen.host, resolve);
  });
  const base = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${(server.address() as { port: number }).port}`;
  log(`dashboard on ${base}/, metrics on ${base}/metrics, health on ${base}/healthz`);
  return server;
}
