// Prometheus metrics of the daemon (prom-client). Kernel-side counters are read at scrape time.
import client from 'prom-client';
import { guardStatus, listGuards } from '../guard/runtime/status.js';
import { Program } from '../bpf/prog.js';
import { guardPins } from '../guard/runtime/layout.js';
import type { GuardEvent, GuardReport } from '../guard/runtime/events.js';
import { FleetMetrics } from './fleet-metrics.js';

interface PendingEvents { labels: { guard: string; verdict: string; key: string; rule: string }; n: number }

export class DaemonMetrics {
  readonly registry = new client.Registry();
  /**
   * Events counted since the last scrape, by guard, verdict, key and rule (found without making a
   * string per event): added to the counter at a scrape (its collect), one inc per kind, since
   * prom-client hashes and checks the labels at every inc.
   */
  readonly #pending = new Map<string, Map<string, Map<string, Map<string, PendingEvents>>>>();
  readonly #pendingList: PendingEvents[] = [];
  readonly events: client.Counter<'guard' | 'verdict' | 'key' | 'rule'>;
  readonly logFailures = new client.Counter({ name: 'sysward_events_log_failures_total', help: 'Events read but not written to the audit log (counted, not lost silently)', registers: [this.registry] });
  readonly reloads = new client.Counter({ name: 'sysward_reloads_total', help: 'Policy applications by the daemon, by result', labelNames: ['result'], registers: [this.registry] });
  readonly repairs = new client.Counter({ name: 'sysward_reconcile_repairs_total', help: 'Times the daemon found a guard differing from its desired state in the kernel (removed, detached, a cgroup made again, a half-done apply) and put it back', labelNames: ['guard'], registers: [this.registry] });
  readonly notInForce = new client.Gauge({ name: 'sysward_guard_not_in_force', help: 'Configured guards the daemon could not put in force (1), by guard; /healthz says why', labelNames: ['guard'], registers: [this.registry] });
  readonly scopeWaiting = new client.Gauge({ name: 'sysward_scope_cgroups_waiting', help: 'Scope cgroups a configured guard waits for: named in its policy, not made yet (a stopped service, or a typo in the path; the daemon\'s log suggests a near name), by guard; /healthz waitingFor lists them', labelNames: ['guard'], registers: [this.registry] });
  readonly bindRefused = new client.Counter({ name: 'sysward_bind_refused_total', help: 'Mount namespaces a guard could not bind (its bound map full): tasks not followed out of their cgroup', labelNames: ['guard'], registers: [this.registry] });
  readonly containersGuarded = new client.Counter({ name: 'sysward_containers_guarded_total', help: 'Container cgroups the daemon attached a guard to after they appeared', registers: [this.registry] });
  readonly attachDelay = new client.Histogram({ name: 'sysward_container_attach_delay_seconds', help: 'From noticing a new container cgroup to its guard being attached', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [this.registry] });

  /** The fleet's metrics (fleet-metrics.ts): top refused cgroups, summarised, config rejected, PSI. */
  readonly fleet = new FleetMetrics(this.registry);

  constructor(bpffs?: string) {
    const pending = this.#pending, list = this.#pendingList;
    this.events = new client.Counter({
      name: 'sysward_events_total', help: 'Audit events read from the guards, by verdict, key and deciding rule', labelNames: ['guard', 'verdict', 'key', 'rule'], registers: [this.registry],
      collect() {
        for (const p of list) if (p.n) { this.inc(p.labels, p.n); p.n = 0; }
        if (list.length > 4096) { pending.clear(); list.length = 0; }
      },
    });
    const guards = () => listGuards(bpffs).map((n) => { try { return guardStatus(n, bpffs); } catch { return undefined; } }).filter((g) => g !== undefined);
    new client.Gauge({
      name: 'sysward_guards', help: 'Guards pinned on this host', registers: [this.registry],
      collect() { this.set(listGuards(bpffs).length); },
    });
    new client.Gauge({
      name: 'sysward_guard_cgroups', help: 'Cgroups each guard is attached to', labelNames: ['guard'], registers: [this.registry],
      collect() { this.reset(); for (const g of guards()) this.set({ guard: g.name }, g.cgroups.length); },
    });
    new client.Gauge({
      name: 'sysward_rule_decisions', help: 'Accesses decided in the kernel since the guard\'s program was loaded, by rule and verdict (allowed counts writes only)', labelNames: ['guard', 'rule', 'verdict'], registers: [this.registry],
      collect() {
        this.reset();
        for (const g of guards()) for (const c of g.counters) {
          for (const verdict of ['allowed', 'refused', 'audited'] as const) this.set({ guard: g.name, rule: c.rule, verdict }, Number(c[verdict]));
        }
      },
    });
    new client.Gauge({
      name: 'sysward_followed_namespaces', help: 'Mount namespaces each guard follows out of its cgroups (bound to the cgroup their tasks were found in)', labelNames: ['guard'], registers: [this.registry],
      collect() { this.reset(); for (const g of guards()) if (g.following !== undefined) this.set({ guard: g.name }, g.following); },
    });
    new client.Gauge({
      name: 'sysward_events_dropped', help: 'Events the kernel could not queue (ring buffer full) since the guard\'s program was loaded', labelNames: ['guard'], registers: [this.registry],
      collect() { this.reset(); for (const g of guards()) this.set({ guard: g.name }, Number(g.droppedEvents)); },
    });
    const progStat = (what: 'runCount' | 'runTimeNs') => function (this: client.Gauge) {
      this.reset();
      for (const name of listGuards(bpffs)) {
        try {
          using p = Program.openPinned(guardPins(name, bpffs).prog);
          const i = p.info();
          this.set({ guard: name }, what === 'runCount' ? Number(i.runCount) : Number(i.runTimeNs) / 1e9);
        } catch { /* removed meanwhile */ }
      }
    };
    new client.Gauge({ name: 'sysward_program_runs', help: 'Runs of each guard\'s program (counted while BPF stats are on: --bpf-stats or kernel.bpf_stats_enabled=1)', labelNames: ['guard'], registers: [this.registry], collect: progStat('runCount') });
    new client.Gauge({ name: 'sysward_program_run_seconds', help: 'Time spent in each guard\'s program (while BPF stats are on)', labelNames: ['guard'], registers: [this.registry], collect: progStat('runTimeNs') });
  }

  event(e: GuardEvent): void {
    this.fleet.event(e);
    let byVerdict = this.#pending.get(e.guard);
    if (!byVerdict) this.#pending.set(e.guard, byVerdict = new Map());
    let byKey = byVerdict.get(e.verdict);
    if (!byKey) byVerdict.set(e.verdict, byKey = new Map());
    let byRule = byKey.get(e.key);
    if (!byRule) byKey.set(e.key, byRule = new Map());
    const p = byRule.get(e.rule.key);
    if (p) { p.n++; return; }
    const entry = { labels: { guard: e.guard, verdict: e.verdict, key: e.key, rule: e.rule.key }, n: 1 };
    byRule.set(e.rule.key, entry);
    this.#pendingList.push(entry);
  }

  /** A summary counts as the events it stands for: events_total = what the kernel decided, exactly. */
  summary(s: GuardReport): void {
    // A dropped line's accesses are in sysward_events_dropped already (the same kernel counter).
    if (s.type === 'dropped') return;
    this.events.inc({ guard: s.guard, verdict: s.verdict, key: s.key, rule: s.rule.key }, s.count);
    this.fleet.summary(s);
  }
}
