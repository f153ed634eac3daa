// The daemon's loopback HTTP endpoints: the dashboard (/), Prometheus metrics (/metrics), health
// (/healthz), status and live events for the page and for scripts (/api/status, /api/events).
// GET and HEAD only (anything else: 405 with Allow); the query string is ignored; a Host header
// that is not one of the daemon's own names is refused (host-check.ts: DNS rebinding).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { serveDashboard } from './dashboard.js';
import type { EventFeed } from './event-feed.js';
import { HostCheck } from './host-check.js';

/** What the endpoints read from the daemon. */
export interface DaemonView {
  metrics: { registry: Registry };
  feed: EventFeed;
  /** /healthz: 200 when `ok`, else 503; the body says why. */
  health(): { ok: boolean; body: unknown };
  /** /api/status. */
  status(): unknown;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Host header names answered besides the daemon's own (HostCheck); '*': any. */
  allowHosts?: readonly string[];
}

const ENDPOINTS = 'sysward daemon: / (dashboard), /metrics (Prometheus), /healthz, /livez, /api/status, /api/events\n';

export async function serveDaemon(d: DaemonView, listen: ListenOptions, log: (line: string) => void): Promise<Server> {
  const hosts = new HostCheck(listen.host, listen.allowHosts);
  const server = createServer((req, res) => {
    const text = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
    };
    if (!hosts.allows(req.headers.host)) {
      text(403, `sysward daemon: Host ${JSON.stringify(req.headers.host)} is not one of this daemon's names (a DNS rebinding page would send one); reach it by address or localhost, or start it with --allow-host NAME\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(405, `sysward daemon: ${req.method} is not allowed; every endpoint is read-only (GET, HEAD)\n`, { allow: 'GET, HEAD' });
      return;
    }
    let path: string;
    try { path = new URL(req.url ?? '/', 'http://localhost').pathname; } catch { text(400, ENDPOINTS); return; }
    if (path === '/metrics') {
      d.metrics.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': d.metrics.registry.contentType });
        res.end(body);
      }, (e) => text(500, String(e)));
      return;
    }
    // Liveness: the daemon answers (its event loop runs). A restart mends neither a full disk nor
    // a scope cgroup not made yet, which /healthz reports: probes that restart use this one.
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ status: 'alive', pid: process.pid })}\n`);
      return;
    }
    if (path === '/healthz' || path === '/health') {
      let h: { ok: boolean; body: unknown };
      try { h = d.health(); } catch (e) { h = { ok: false, body: { status: 'error', error: (e as Error).message } }; }
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(h.body)}\n`);
      return;
    }
    if (path === '/api/status') {
      let body: string;
      try { body = JSON.stringify(d.status()); } catch (e) { text(500, `${(e as Error).message}\n`); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${body}\n`);
      return;
    }
    if (path === '/api/events') {
      if (req.method === 'HEAD') { res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }); res.end(); return; }
      d.feed.subscribe(req, res);
      return;
    }
    if (serveDashboard(path, res)) return;
    text(404, ENDPOINTS);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`cannot listen on ${listen.host}:${listen.port}: the address is in use (another sysward daemon?); pass --listen HOST:PORT`) : e));
    server.listen(listen.port, listen.host, resolve);
  });
  const base = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${(server.address() as { port: number }).port}`;
  log(`dashboard on ${base}/, metrics on ${base}/metrics, health on ${base}/healthz`);
  return server;
}
