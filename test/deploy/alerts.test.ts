// The alert rules in deploy/: promtool checks them and runs their unit tests (series written in
// deploy/prometheus/sysward-rules.test.yaml), the PrometheusRule holds the same groups, and every
// metric they read is one the daemon exports. test/deploy/prometheus.kernel.test.ts runs them in a
// real Prometheus against a real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { needs, which } from '../helpers/env.js';
import { repoRoot } from '../helpers/paths.js';
import { exportedMetricNames, metricNames, SCRAPE_METRICS } from '../helpers/promql.js';

const rulesFile = join(repoRoot(), 'deploy/prometheus/sysward-rules.yaml');
const promtool = needs(which('promtool') ? false : 'needs promtool (apt-get install prometheus)');

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const groups = (): { name: string; rules: Rule[] }[] => parse(readFileSync(rulesFile, 'utf8')).groups;

function run(args: string[]): string {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: repoRoot() });
  assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('promtool check rules accepts the alert rules and the PrometheusRule\'s groups', promtool, () => {
  assert.match(run(['check', 'rules', rulesFile]), /SUCCESS: \d+ rules found/);
  const dir = mkdtempSync(join(tmpdir(), 'sysward-rules-'));
  try {
    const pr = parse(readFileSync(join(repoRoot(), 'deploy/kubernetes/sysward-prometheusrule.yaml'), 'utf8'));
    writeFileSync(join(dir, 'operator.yaml'), stringify({ groups: pr.spec.groups }));
    assert.match(run(['check', 'rules', join(dir, 'operator.yaml')]), /SUCCESS/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('promtool test rules: each alert fires on the series written for it, and only there', promtool, () => {
  assert.match(run(['test', 'rules', 'deploy/prometheus/sysward-rules.test.yaml']), /SUCCESS/);
});

test('the unit tests cover every alert', () => {
  const tests = parse(readFileSync(join(repoRoot(), 'deploy/prometheus/sysward-rules.test.yaml'), 'utf8')).tests as { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  const fired = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length).map((a) => a.alertname)));
  const silent = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => !a.exp_alerts.length).map((a) => a.alertname)));
  for (const r of groups().flatMap((g) => g.rules)) {
    assert.ok(fired.has(r.alert!), `${r.alert} is never seen firing in sysward-rules.test.yaml`);
    assert.ok(silent.has(r.alert!), `${r.alert} is never seen silent in sysward-rules.test.yaml`);
  }
});

test('the PrometheusRule holds the same groups as the plain rules file', () => {
  const pr = parse(readFileSync(join(repoRoot(), 'deploy/kubernetes/sysward-prometheusrule.yaml'), 'utf8'));
  assert.equal(pr.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(pr.kind, 'PrometheusRule');
  assert.deepEqual(pr.spec.groups, groups());
});

test('every metric the alert rules read is one the daemon exports', () => {
  const exported = exportedMetricNames();
  for (const r of groups().flatMap((g) => g.rules)) {
    const names = metricNames(r.expr);
    assert.ok(names.length > 0, `${r.alert}: no metric found in ${r.expr}`);
    for (const n of names) assert.ok(exported.has(n) || SCRAPE_METRICS.has(n), `${r.alert} reads ${n}, which the daemon does not export (src/daemon/metrics.ts, fleet-metrics.ts)`);
  }
});

test('metricNames finds metric names, not functions, labels, strings or durations', () => {
  assert.deepEqual(metricNames('sum by (instance, key) (increase(sysward_events_total{verdict="refused",key=~"a|b"}[5m])) > 0'), ['sysward_events_total']);
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{instance=~"$node"}[$__rate_interval]))) or b offset 5m unless on(x) c'), ['a_bucket', 'b', 'c']);
  assert.deepEqual(metricNames('topk(10, label_replace(x, "dst", "$1", "src", "(.*)")) * 1e3'), ['x']);
  assert.deepEqual(metricNames('max(sysward_guards) by (instance) == bool 0'), ['sysward_guards']);
});
