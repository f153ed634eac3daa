// The long-running service, as a control loop: the desired state (the configured guards' last good
// policies) is compared with the kernel on every config, cgroup and pin change and on a timer, and
// what differs is put back (docs/daemon.md, "Reconciling"). Around the loop, each in its own file:
// reading the config (config.ts, config-reader.ts), the saved desired state (desired.ts), cgroup
// watching (cgroup-watch.ts), the audit log (audit-log.ts), metrics (metrics.ts) and the loopback
// HTTP endpoints (http.ts, dashboard.ts).
import { existsSync, statSync, watch, readdirSync, type FSWatcher } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { FD } from '../bpf/sys/fd.js';
import { enableStats } from '../bpf/sys/bpf.js';
import { ensureBpffs } from '../bpf/pin.js';
import { probeProgramType } from '../bpf/features.js';
import { cgroupId, cgroupIdIndex, findCgroup2Mount } from '../cgroup/hierarchy.js';
import { cgroupNamer, classifyCgroup, CONTAINER_ROOTS, type CgroupNamer } from '../cgroup/containers.js';
import { CgroupWatcher, scanContainers } from './cgroup-watch.js';
import type { Policy } from '../guard/model.js';
import {
  bindGuardCgroup, extendGuard, guardMeta, guardsDir, listGuards, reconcileGuard, removeGuard, waitingNote,
} from '../guard/runtime/apply.js';
import { namespaceSupport } from '../guard/runtime/namespaces.js';
import type { BindResult } from '../guard/runtime/bindings.js';
import { policyFromJson } from '../guard/model-json.js';
import { HeldGuard } from '../guard/runtime/held.js';
import type { Meta } from '../guard/runtime/status.js';
import { guardPins } from '../guard/runtime/layout.js';
import { withGuardLock } from '../guard/runtime/lock.js';
import { eventJson, type GuardEvent } from '../guard/runtime/events.js';
import { GuardEventStream } from '../guard/runtime/event-stream.js';
import { AuditLog } from './audit-log.js';
import { announce, readersOf, withdraw } from './announce.js';
import { noLooserThan } from '../guard/no-looser.js';
import { DEFAULT_BPFFS } from '../bpf/pin.js';
import { DEFAULT_CONFIG_DIR, type Config } from './config.js';
import { readConfigOffThread } from './config-reader.js';
import { loadDesired, saveDesired, sameDesired, type DesiredGuard } from './desired.js';
import { DaemonMetrics } from './metrics.js';
import { EventFeed, RECENT, type FeedStats } from './event-feed.js';
import { lastLines } from './audit-tail.js';
import { serveDaemon, type ListenOptions } from './http.js';
import { guardStatus } from '../guard/runtime/status.js';
import { readSystemPressure, type PressureLine } from '../observe/psi.js';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9479 };
/**
 * The share of a core the event reader's work may take (CPU time of the process per batch, so GC
 * threads count): under the heaviest flood one writer makes, the daemon process then measures
 * about 0.42 of a core, under the target of half (docs/BENCHMARKS.md, section 5).
 */
export const DEFAULT_EVENTS_CPU_SHARE = 0.35;
/**
 * How often the daemon compares what it should enforce with what the kernel has, and re-reads the
 * config, when no file or cgroup event told it to sooner: the longest a change that raised no
 * event (a link detached by another tool, a cgroup made where no watch sees it) stays unrepaired.
 */
/** How often the daemon writes summary lines (DaemonOptions.summaryMs). */
export const DEFAULT_SUMMARY_MS = 10_000;
export const DEFAULT_POLL_MS = 1000;
/** Guards no longer configured go only after the config has been unchanged this long. */
export const DEFAULT_SETTLE_MS = 10_000;
/** How long a reconcile pass waits for another writer's lock before trying again at the next. */
const DAEMON_LOCK_WAIT_MS = 50;
/**
 * How long a reader waits for a `sysward events` process that reads the same ring buffer to hand it
 * over (it looks every 100 ms); past it the daemon reads anyway and says so.
 */
const HANDOVER_WAIT_MS = 3000;

/** A guard's event reader; `waiting` while a `sysward events` process hands its ring buffer over. */
interface Reader { stream: GuardEventStream; handle: (e: GuardEvent) => void; waiting?: ReturnType<typeof setTimeout> }

export interface DaemonOptions {
  configDir?: string;
  /** How often counted-but-not-sent accesses become summary lines (default 10 s; 0: only at stop). */
  summaryMs?: number;
  listen?: ListenOptions | null;
  eventsFile?: string;
  /** Rotate the events file past this (AuditLog's maxBytes; 0: never, for logrotate). */
  eventsMaxBytes?: number;
  eventsKeep?: number;
  /** A flood rotating through every kept file this fast keeps its first file (AuditLog's keepFirstMs). */
  eventsKeepFirstMs?: number;
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
  /** Reconcile, re-read the config and rescan containers this often (DEFAULT_POLL_MS; 0: only on events). */
  pollMs?: number;
  /** Remove guards no longer configured only after the config has been unchanged this long (DEFAULT_SETTLE_MS). */
  settleMs?: number;
  /** Where the desired state is saved (a restart with a broken file keeps its guard); none when unset. */
  stateDir?: string;
  log?: (line: string) => void;
}

/** The host cannot be guarded: named, with the fix (exit 1). */
export class HostNotSupportedError extends Error { override name = 'HostNotSupportedError'; }

/** What a reload or reconcile did: guards applied (or again), adopted as found, repaired, removed; errors. */
export interface ReloadReport { applied: string[]; adopted: string[]; removed: string[]; repaired: string[]; errors: string[] }

/** GET /api/status. Counters are decimal strings (64-bit). */
export interface DaemonStatus {
  status: 'ok' | 'no guard in force' | 'guard not in force' | 'audit log not written';
  configDir: string;
  /** Guards the daemon could not put in force, with the reason (status is then not ok). */
  problems: Record<string, string>;
  /** Scope cgroups that do not exist yet, per guard: guarded when they appear. */
  waitingFor: Record<string, string[]>;
  /** Config files (or the directory) that could not be read; their guards keep the last good policy. */
  configErrors: string[];
  guards: {
    name: string; mode: string; cgroups: string[]; rules: number; appliedAt: string | null;
    refused: string; audited: string; allowed: string; droppedEvents: string; owner: string | null;
  }[];
  readers: string[];
  lastReload: { at: string; reason: string; report: ReloadReport } | null;
  /** problem: why the audit log cannot be written, while it cannot (status is then not ok). */
  events: { written: number; failed: number; problem: string | null } & FeedStats;
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
  /** Event readers by guard. */
  #readers = new Map<string, Reader>();
  /** What the daemon should enforce: each guard's last good policy and the file it came from. */
  #desired = new Map<string, DesiredGuard>();
  /** The desired state as last saved (or read at start). */
  #saved = new Map<string, DesiredGuard>();
  /** Guards that could not be put in force, with the reason (for /healthz, logged once per reason). */
  #problems = new Map<string, string>();
  #pending = new Map<string, string[]>();
  #configErrors: string[] = [];
  #everApplied = new Set<string>();
  #removalAnnounced = new Set<string>();
  #configChangedAt = 0;
  #started = false;
  /** Container cgroups with a look again for new namespaces pending (#bindContainer). */
  readonly #rebinding = new Set<string>();
  /** The last binding problem logged per guard (a full map, a tree too large), so each is said once. */
  readonly #bindProblems = new Map<string, string>();
  /** One namer for every event stream: it keeps the names of containers gone since their events. */
  #namerCache: CgroupNamer | undefined;
  get #namer(): CgroupNamer { return (this.#namerCache ??= cgroupNamer(this.#mount)); }
  #hupQueued = false;
  #reconcileTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<unknown> = Promise.resolve();
  #reloadQueued: Promise<ReloadReport> | undefined;
  #stateError: string | undefined;
  #cgroupWatch: CgroupWatcher | undefined;
  #containerGuards: string[] = [];
  /** Every desired guard's kernel objects, held open: a deleted pin detaches nothing. */
  #held = new Map<string, HeldGuard>();
  /** inotify on each guard's bpffs folder (by inode: a folder made again needs a new watch). */
  #pinWatchers = new Map<string, { ino: number; w: FSWatcher }>();
  #server: Server | undefined;
  #watchers: FSWatcher[] = [];
  #timers: NodeJS.Timeout[] = [];
  #stats: FD | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  /** A reload once the config has settled, for changes held back until then (#holdLooser). */
  #settleTimer: NodeJS.Timeout | undefined;
  /** Guards whose looser policy is held back, with the config stamp it was said for (said once). */
  #heldBack = new Map<string, string>();
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
    // A SIGHUP from now on is queued until the first reload is done (systemd's ExecReload may
    // send one while we start); one sent before this line is queued by bin/sysward.
    process.on('SIGHUP', this.#onHup);
    process.on('SIGUSR1', this.#onUsr1);
    const early = (globalThis as Record<symbol, { count: number; handler: () => void } | undefined>)[Symbol.for('sysward.earlyHup')];
    if (early) { process.off('SIGHUP', early.handler); if (early.count > 0) this.#hupQueued = true; }
    this.#mount = Daemon.checkHost(this.o.bpffs);
    const o = this.o;
    this.audit = new AuditLog({
      ...(o.eventsFile ? { file: o.eventsFile } : {}), ...(o.eventsMaxBytes !== undefined ? { maxBytes: o.eventsMaxBytes } : {}),
      ...(o.eventsKeep !== undefined ? { keep: o.eventsKeep } : {}), ...(o.eventsKeepFirstMs !== undefined ? { keepFirstMs: o.eventsKeepFirstMs } : {}),
      stdout: o.stdoutEvents ?? false, log: this.#log,
    });
    // The dashboard's history: what the log holds from before this start.
    if (o.eventsFile) this.feed.seed(lastLines(o.eventsFile, RECENT));
    if (this.o.bpfStats) this.#stats = enableStats();
    if (this.o.stateDir) this.#saved = loadDesired(this.o.stateDir, this.#log);
    const ns = namespaceSupport();
    this.#log('facts' in ns
      ? `the writer's namespaces are read by the guards (host namespaces from ${ns.source}): guards of containers and cgroups follow their tasks out of their cgroups, and namespace: own is checked`
      : `the writer's namespaces cannot be read here: ${ns.reason}. Guards work by cgroup alone: a task that can move itself to another cgroup leaves its guard, and namespace: own is not checked`);
    // Health and metrics answer from the start, while the first reload parses and applies.
    if (this.o.listen !== null) this.#server = await serveDaemon(this, this.o.listen ?? DEFAULT_LISTEN, this.#log);
    await this.reload('start');
    this.#watchConfig();
    this.#watchGuardsDir();
    this.#watchCgroups();
    const poll = this.o.pollMs ?? DEFAULT_POLL_MS;
    if (poll > 0) this.#timers.push(setInterval(() => this.#poll(), poll));
    const summary = this.o.summaryMs ?? DEFAULT_SUMMARY_MS;
    if (summary > 0) this.#timers.push(setInterval(() => this.#summarise(), summary));
    this.#started = true;
    if (this.#hupQueued) { this.#hupQueued = false; this.#log('SIGHUP during start: reloading'); void this.reload('SIGHUP'); }
  }

  #onHup = () => {
    if (!this.#started) { this.#hupQueued = true; return; }
    // A burst of signals is one reload (a SIGHUP loop cost a core and a log line each).
    this.#scheduleReload('SIGHUP');
  };

  /** logrotate's postrotate: let the renamed file go now rather than at the next event. */
  #onUsr1 = () => {
    this.#log('SIGUSR1: reopening the audit log');
    this.audit.reopen();
  };

  /**
   * Read the config into the desired state, then reconcile. A file that does not parse keeps the
   * guard of its last good policy (from this run, the saved desired state, or the pinned guard);
   * a config directory that is missing or unreadable changes nothing.
   */
  reload(reason: string): Promise<ReloadReport> {
    // One at a time, in order; one waiting behind a running reload serves every later request.
    if (this.#reloadQueued) return this.#reloadQueued;
    const run = this.#reloading.then(() => { this.#reloadQueued = undefined; return this.#reloadNow(reason); });
    this.#reloadQueued = run;
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reloadNow(reason: string): Promise<ReloadReport> {
    const report: ReloadReport = { applied: [], adopted: [], removed: [], repaired: [], errors: [] };
    const first = this.lastReload === undefined;
    const stamp = this.#stamp();
    if (stamp !== this.#configStamp) this.#configChangedAt = Date.now();
    this.#configStamp = stamp;
    // At start a missing directory means the built-in default, unless a saved desired state says
    // what was enforced before (a restart while a deploy replaces the directory). Large files are
    // parsed off this thread: health, metrics and events are served meanwhile.
    let cfg: Config;
    try { cfg = await readConfigOffThread(this.configDir, first && !this.#saved.size); } catch (e) {
      cfg = { policies: new Map(), errors: [], builtin: false, dirError: (e as Error).message };
    }
    if (this.#stopped) return report;
    this.#configErrors = [...(cfg.dirError ? [cfg.dirError] : []), ...cfg.errors.map((f) => f.error!)];
    if (this.#stateError) this.#configErrors.push(this.#stateError);
    this.metrics.fleet.setConfigRejected([...(cfg.dirError ? [this.configDir] : []), ...cfg.errors.map((f) => f.file)]);
    if (cfg.dirError) {
      report.errors.push(cfg.dirError);
      this.metrics.reloads.inc({ result: 'failure' });
      if (first) {
        for (const [n, g] of this.#saved) this.#desired.set(n, g);
        this.#log(`${cfg.dirError}; enforcing the ${this.#desired.size} guard(s) of the last good config (saved in ${this.o.stateDir})`);
      } else this.#log(`${cfg.dirError}; keeping the guards in force`);
    } else {
      const desired = new Map<string, DesiredGuard>();
      for (const policy of cfg.policies.values()) desired.set(policy.name, { policy, origin: policy.origin ?? policy.name });
      for (const f of cfg.errors) {
        report.errors.push(f.error!);
        this.metrics.reloads.inc({ result: 'failure' });
        const kept = this.#lastGoodOf(f.file).filter(([n]) => !desired.has(n));
        for (const [n, g] of kept) desired.set(n, g);
        this.#log(`rejected ${f.file}; ${kept.length ? `guard ${kept.map(([n]) => n).join(', ')} keeps the last good policy` : 'no earlier good policy of it to keep'}:\n${f.error}`);
      }
      this.#holdLooser(desired, stamp);
      this.#desired = desired;
    }
    if (this.o.stateDir && !sameDesired(this.#desired, this.#saved)) {
      try { saveDesired(this.o.stateDir, this.#desired); this.#saved = new Map(this.#desired); this.#stateError = undefined; } catch (e) {
        const msg = `cannot save the desired state in ${this.o.stateDir}: ${(e as Error).message}; a restart with a broken policy file may then lose its guard (fix --state-dir)`;
        if (msg !== this.#stateError) this.#log(msg);
        this.#stateError = msg;
      }
    }
    this.#containerGuards = [...this.#desired.values()].filter((g) => g.policy.scope.containers).map((g) => g.policy.name);
    this.#reconcile(reason, report, true);
    this.#watchScopes();
    this.lastReload = { at: new Date().toISOString(), reason, report };
    return report;
  }

  /**
   * A changed policy that may lift a refusal of the one in force (no-looser.ts) waits until the
   * config has been unchanged for settleMs: a file read while it is being written (a slow copy, a
   * rewrite in two writes) can be a valid policy by itself, the rules below the cut missing, and
   * applied it would lift them until the rest arrived. One that only tightens applies at once, as
   * does every change once the config has settled.
   */
  #holdLooser(desired: Map<string, DesiredGuard>, stamp: string): void {
    const settleMs = this.o.settleMs ?? DEFAULT_SETTLE_MS;
    const left = settleMs - (Date.now() - this.#configChangedAt);
    const held: string[] = [];
    for (const [name, next] of desired) {
      if (left <= 0) break;
      // What is in force: this run's, the saved state's, else the pinned guard's own record (a
      // guard whose file was removed and is being copied back, a state that could not be saved).
      const before = this.#desired.get(name) ?? this.#saved.get(name) ?? this.#pinnedPolicy(name);
      if (!before || noLooserThan(before.policy, next.policy)) continue;
      desired.set(name, before);
      held.push(name);
      if (this.#heldBack.get(name) !== stamp) this.#log(`guard ${name}: the policy in ${next.origin} lifts refusals of the one in force; it is applied once the config has been unchanged for ${settleMs / 1000} s (a file read while it is being written must not lift them)`);
      this.#heldBack.set(name, stamp);
    }
    for (const name of [...this.#heldBack.keys()]) if (!held.includes(name)) this.#heldBack.delete(name);
    clearTimeout(this.#settleTimer);
    this.#settleTimer = held.length ? setTimeout(() => { if (!this.#stopped) void this.reload('config settled'); }, left + 10) : undefined;
  }

  /** The policy of a guard this daemon applied, as pinned. */
  #pinnedPolicy(name: string): DesiredGuard | undefined {
    let meta: Meta | undefined;
    try { meta = guardMeta(name, this.o.bpffs); } catch { return undefined; }
    if (!meta || !this.#manages(meta)) return undefined;
    const policy = policyFromJson(meta.policy);
    return { policy, origin: policy.origin ?? name };
  }

  /** A guard this daemon applied (not the CLI's, not another daemon's with another config). */
  #manages(meta: Meta | undefined): boolean {
    return meta?.owner === 'daemon' && (meta.managedBy ?? resolve(DEFAULT_CONFIG_DIR)) === resolve(this.configDir);
  }

  /** The desired guards that came from `file` at its last good read. */
  #lastGoodOf(file: string): [string, DesiredGuard][] {
    const fromRun = [...this.#desired].filter(([, g]) => g.origin === file);
    if (fromRun.length) return fromRun;
    const fromSaved = [...this.#saved].filter(([, g]) => g.origin === file);
    if (fromSaved.length) return fromSaved;
    // No saved state (none configured, or unwritable): the pinned guards remember their policy's file.
    const out: [string, DesiredGuard][] = [];
    for (const name of listGuards(this.o.bpffs)) {
      const pinned = this.#pinnedPolicy(name);
      if (pinned?.policy.origin === file) out.push([name, { policy: pinned.policy, origin: file }]);
    }
    return out;
  }

  /**
   * Make the kernel enforce the desired state: each guard's program, maps, links on every scope
   * cgroup; readers on the ring buffers pinned now. Guards the daemon applied that are no longer
   * desired are removed only once the config has been unchanged for settleMs (a directory
   * replaced file by file never lifts protection in between).
   */
  reconcile(reason = 'check'): ReloadReport {
    const report: ReloadReport = { applied: [], adopted: [], removed: [], repaired: [], errors: [] };
    this.#reconcile(reason, report);
    return report;
  }

  /** `reload`: a pass after reading the config (it counts in sysward_reloads_total); else a check. */
  #reconcile(reason: string, report: ReloadReport, reload = false): void {
    // Nothing in a pass may throw out of it: an exception here would stop the daemon (and with an
    // event reader waiting on a worker thread, hang it rather than exit).
    try { this.#reconcileGuards(report, reload); } catch (e) {
      report.errors.push((e as Error).message);
      this.#log(`reconcile pass failed (retried at the next one): ${(e as Error).message}`);
    }
  }

  #reconcileGuards(report: ReloadReport, reload: boolean): void {
    // A writer that holds the guards' lock (a `guard apply` stopped with Ctrl-Z) must not freeze
    // health, events and signals: wait briefly, and retry at the next pass.
    const base = { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount, owner: 'daemon' as const, managedBy: resolve(this.configDir), missing: 'pending' as const, lockTimeoutMs: DAEMON_LOCK_WAIT_MS };
    const quiet = !reload;
    // A reload may replace a guard's counters map: what its drop counter holds is reported first,
    // by a reader made now where there is none yet (at start: what was dropped while no daemon
    // ran is in the pinned map only, and the apply below would unpin it unreported).
    const pinnedNow = listGuards(this.o.bpffs);
    if (reload) {
      for (const name of this.#desired.keys()) if (pinnedNow.includes(name)) this.#startReader(name);
      this.#summarise();
    }
    for (const [name, { policy, origin }] of this.#desired) {
      // A guard of this name applied by `sysward guard apply`, or by another daemon: not ours to change.
      const refuse = (pinned: Meta) => (this.#manages(pinned) ? undefined
        : `a guard named ${name} is already in force, applied by ${pinned.owner === 'cli' ? '`sysward guard apply`' : `another sysward daemon (config ${pinned.managedBy ?? DEFAULT_CONFIG_DIR})`}; the daemon does not take it over: rename the policy in ${origin}, or remove that guard (sysward guard rm ${name})`);
      const opts = { ...base, refuse };
      try {
        const held = this.#held.get(name);
        if (held?.unpinned) {
          const restored = withGuardLock(this.o.bpffs, () => held.restorePins(), DAEMON_LOCK_WAIT_MS);
          if (restored.length) {
            report.repaired.push(name);
            this.metrics.repairs.inc({ guard: name });
            this.#log(`repaired guard ${name}: pinned again ${restored.join(', ')} (unpinned while in force; nothing was detached)`);
          }
        }
        const r = reconcileGuard(policy, opts);
        this.#reportBindings(name, r.bindings);
        if (!held || r.applied || r.repaired.length || r.added.length || held.programId !== r.programId) this.#hold(name);
        for (const path of r.added) {
          // (A namer made later indexes the tree as it is then: only one in use needs telling.)
          if (this.#namerCache) { try { this.#namerCache.remember(cgroupId(join(this.#mount, path)), path); } catch { /* gone already */ } }
          if (classifyCgroup(path)) this.metrics.containersGuarded.inc();
          this.#log(`guarded ${classifyCgroup(path) ? 'new container' : 'cgroup'} ${path} with ${name}`);
        }
        this.#watchPins(name);
        if (r.applied) {
          this.#remember(name, r.applied.generation, policy);
          report.applied.push(name);
          if (this.#everApplied.has(name) && r.repaired.length) { report.repaired.push(name); this.metrics.repairs.inc({ guard: name }); }
          const a = r.applied;
          this.#log(`${a.replaced ? 'replaced' : 'applied'} guard ${name} (${policy.rules.length} rules) on ${[...a.attached, ...a.updated].join(', ') || 'no cgroup yet'}${a.notes.length ? `; ${a.notes.join('; ')}` : ''}${this.#everApplied.has(name) && r.repaired.length ? ` (${r.repaired.join('; ')})` : ''}`);
          if (!quiet) this.metrics.reloads.inc({ result: 'success' });
        } else if (r.repaired.length) {
          report.repaired.push(name);
          this.metrics.repairs.inc({ guard: name });
          this.#log(`repaired guard ${name}: ${r.repaired.join('; ')}`);
        } else if (!quiet) {
          report.adopted.push(name);
          const meta = guardMeta(name, this.o.bpffs);
          if (meta) this.#remember(name, meta.generation, policy);
          this.metrics.reloads.inc({ result: 'success' });
        }
        this.#everApplied.add(name);
        // Scope cgroups it newly waits for, when no apply note said so (an adopted guard, a
        // service stopped): a likely typo is named, or the wait would pass unnoticed.
        const before = this.#pending.get(name) ?? [];
        const fresh = r.applied ? [] : r.pending.filter((p) => !before.includes(p));
        if (fresh.length) this.#log(`guard ${name}: ${waitingNote(fresh, this.#mount)}`);
        this.#pending.set(name, r.pending);
        this.#followEvents(name, r.eventsId);
        if (this.#problems.has(name)) this.#log(`guard ${name} is in force again`);
        this.#problems.delete(name);
      } catch (e) {
        const msg = (e as Error).message;
        report.errors.push(`${name}: ${msg}`);
        this.metrics.reloads.inc({ result: 'failure' });
        if (this.#problems.get(name) !== msg) this.#log(`could not put guard ${name} in force; ${pinnedNow.includes(name) ? 'the one pinned stays' : 'it is not in force'}: ${msg}`);
        this.#problems.set(name, msg);
        // Still read what a pinned version of it reports.
        if (pinnedNow.includes(name)) this.#followEvents(name, undefined);
      }
    }
    const settled = Date.now() - this.#configChangedAt >= (this.o.settleMs ?? DEFAULT_SETTLE_MS);
    for (const name of listGuards(this.o.bpffs)) {
      let meta: Meta | undefined;
      try { meta = guardMeta(name, this.o.bpffs); } catch { continue; /* not readable as ours: leave it */ }
      if (this.#desired.has(name) || !this.#manages(meta)) continue;
      if (!settled) {
        if (!this.#removalAnnounced.has(name)) this.#log(`guard ${name} is no longer in ${this.configDir}; it is removed once the config has been unchanged for ${(this.o.settleMs ?? DEFAULT_SETTLE_MS) / 1000} s`);
        this.#removalAnnounced.add(name);
        continue;
      }
      this.#stopReader(name);
      this.#release(name);
      try { removeGuard(name, this.o.bpffs, DAEMON_LOCK_WAIT_MS); } catch (e) { this.#log(`could not remove guard ${name}: ${(e as Error).message}`); continue; }
      report.removed.push(name);
      this.#removalAnnounced.delete(name);
      this.#everApplied.delete(name);
      this.#log(`removed guard ${name}: no longer in ${this.configDir}`);
    }
    const remaining = new Set(listGuards(this.o.bpffs));
    for (const [name] of this.#readers) if (!remaining.has(name)) this.#stopReader(name);
    for (const name of this.#problems.keys()) if (!this.#desired.has(name)) this.#problems.delete(name);
    for (const name of this.#pending.keys()) if (!this.#desired.has(name)) this.#pending.delete(name);
    this.metrics.notInForce.reset();
    for (const name of this.#problems.keys()) this.metrics.notInForce.set({ guard: name }, 1);
    this.metrics.scopeWaiting.reset();
    for (const [name, paths] of this.#pending) if (paths.length) this.metrics.scopeWaiting.set({ guard: name }, paths.length);
  }

  /** Hold the guard's pinned objects: the new ones opened before the old ones are let go. */
  #hold(name: string): void {
    let next: HeldGuard;
    try { next = HeldGuard.open(name, this.o.bpffs); } catch (e) { this.#log(`cannot hold the objects of guard ${name}: ${(e as Error).message}`); return; }
    const old = this.#held.get(name);
    // Pins deleted at this very moment: keep holding what we have (the next pass pins it again).
    if (old && !next.complete) { next.close(); return; }
    this.#held.set(name, next);
    old?.close();
  }

  #release(name: string): void {
    this.#held.get(name)?.close();
    this.#held.delete(name);
    this.#pinWatchers.get(name)?.w.close();
    this.#pinWatchers.delete(name);
  }

  /** A pin removed or replaced in the guard's folder (guard rm, rm -r, another tool): reconcile at once. */
  #watchPins(name: string): void {
    const dir = guardPins(name, this.o.bpffs).dir;
    let ino: number;
    try { ino = statSync(dir).ino; } catch { return; }
    const known = this.#pinWatchers.get(name);
    if (known?.ino === ino) return;
    known?.w.close();
    try {
      const w = watch(dir, (type, file) => { if (type === 'rename' && file && !file.endsWith('-new')) this.#reconcileSoon(); });
      w.on('error', () => { /* the folder went: the watch on the guards folder and the timer notice */ });
      this.#pinWatchers.set(name, { ino, w });
    } catch { /* gone meanwhile */ }
  }

  /** Read the guard's pinned ring buffer; switch when the pin now holds another map. */
  #followEvents(name: string, eventsId: number | undefined): void {
    const r = this.#readers.get(name);
    if (r && eventsId !== undefined && r.stream.mapId !== eventsId) {
      this.#log(`guard ${name}: its event ring buffer was replaced; reading the new one`);
      this.#stopReader(name);
    }
    if (!this.#readers.has(name)) this.#startReader(name);
  }

  /** The version the guard runs now, for its event stream (events carry their generation). */
  #remember(name: string, generation: number, policy: Policy): void {
    this.#readers.get(name)?.stream.remember(generation, policy);
  }

  #startReader(name: string): void {
    if (this.#readers.has(name)) return;
    let stream: GuardEventStream;
    try { stream = new GuardEventStream(name, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), cgroupName: this.#namer }); } catch (e) {
      this.#log(`cannot read the events of guard ${name}: ${(e as Error).message}`);
      return;
    }
    const handle = (e: GuardEvent) => {
      // Serialised once, for the log and the dashboard's stream.
      const json = eventJson(e);
      this.metrics.event(e);
      this.feed.push(e, json);
      this.#logged(() => this.audit.write(e, json));
    };
    const reader: Reader = { stream, handle };
    this.#readers.set(name, reader);
    this.#announce();
    // Events reach the log once per batch read (one write instead of one per event).
    const consume = () => {
      reader.waiting = undefined;
      stream.consume(handle, { maxCpuShare: this.o.eventsCpuShare ?? DEFAULT_EVENTS_CPU_SHARE, onBatch: () => this.#logged(() => this.audit.flush()) }).catch((err) => this.#log(`event reader of ${name} stopped: ${(err as Error).message}`));
    };
    // A `sysward events` process reading this ring buffer (started before this daemon): it sees
    // the announcement above and stops reading; until it has, an event would go to whichever of
    // the two took it first, and the ones it took would be missing from the log.
    const bpffs = this.o.bpffs ?? DEFAULT_BPFFS;
    const others = readersOf(name, bpffs);
    if (!others.length) { consume(); return; }
    const until = Date.now() + HANDOVER_WAIT_MS;
    const wait = () => {
      if (this.#readers.get(name) !== reader) return;
      const still = readersOf(name, bpffs);
      if (still.length && Date.now() < until) { reader.waiting = setTimeout(wait, 20); return; }
      if (still.length) this.#log(`sysward events (pid ${still.join(', ')}) still reads the events of guard ${name} itself: the events it takes are not in this log`);
      consume();
    };
    this.#log(`waiting for sysward events (pid ${others.join(', ')}) to hand the events of guard ${name} over`);
    wait();
  }

  /**
   * Summary lines for what each guard counted but did not send as events (over the per-kind event
   * rate, or the ring buffer full): into the log and the metrics, so that for every key the events
   * plus the summaries' counts are what the kernel decided. What the log could not write is
   * reported again at the next call.
   */
  #summarise(): void {
    let live: Set<bigint> | undefined;
    const gone = (id: bigint) => !(live ??= new Set(cgroupIdIndex(this.#mount).keys())).has(id);
    for (const [name, r] of this.#readers) {
      // (Not yet: another process still reads its ring buffer, and may summarise it too.)
      if (r.waiting) continue;
      try {
        // Events already queued first: a summary follows the events it continues. They are written
        // now: the reader's next batch may be far off (a record drained here is not there for it),
        // and until then an event read here sat in the queue, missing from the log.
        r.stream.drain(r.handle);
        const list = r.stream.summaries(gone);
        if (!list.length) { this.#logged(() => this.audit.flush()); r.stream.commitSummaries(); continue; }
        // Each line serialised once, for the log and the dashboard's stream (as events are).
        const json = list.map((s) => JSON.stringify(s));
        // Those written are reported; the rest again at the next call (a disk that filled midway).
        let written = 0;
        this.#logged(() => { written = this.audit.writeNow(json); });
        r.stream.commitSummaries(written);
        list.slice(0, written).forEach((s, i) => { this.metrics.summary(s); this.feed.push(s, json[i]); });
      } catch (e) { this.#log(`summaries of guard ${name}: ${(e as Error).message}`); }
    }
  }

  /** Say which guards' events this daemon reads (announce.ts: `sysward events` reads its log instead). */
  #announce(): void {
    if (this.#stopped) return;
    announce({ pid: process.pid, bpffs: this.o.bpffs ?? DEFAULT_BPFFS, eventsFile: this.audit.o.file ? resolve(this.audit.o.file) : null, guards: [...this.#readers.keys()] });
  }

  /** Run a write or flush of the audit log, counting lines it could not write in the metrics. */
  #logged(f: () => void): void {
    const before = this.audit.failed;
    f();
    if (this.audit.failed > before) this.metrics.logFailures.inc(this.audit.failed - before);
  }

  #stopReader(name: string): void {
    const r = this.#readers.get(name);
    if (!r) return;
    if (r.waiting) clearTimeout(r.waiting); else { r.stream.drain(r.handle); this.#summarise(); }
    this.#logged(() => this.audit.flush());
    void r.stream.close();
    this.#readers.delete(name);
    this.#announce();
  }

  #stamp(): string {
    try {
      return readdirSync(this.configDir).filter((f) => /\.ya?ml$/.test(f)).sort()
        .map((f) => { const s = statSync(join(this.configDir, f)); return `${f}:${s.mtimeMs}:${s.size}`; }).join('|');
    } catch (e) { return `error:${(e as NodeJS.ErrnoException).code}`; }
  }

  #scheduleReload(reason: string): void {
    clearTimeout(this.#reloadTimer);
    this.#reloadTimer = setTimeout(() => {
      if (this.#stopped) return;
      if (reason === 'SIGHUP') this.#log('SIGHUP: reloading');
      void this.reload(reason);
    }, 100);
  }

  /** A guard folder removed (guard rm, rm -r): reconcile at once rather than at the next poll. */
  #watchGuardsDir(): void {
    try {
      const w = watch(guardsDir(this.o.bpffs), (type) => { if (type === 'rename') this.#reconcileSoon(); });
      w.on('error', () => { /* bpffs folder gone: the timer notices */ });
      this.#watchers.push(w);
    } catch { /* not there yet: the timer notices */ }
  }

  #watchConfig(): void {
    try {
      const w = watch(this.configDir, () => this.#scheduleReload('config change'));
      w.on('error', () => { /* the directory went away: the poll notices when it is back */ });
      this.#watchers.push(w);
    } catch { /* missing now: polled */ }
  }

  #poll(): void {
    if (this.#stopped) return;
    try {
      if (this.#stamp() !== this.#configStamp) this.#scheduleReload('config change (poll)');
      this.#scanContainers();
    } catch (e) { this.#log(`scan failed (retried at the next poll): ${(e as Error).message}`); }
    this.#reconcile('timer', { applied: [], adopted: [], removed: [], repaired: [], errors: [] });
  }

  /** Reconcile now-ish (coalescing bursts of cgroup events into one pass). */
  #reconcileSoon(): void {
    if (this.#reconcileTimer || this.#stopped) return;
    this.#reconcileTimer = setTimeout(() => { this.#reconcileTimer = undefined; if (!this.#stopped) this.#reconcile('cgroup change', { applied: [], adopted: [], removed: [], repaired: [], errors: [] }); }, 0);
  }

  /** The cgroups the desired guards name (scope and exemptions): made again → reconcile at once. */
  #scopePaths(): Set<string> {
    const out = new Set<string>();
    for (const { policy } of this.#desired.values()) for (const p of [...policy.scope.cgroups, ...policy.scope.exempt]) out.add(p.replace(/\/+$/, '') || '/');
    return out;
  }

  /** Watch the folder of each scope cgroup (or its nearest existing ancestor). */
  #watchScopes(): void { this.#cgroupWatch?.watchScopes(); }

  /**
   * New container cgroups: one inotify watch per cgroup directory that may hold containers (not
   * inside containers), so a new one is seen within the inotify round trip (measured in
   * docs/daemon.md); new slices get their own watch. The poll is the safety net.
   */
  #watchCgroups(): void {
    this.#cgroupWatch = new CgroupWatcher(this.#mount, {
      scopePaths: () => this.#scopePaths(),
      onScopeChange: () => this.#reconcileSoon(),
      onContainer: (path, seen) => { if (this.#containerGuards.length) this.#guardContainer(path, seen); },
      onTasks: (path) => this.#bindContainer(path),
      log: this.#log,
    });
    this.#cgroupWatch.start();
  }

  #scanContainers(): void {
    if (this.#containerGuards.length) scanContainers(this.#mount, (p) => this.#guardContainer(p, process.hrtime.bigint()));
  }

  #guardContainer(path: string, seen: bigint): void {
    if (CONTAINER_ROOTS.some((r) => path.startsWith(`${r}/`))) return; // inherited from the root
    for (const name of this.#containerGuards) {
      try {
        if (extendGuard(name, path, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount, lockTimeoutMs: DAEMON_LOCK_WAIT_MS })) {
          this.metrics.containersGuarded.inc();
          // (A namer made later indexes the tree as it is then: only one in use needs telling.)
          if (this.#namerCache) { try { this.#namerCache.remember(cgroupId(join(this.#mount, path)), path); } catch { /* gone already */ } }
          this.#hold(name);
          this.#watchPins(name);
          this.metrics.attachDelay.observe(Number(process.hrtime.bigint() - seen) / 1e9);
          this.#log(`guarded new container ${path} with ${name}`);
        }
      } catch (e) {
        if (existsSync(join(this.#mount, path))) this.#log(`could not guard new container ${path} with ${name}: ${(e as Error).message}`);
      }
    }
  }

  /** A full bound map, or a cgroup tree too large to walk, means tasks not followed: say so once, and count. */
  #reportBindings(name: string, b: BindResult | undefined): void {
    if (!b) return;
    const problem = [
      ...(b.refused ? [`${b.refused} mount namespace(s) could not be bound: the guard's bound map is full (${b.bound} bound)`] : []),
      ...(b.truncated.length ? [`the cgroup tree below ${b.truncated.join(', ')} is too large to walk whole: some of its tasks may not be bound`] : []),
    ].join('; ');
    if (b.refused) this.metrics.bindRefused.inc({ guard: name }, b.refused);
    if (problem && this.#bindProblems.get(name) !== problem) this.#log(`guard ${name}: ${problem}; tasks of those containers are not followed if they leave their cgroup`);
    if (problem) this.#bindProblems.set(name, problem); else this.#bindProblems.delete(name);
  }

  /**
   * A task joined a container's cgroup: bind its mount namespace to the guards that follow it now,
   * not at the next pass (a container's first task could move itself out in between).
   */
  #bindContainer(path: string, again = true): void {
    // runc puts its first process in the cgroup before that process makes the container's
    // namespaces (there is no second cgroup.procs write): look again a few times as they appear.
    if (again && !this.#rebinding.has(path)) {
      this.#rebinding.add(path);
      const delays = [20, 100, 300];
      delays.forEach((ms, i) => setTimeout(() => {
        if (i === delays.length - 1) this.#rebinding.delete(path);
        if (!this.#stopped) this.#bindContainer(path, false);
      }, ms).unref());
    }
    for (const name of this.#containerGuards) {
      try {
        this.#reportBindings(name, bindGuardCgroup(name, path, { ...(this.o.bpffs ? { bpffs: this.o.bpffs } : {}), mount: this.#mount, lockTimeoutMs: DAEMON_LOCK_WAIT_MS }));
      } catch (e) {
        if (existsSync(join(this.#mount, path))) this.#log(`could not bind the tasks of ${path} to ${name} (retried at the next pass): ${(e as Error).message}`);
      }
    }
  }

  /** /healthz: ok while every configured guard is in force and the audit log can be written. */
  health(): { ok: boolean; body: unknown } {
    const guards = listGuards(this.o.bpffs);
    const status = this.#health(guards);
    return {
      ok: status === 'ok',
      body: { status, guards, problems: Object.fromEntries(this.#problems), waitingFor: this.#waiting(), configErrors: this.#configErrors, readers: [...this.#readers.keys()], lastReload: this.lastReload, events: { written: this.audit.written, failed: this.audit.failed, problem: this.audit.problem ?? null } },
    };
  }

  /** What the dashboard shows: the guards in force with their counters, the last reload, the event log. */
  status(): DaemonStatus {
    const guards = listGuards(this.o.bpffs).flatMap((name) => {
      let g;
      try { g = guardStatus(name, this.o.bpffs); } catch { return []; /* removed meanwhile */ }
      const total = (k: 'allowed' | 'refused' | 'audited') => g.counters.reduce((t, c) => t + c[k], 0n).toString();
      return [{
        name, mode: g.policy?.mode ?? 'unknown', cgroups: g.cgroups.map((c) => c.path), rules: g.policy?.rules.length ?? 0,
        appliedAt: g.appliedAt ?? null, refused: total('refused'), audited: total('audited'), allowed: total('allowed'),
        droppedEvents: g.droppedEvents.toString(), owner: g.owner ?? null,
      }];
    });
    return {
      status: this.#health(guards.map((g) => g.name)), configDir: this.configDir, guards,
      problems: Object.fromEntries(this.#problems), waitingFor: this.#waiting(), configErrors: this.#configErrors,
      readers: [...this.#readers.keys()], lastReload: this.lastReload ?? null,
      events: { written: this.audit.written, failed: this.audit.failed, problem: this.audit.problem ?? null, ...this.feed.stats() },
      pressure: systemPressure(),
    };
  }

  /**
   * ok only while every desired guard is in force (a cgroup not made yet is no problem) and the
   * audit log can be written (an unwritten log is otherwise seen only in a counter).
   */
  #health(guards: string[]): DaemonStatus['status'] {
    if (this.#stopped || guards.length === 0) return 'no guard in force';
    if (this.#problems.size) return 'guard not in force';
    return this.audit.problem === undefined ? 'ok' : 'audit log not written';
  }

  #waiting(): Record<string, string[]> {
    return Object.fromEntries([...this.#pending].filter(([, p]) => p.length));
  }

  /** The port actually listened on (for --listen 127.0.0.1:0). */
  get port(): number | undefined { const a = this.#server?.address(); return a && typeof a === 'object' ? a.port : undefined; }

  /** Stop serving and reading; every guard stays pinned and enforcing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    process.off('SIGHUP', this.#onHup);
    process.off('SIGUSR1', this.#onUsr1);
    clearTimeout(this.#reloadTimer);
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#reconcileTimer);
    for (const t of this.#timers) clearInterval(t);
    for (const w of this.#watchers) w.close();
    for (const name of [...this.#held.keys()]) this.#release(name);
    this.#cgroupWatch?.close();
    withdraw();
    // Drain what is queued before leaving, so stopping loses no event that had arrived, and
    // summarise what was counted since the last summaries.
    this.#summarise();
    await Promise.all([...this.#readers.values()].map(async (r) => { if (r.waiting) clearTimeout(r.waiting); else r.stream.drain(r.handle); await r.stream.close(); }));
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
