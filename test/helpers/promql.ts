// The metric names a PromQL expression reads, and the names the daemon exports: deploy/'s alert
// rules and dashboard are checked against the daemon's registry, so a renamed metric fails a test
// instead of silently emptying a panel or an alert.
import { DaemonMetrics } from '../../src/daemon/metrics.js';

const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/** Metric names in `expr` (functions, label names, strings, durations and Grafana variables left out). */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?[\w$]+/g, ' ')
    .replace(/\$\{?\w+(?::\w+)?\}?/g, ' '); // Grafana variables ($node, ${DS}, $__rate_interval)
  const out = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] || NOT_METRICS.has(m[1]!.toLowerCase())) continue; // a function call, a keyword
    out.add(m[1]!);
  }
  return [...out];
}

/** Every series name the daemon's registry exports (histograms as _bucket, _sum and _count). */
export function exportedMetricNames(): Set<string> {
  const m = new DaemonMetrics('/nonexistent-bpffs');
  const out = new Set<string>();
  for (const metric of m.registry.getMetricsAsArray() as unknown as { name: string; type: string }[]) {
    if (metric.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(metric.name + s);
    else if (metric.type === 'summary') for (const s of ['', '_sum', '_count']) out.add(metric.name + s);
    else out.add(metric.name);
  }
  return out;
}

/** What Prometheus adds to every scrape target itself. */
export const SCRAPE_METRICS = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added']);

/** Every PromQL expression of a Grafana dashboard: panel targets (rows' too) and query variables. */
export function dashboardQueries(d: { panels?: unknown[]; templating?: { list: unknown[] } }): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: unknown[] = []) => {
    for (const p of panels as { title: string; targets?: { expr?: string; refId: string }[]; panels?: unknown[] }[]) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(d.panels);
  for (const v of (d.templating?.list ?? []) as { name: string; type: string; query: { query: string } | string }[]) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    // label_values(METRIC_SELECTOR, LABEL): the selector is the query.
    const m = /^label_values\((.*),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable ${v.name}`, expr: m ? m[1]! : q });
  }
  return out;
}
