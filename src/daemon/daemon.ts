// The long-running service: applies the configured policies, keeps them in force across reloads,
// restarts and crashes (guards are pinned; the daemon only adopts and replaces them), guards new
// containers as they appear, writes the audit log, serves metrics, health and a dashboard on loopback.
import { existsSync, statSync, watch, readdirSync, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { RingBufReader } from '../bpf/ringbuf.js';
import { FD } from '../bpf/sys/fd.js';
import { enableStats } from '../bpf/sys/bpf.js';
import { ensureBpffs } from '../bpf/pin.js';
import { probeProgramType } from '../bpf/features.js';
import { findCgroup2Mount } from '../cgroup/hierarchy.js';
import { cgroupNamer, classifyCgroup, CONTAINER_ROOTS } from '../cgroup/containers.js';
import type { Policy } from '../guard/model.js';
import {
  applyGuard, extendGuard, guardIsCurrent, guardMeta, guardsDir, listGuards, removeGuard,
} from '../guard/runtime/apply.js';
import { policyFromJson } from '../guard/model-json.js';
import { decodeEvent, eventGeneration } from '../guard/runtime/events.js';
import { AuditLog } from './audit-log.js';
import { readConfig, DEFAULT_CONFIG_DIR } from './config.js';
import { DaemonMetrics } from './metrics.js';
import { EventFeed, serveDashboard } from './dashboard.js';
import { guardStatus } from '../guard/runtime/status.js';
import { readSystemPressure, type PressureLine } from '../observe/psi.js';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9479 };
/**
 * The share of a core the event reader's work may take (CPU time of the process per batch, so GC
 * threads count): under the heaviest flood one writer makes, the daemon process then measures
 * about 0.42 of a core, under the target of half (docs/BENCHMARKS.md, section 5).
 */
export const DEFAULT_EVENTS_CPU_SHARE = 0.35;

export interface DaemonOptions {
  configDir?: string;
  listen?: { host: string; port: number } | null;
  eventsFile?: string;
  eventsMaxBytes?: number;
  eventsKeep?: number;
  /** Events as JSON lines on stdout too (journald, kubectl logs). */
  stdoutEvents?: boolean;
  /** Keep the kernel's BPF run-time statistics on while running. */
  bpfStats?: boolean;
  /**
   * Most of a core the event reader may use (DEFAULT_EVENTS_CPU_SHARE): under a flood of refused writes the
   * kernel then drops, and counts, what the reader cannot take, and the daemon stays light.
   */
  eventsCpuShare?: number;
  bpffs?: string;
  /** Re-read the config and rescan containers this often, in case a file event was missed. */
  pollMs?: number;
  log?: (line: string) => void;
}

/** The host cannot be guarded: named, with the fix (exit 1). */
export class HostNotSupportedError extends Error { override name = 'HostNotSupportedError'; }

export interface ReloadReport { applied: string[]; adopted: string[]; removed: string[]; errors: string[] }

/** GET /api/status. Counters are decimal strings (64-bit). */
export interface DaemonStatus {
  status: 'ok' | 'no guard in force';
  configDir: string;
  guards: {
    name: string; mode: string; cgroups: string[]; rules: number; appliedAt: string | null;
    refused: string; audited: string; allowed: string; droppedEvents: string; owner: string | null;
  }[];
  readers: string[];
  lastReload: { at: string; reason: string; report: ReloadReport } | null;
  events: { written: number; failed: number; dashboardClients: number };
  /** System-wide pressure (PSI averages, % of time stalled), or null when the kernel has none. */
  pressure: Record<string, { some: PressureAverages | null; full: PressureAverages | null }> | null;
}

export type PressureAverages = Pick<PressureLine, 'avg10' | 'avg60' | 'avg300'>;

export class Daemon {
  readonly metrics: DaemonMetrics;
  /** Recent and live events for the dashboard. */
  readonly feed = new EventFeed();
  audit: AuditLog;
  readonly configDir: string;
  #log: (line: string) => void;
  #mount = '';
  #readers = new Map<string, { reader: RingBufReader; handle: (rec: Buffer) => void }>();
  /** guard → generation → policy, to name the rule of events from a program being replaced. */
  #policies = new Map<string, Map<number, Policy>>();
  /** config file → guard name of its last good policy (a file that breaks keeps its guard). */
  #fileGuards = new Map<string, string>();
  #containerGuards: string[] = [];
  #server: Server | undefined;
  #watchers: FSWatcher[] = [];
  #timers: NodeJS.Timeout[] = [];
  #stats: FD | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #configStamp = '';
  #stopped = false;
  lastReload: { at: string; reason: string; report: ReloadReport } | undefined;

  constructor(readonly o: DaemonOptions = {}) {
    this.configDir = o.configDir ?? DEFAULT_CONFIG_DIR;
    this.#log = o.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} sysward daemon: ${l}\n`));
    this.metrics = new DaemonMetrics(o.bpffs);
    this.audit = new AuditLog({});
  }

  /** Refuse clearly where the host cannot be guarded. */
  static checkHost(bpffs?: string): string {
    if (process.getuid?.() !== 0) throw new HostNotSupportedError('sysward daemon must run as root: it loads eBPF programs, attaches them to cgroups and pins them (run it with sudo, or as deploy/systemd/sysward.service)');
    let mount: string;
    try { mount = findCgroup2Mount(); } catch (e) { throw new HostNotSupportedError((e as Error).message); }
    const prog = probeProgramType('CGROUP_SYSCTL');
    if (!prog.supported) throw new HostNotSupportedError(`this kernel cannot run cgroup-sysctl programs (${prog.reason}): it needs CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF (Linux 5.2+)`);
    try { ensureBpffs(bpffs); } catch (e) { throw new HostNotSupportedError(`bpffs is not available: ${(e as Error).message}`); }
    return mount;
  }

  async start(): Promise<void> {
    this.#mount = Daemon.checkHost(this.o.bpffs);
    const o = this.o;
    this.audit = new AuditLog({ ...(o.eventsFile ? { file: o.eventsFile } : {}), ...(o.eventsMaxBytes ? { maxBytes: o.eventsMaxBytes } : {}), ...(o.eventsKeep !== undefined ? { keep: o.eventsKeep } : {}), stdout: o.stdoutEvents ?? false });
    if (this.o.bpfStats) this.#stats = enableStats();
    this.reload('start');
    this.#watchConfig();
    this.#watchCgroups();
    const poll = this.o.pollMs ?? 2000;
    if (poll > 0) this.#timers.push(setInterval(() => this.#poll(), poll));
    if (this.o.listen !== null) await this.#serve(this.o.listen ?? DEFAULT_LISTEN);
    for (const sig of ['SIGHUP'] as const) process.on(sig, this.#onHup);
  }

  #onHup = () => { this.#log('SIGHUP: reloading'); this.reload('SIGHUP'); };

  /** Apply the config. A policy that fails leaves its guard as it was; nothing else is touched. */
  reload(reason: string): ReloadReport {
    const report: ReloadReport = { applied: [], adopted: [], removed: [], errors: [] };
    const cfg = readConfig(this.configDir, this.lastReload === undefined);
    this.#configStamp = this.#stamp();
    if (cfg.dirError) {
      report.errors.push(cfg.dirError);
      this.metrics.reloads.inc({ result: 'failure' });
      this.#log(`${cfg.dirError}; keeping the guards in force`);
      this.lastReload = { at: new Date().toISOString(), reason, report };
      return report;
    }
    const keep = new Set<string>();
    for (const f of cfg.errors) {
      report.errors.push(f.error!);
      this.metrics.reloads.inc({ result: 'failure' });
      this.#log(`rejected ${f.file}; its guard keeps the last good policy:\n${f.error}`);
      const previous = this.#fileGuards.get(f.file);
      if (previous) keep.add(previous);
    }
    for (const policy of cfg.policies.values()) {
      keep.add(policy.name);
      try {
        if (guardIsCurrent(policy, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount })) {
          report.adopted.push(policy.name);
          const meta = guardMeta(policy.name, this.o.bpffs);
          if (meta) this.#remember(policy.name, meta.generation, policy);
        } else {
          const r = applyGuard(policy, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount, owner: 'daemon' });
          this.#remember(policy.name, r.generation, policy);
          report.applied.push(policy.name);
          this.#log(`${r.replaced ? 'replaced' : 'applied'} guard ${policy.name} (${policy.rules.length} rules) on ${[...r.attached, ...r.updated].join(', ') || 'no cgroup yet'}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`);
        }
        if (policy.origin && !policy.origin.startsWith('profile:')) this.#fileGuards.set(policy.origin, policy.name);
        this.metrics.reloads.inc({ result: 'success' });
      } catch (e) {
        report.errors.push(`${policy.name}: ${(e as Error).message}`);
        this.metrics.reloads.inc({ result: 'failure' });
        this.#log(`could not apply guard ${policy.name}; the one in force stays: ${(e as Error).message}`);
      }
    }
    // Guards this daemon applied that the config no longer names go; others' guards stay.
    for (const name of listGuards(this.o.bpffs)) {
      if (keep.has(name) || guardMeta(name, this.o.bpffs)?.owner !== 'daemon') continue;
      this.#stopReader(name);
      removeGuard(name, this.o.bpffs);
      report.removed.push(name);
      this.#log(`removed guard ${name}: no longer in ${this.configDir}`);
    }
    this.#containerGuards = [...cfg.policies.values()].filter((p) => p.scope.containers).map((p) => p.name);
    for (const name of keep) if (listGuards(this.o.bpffs).includes(name)) this.#startReader(name);
    this.lastReload = { at: new Date().toISOString(), reason, report };
    return report;
  }

  #remember(name: string, generation: number, policy: Policy): void {
    let m = this.#policies.get(name);
    if (!m) { m = new Map(); this.#policies.set(name, m); }
    m.set(generation, policy);
    while (m.size > 8) m.delete(m.keys().next().value!);
  }

  #startReader(name: string): void {
    if (this.#readers.has(name)) return;
    const reader = new RingBufReader(join(guardsDir(this.o.bpffs), name, 'events'));
    const cgroupName = cgroupNamer(this.#mount);
    const handle = (rec: Buffer) => {
      const gens = this.#policies.get(name);
      const policy = gens?.get(eventGeneration(rec)) ?? [...(gens?.values() ?? [])].at(-1) ?? policyOf(name, this.o.bpffs);
      const e = decodeEvent(rec, policy, cgroupName);
      this.metrics.event(e);
      this.feed.push(e);
      this.#logged(() => this.audit.write(e));
    };
    this.#readers.set(name, { reader, handle });
    // Events reach the log once per batch read (one write instead of one per event).
    reader.consume(handle, { maxCpuShare: this.o.eventsCpuShare ?? DEFAULT_EVENTS_CPU_SHARE, onBatch: () => this.#logged(() => this.audit.flush()) }).catch((err) => this.#log(`event reader of ${name} stopped: ${(err as Error).message}`));
  }

  /** Run a write or flush of the audit log, counting lines it could not write in the metrics. */
  #logged(f: () => void): void {
    const before = this.audit.failed;
    f();
    if (this.audit.failed > before) this.metrics.logFailures.inc(this.audit.failed - before);
  }

  #stopReader(name: string): void {
    const r = this.#readers.get(name);
    if (r) { r.reader.drain(r.handle); this.#logged(() => this.audit.flush()); void r.reader.close(); this.#readers.delete(name); }
  }

  #stamp(): string {
    try {
      return readdirSync(this.configDir).filter((f) => /\.ya?ml$/.test(f)).sort()
        .map((f) => { const s = statSync(join(this.configDir, f)); return `${f}:${s.mtimeMs}:${s.size}`; }).join('|');
    } catch (e) { return `error:${(e as NodeJS.ErrnoException).code}`; }
  }

  #scheduleReload(reason: string): void {
    clearTimeout(this.#reloadTimer);
    this.#reloadTimer = setTimeout(() => { if (!this.#stopped) this.reload(reason); }, 100);
  }

  #watchConfig(): void {
    try {
      const w = watch(this.configDir, () => this.#scheduleReload('config change'));
      w.on('error', () => { /* the directory went away: the poll notices when it is back */ });
      this.#watchers.push(w);
    } catch { /* missing now: polled */ }
  }

  #poll(): void {
    if (this.#stamp() !== this.#configStamp) this.#scheduleReload('config change (poll)');
    this.#scanContainers();
  }

  /**
   * New container cgroups: one inotify watch per cgroup directory that may hold containers (not
   * inside containers), so a new one is seen within the inotify round trip (measured in
   * docs/daemon.md); new slices get their own watch. The poll is the safety net.
   */
  #watchCgroups(): void {
    const watched = new Set<string>();
    const watchDir = (rel: string) => {
      if (watched.has(rel) || CONTAINER_ROOTS.includes(rel)) return;
      let w: FSWatcher;
      try {
        w = watch(join(this.#mount, rel), (type, name) => {
          if (type !== 'rename' || !name || name.includes('.') && !/\.(scope|slice|service)$/.test(name)) return;
          const seen = process.hrtime.bigint();
          const path = `${rel === '/' ? '' : rel}/${name}`;
          if (!existsSync(join(this.#mount, path))) { watched.delete(path); return; }
          if (classifyCgroup(path)) { if (this.#containerGuards.length) this.#guardContainer(path, seen); } else watchDir(path);
        });
      } catch { return; }
      w.on('error', () => { watched.delete(rel); });
      watched.add(rel);
      this.#watchers.push(w);
    };
    const walk = (rel: string, depth: number) => {
      watchDir(rel);
      if (depth >= 4) return;
      let entries;
      try { entries = readdirSync(join(this.#mount, rel), { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const p = `${rel === '/' ? '' : rel}/${e.name}`;
        if (!classifyCgroup(p) && !CONTAINER_ROOTS.includes(p)) walk(p, depth + 1);
      }
    };
    walk('/', 0);
  }

  #scanContainers(): void {
    if (!this.#containerGuards.length) return;
    const roots = CONTAINER_ROOTS;
    const walk = (dir: string, rel: string, depth: number) => {
      if (depth > 6) return;
      let entries;
      try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const p = `${rel}/${e.name}`;
        if (roots.includes(p)) continue; // covered by the root's own attachment
        if (classifyCgroup(p)) this.#guardContainer(p, process.hrtime.bigint());
        else walk(join(dir, e.name), p, depth + 1);
      }
    };
    walk(this.#mount, '', 0);
  }

  #guardContainer(path: string, seen: bigint): void {
    if (CONTAINER_ROOTS.some((r) => path.startsWith(`${r}/`))) return; // inherited from the root
    for (const name of this.#containerGuards) {
      try {
        if (extendGuard(name, path, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount })) {
          this.metrics.containersGuarded.inc();
          this.metrics.attachDelay.observe(Number(process.hrtime.bigint() - seen) / 1e9);
          this.#log(`guarded new container ${path} with ${name}`);
        }
      } catch (e) {
        if (existsSync(join(this.#mount, path))) this.#log(`could not guard new container ${path} with ${name}: ${(e as Error).message}`);
      }
    }
  }

  async #serve(listen: { host: string; port: number }): Promise<void> {
    this.#server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
          res.end(text);
        }, (e) => { res.writeHead(500); res.end(String(e)); });
        return;
      }
      if (req.url === '/healthz' || req.url === '/health') {
        const guards = listGuards(this.o.bpffs);
        const ok = guards.length > 0 && !this.#stopped;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ status: ok ? 'ok' : 'no guard in force', guards, readers: [...this.#readers.keys()], lastReload: this.lastReload, events: { written: this.audit.written, failed: this.audit.failed } })}\n`);
        return;
      }
      if (req.url === '/api/status') {
        let body: string;
        try { body = JSON.stringify(this.status()); } catch (e) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`${(e as Error).message}\n`); return; }
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${body}\n`);
        return;
      }
      if (req.url === '/api/events') { this.feed.subscribe(req, res); return; }
      if (req.method === 'GET' && serveDashboard(req.url ?? '', res)) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('sysward daemon: / (dashboard), /metrics (Prometheus), /healthz, /api/status, /api/events\n');
    });
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`cannot listen on ${listen.host}:${listen.port}: the address is in use (another sysward daemon?); pass --listen HOST:PORT`) : e));
      this.#server!.listen(listen.port, listen.host, resolve);
    });
    const base = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${(this.#server.address() as { port: number }).port}`;
    this.#log(`dashboard on ${base}/, metrics on ${base}/metrics, health on ${base}/healthz`);
  }

  /** What the dashboard shows: the guards in force with their counters, the last reload, the event log. */
  status(): DaemonStatus {
    const guards = listGuards(this.o.bpffs).map((name) => {
      const g = guardStatus(name, this.o.bpffs);
      const total = (k: 'allowed' | 'refused' | 'audited') => g.counters.reduce((t, c) => t + c[k], 0n).toString();
      return {
        name, mode: g.policy?.mode ?? 'unknown', cgroups: g.cgroups.map((c) => c.path), rules: g.policy?.rules.length ?? 0,
        appliedAt: g.appliedAt ?? null, refused: total('refused'), audited: total('audited'), allowed: total('allowed'),
        droppedEvents: g.droppedEvents.toString(), owner: g.owner ?? null,
      };
    });
    return {
      status: guards.length > 0 && !this.#stopped ? 'ok' : 'no guard in force', configDir: this.configDir, guards,
      readers: [...this.#readers.keys()], lastReload: this.lastReload ?? null,
      events: { written: this.audit.written, failed: this.audit.failed, dashboardClients: this.feed.clients },
      pressure: systemPressure(),
    };
  }

  /** The port actually listened on (for --listen 127.0.0.1:0). */
  get port(): number | undefined { const a = this.#server?.address(); return a && typeof a === 'object' ? a.port : undefined; }

  /** Stop serving and reading; every guard stays pinned and enforcing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    process.off('SIGHUP', this.#onHup);
    clearTimeout(this.#reloadTimer);
    for (const t of this.#timers) clearInterval(t);
    for (const w of this.#watchers) w.close();
    // Drain what is queued before leaving, so stopping loses no event that had arrived.
    await Promise.all([...this.#readers.values()].map(async (r) => { r.reader.drain(r.handle); await r.reader.close(); }));
    this.#readers.clear();
    this.#logged(() => this.audit.flush());
    this.feed.flush();
    this.feed.close();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    this.#stats?.close();
    this.audit.close();
  }

  /** `sysward daemon --teardown`: remove every guard the daemon applied. */
  static teardown(bpffs?: string): string[] {
    const removed: string[] = [];
    for (const name of listGuards(bpffs)) {
      if (guardMeta(name, bpffs)?.owner !== 'daemon') continue;
      removeGuard(name, bpffs);
      removed.push(name);
    }
    return removed;
  }
}

function systemPressure(): DaemonStatus['pressure'] {
  let set;
  try { set = readSystemPressure(); } catch { return null; }
  const avg = (l: PressureLine | null): PressureAverages | null => (l ? { avg10: l.avg10, avg60: l.avg60, avg300: l.avg300 } : null);
  return Object.fromEntries(Object.entries(set).map(([res, p]) => [res, { some: avg(p.some), full: avg(p.full) }]));
}

function policyOf(name: string, bpffs?: string): Pick<Policy, 'name' | 'rules'> {
  const meta = guardMeta(name, bpffs);
  return meta ? policyFromJson(meta.policy) : { name, rules: [] };
}
