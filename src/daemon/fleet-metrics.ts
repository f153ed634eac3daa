// Metrics a platform team alerts on and graphs across a fleet (deploy/prometheus, deploy/grafana),
// beside metrics.ts's: the cgroups (containers) refused most, with a label set that stays bounded
// however many containers a node runs; accesses counted in summary lines rather than sent as
// events; policy files rejected now; the host's pressure stall time.
import client from 'prom-client';
import { basename } from 'node:path';
import { PSI_RESOURCES, readSystemPressure } from '../observe/psi.js';
import type { GuardEvent, GuardSummary } from '../guard/runtime/events.js';

/** How many cgroups get a label of their own in sysward_cgroup_refusals_top; the rest are "other". */
export const TOP_CGROUPS = 10;
/** The window sysward_cgroup_refusals_top counts over. */
export const TOP_WINDOW_MS = 5 * 60_000;

/** The label a refusal is counted under: the container it came from (by id), else its cgroup. */
export function refusedCgroup(e: Pick<GuardEvent, 'cgroup' | 'cgroupId' | 'boundTo'>): string {
  // A task that left its container's cgroup still counts for the container it left.
  return e.boundTo?.cgroup ?? e.cgroup ?? `cgroup-id:${e.boundTo?.cgroupId ?? e.cgroupId}`;
}

export interface TopOptions {
  topN?: number;
  windowMs?: number;
  /** The window is kept as this many buckets: a count leaves it at most windowMs / buckets late. */
  buckets?: number;
  /** Distinct cgroups remembered per bucket; past it, new ones are counted as "other" only. */
  maxTracked?: number;
  now?: () => number;
}

/**
 * Counts per cgroup over a sliding window, reported as the top N plus "other": memory and labels
 * both stay bounded (a node with 10,000 short-lived containers exports at most N + 1 series).
 */
export class TopCounts {
  readonly topN: number;
  readonly windowMs: number;
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #maxTracked: number;
  readonly #now: () => number;
  /** Bucket index (time / bucketMs) → counts, and what came past maxTracked. */
  readonly #counts = new Map<number, { byCgroup: Map<string, number>; overflow: number }>();

  constructor(o: TopOptions = {}) {
    this.topN = o.topN ?? TOP_CGROUPS;
    this.windowMs = o.windowMs ?? TOP_WINDOW_MS;
    this.#buckets = o.buckets ?? 10;
    this.#bucketMs = this.windowMs / this.#buckets;
    this.#maxTracked = o.maxTracked ?? 10_000;
    this.#now = o.now ?? Date.now;
  }

  add(cgroup: string, n = 1): void {
    const i = Math.floor(this.#now() / this.#bucketMs);
    let b = this.#counts.get(i);
    if (!b) { this.#prune(i); this.#counts.set(i, b = { byCgroup: new Map(), overflow: 0 }); }
    const had = b.byCgroup.get(cgroup);
    if (had !== undefined) b.byCgroup.set(cgroup, had + n);
    else if (b.byCgroup.size < this.#maxTracked) b.byCgroup.set(cgroup, n);
    else b.overflow += n;
  }

  /** The N cgroups counted most in the window, most first, then { cgroup: 'other' } when any is left. */
  top(): { cgroup: string; count: number }[] {
    const cur = Math.floor(this.#now() / this.#bucketMs);
    this.#prune(cur);
    const sum = new Map<string, number>();
    let other = 0;
    for (const b of this.#counts.values()) {
      for (const [k, n] of b.byCgroup) sum.set(k, (sum.get(k) ?? 0) + n);
      other += b.overflow;
    }
    const sorted = [...sum].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    for (const [, n] of sorted.slice(this.topN)) other += n;
    const out = sorted.slice(0, this.topN).map(([cgroup, count]) => ({ cgroup, count }));
    if (other > 0) out.push({ cgroup: 'other', count: other });
    return out;
  }

  #prune(cur: number): void {
    for (const i of this.#counts.keys()) if (i <= cur - this.#buckets) this.#counts.delete(i);
  }
}

export class FleetMetrics {
  readonly topRefused: TopCounts;
  readonly summarised: client.Counter<'guard'>;
  readonly configRejected: client.Gauge<'file'>;

  constructor(registry: client.Registry, o: TopOptions = {}) {
    const top = this.topRefused = new TopCounts(o);
    new client.Gauge({
      name: 'sysward_cgroup_refusals_top',
      help: `Refused accesses in the last ${top.windowMs / 60_000} minutes from the ${top.topN} cgroups refused most (a container by its id), the rest summed in cgroup="other": a bounded label set`,
      labelNames: ['cgroup'], registers: [registry],
      collect() { this.reset(); for (const t of top.top()) this.set({ cgroup: t.cgroup }, t.count); },
    });
    this.summarised = new client.Counter({ name: 'sysward_events_summarised_total', help: 'Accesses counted in summary lines instead of sent as events (over the per-kind event rate, or the ring buffer full), by guard', labelNames: ['guard'], registers: [registry] });
    this.configRejected = new client.Gauge({ name: 'sysward_config_rejected', help: 'Policy files (or the config directory) rejected at the last reload (1): their guards keep the last good policy; /healthz configErrors says why', labelNames: ['file'], registers: [registry] });
    new client.Counter({
      name: 'sysward_pressure_stalled_seconds_total', help: 'The host\'s pressure stall time (PSI, /proc/pressure) by resource and kind ("some": at least one task waited; "full": all did)', labelNames: ['resource', 'kind'], registers: [registry],
      collect() {
        this.reset();
        let set;
        try { set = readSystemPressure(); } catch { return; /* no PSI on this kernel: no series */ }
        for (const res of PSI_RESOURCES) {
          for (const kind of ['some', 'full'] as const) {
            const line = set[res]?.[kind];
            if (line) this.inc({ resource: res, kind }, Number(line.totalUs) / 1e6);
          }
        }
      },
    });
  }

  event(e: GuardEvent): void {
    if (e.verdict === 'refused') this.topRefused.add(refusedCgroup(e));
  }

  summary(s: GuardSummary): void {
    this.summarised.inc({ guard: s.guard }, s.count);
    if (s.verdict === 'refused') this.topRefused.add(refusedCgroup(s), s.count);
  }

  /** The files rejected at the last reload (a missing directory counts as its own path). */
  setConfigRejected(files: string[]): void {
    this.configRejected.reset();
    for (const f of files) this.configRejected.set({ file: basename(f) || f }, 1);
  }
}
