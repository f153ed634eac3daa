// deploy/grafana: the dashboard is well formed for provisioning, and every query in it reads only
// metrics the daemon exports (so a renamed metric fails here instead of emptying a panel).
// test/deploy/prometheus.kernel.test.ts runs every query against a real Prometheus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/paths.js';
import { dashboardQueries, exportedMetricNames, metricNames } from '../helpers/promql.js';

const dashboard = () => JSON.parse(readFileSync(join(repoRoot(), 'deploy/grafana/sysward.json'), 'utf8'));

test('every query of the Grafana dashboard reads only metrics the daemon exports', () => {
  const exported = exportedMetricNames();
  const queries = dashboardQueries(dashboard());
  assert.ok(queries.length >= 20, `${queries.length} queries found`);
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
    for (const n of names) {
      assert.ok(exported.has(n), `${where} reads ${n}, which the daemon does not export (src/daemon/metrics.ts, fleet-metrics.ts): ${expr}`);
      used.add(n);
    }
  }
  // What the issue asks the dashboard to show: refusals, drops, reloads, attach delay, PSI.
  for (const n of ['sysward_events_total', 'sysward_cgroup_refusals_top', 'sysward_events_dropped', 'sysward_reloads_total', 'sysward_container_attach_delay_seconds_bucket', 'sysward_pressure_stalled_seconds_total']) assert.ok(used.has(n), `the dashboard shows ${n}`);
});

test('the dashboard is provisioning-ready: a fixed uid, unique panel ids, every panel on the datasource variable', () => {
  const d = dashboard();
  assert.equal(d.uid, 'sysward-fleet');
  assert.equal(d.id, undefined, 'no database id: provisioning assigns one');
  assert.equal(d.__inputs, undefined, 'no import-time inputs: provisioning does not ask for them');
  const vars = d.templating.list as { name: string; type: string }[];
  assert.deepEqual(vars.map((v) => v.name), ['datasource', 'node', 'guard']);
  const ids = new Set<number>();
  for (const p of d.panels as { id: number; type: string; gridPos: { w: number; x: number }; datasource?: { uid: string }; targets?: { datasource: { uid: string } }[] }[]) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
    ids.add(p.id);
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} fits the grid`);
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, '${datasource}');
    for (const t of p.targets ?? []) assert.equal(t.datasource.uid, '${datasource}');
  }
  const prov = parse(readFileSync(join(repoRoot(), 'deploy/grafana/provisioning/dashboards/sysward.yaml'), 'utf8'));
  assert.equal(prov.apiVersion, 1);
  assert.equal(prov.providers[0].type, 'file');
  assert.ok(prov.providers[0].options.path);
  const ds = parse(readFileSync(join(repoRoot(), 'deploy/grafana/provisioning/datasources/prometheus.yaml'), 'utf8'));
  assert.equal(ds.datasources[0].type, 'prometheus');
});
