// The bounded per-container refusal counts (sysward_cgroup_refusals_top): top N plus "other", over
// a sliding window, with memory bounded too. Time is injected; nothing waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetMetrics, refusedCgroup, TopCounts } from '../../src/daemon/fleet-metrics.js';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import { repoRoot } from '../helpers/paths.js';

test('TopCounts reports the N cgroups counted most, the rest as "other"', () => {
  let now = 0;
  const t = new TopCounts({ topN: 2, windowMs: 60_000, buckets: 6, now: () => now });
  t.add('docker:a', 5); t.add('docker:b', 1); t.add('docker:c', 3); t.add('docker:b', 1);
  assert.deepEqual(t.top(), [{ cgroup: 'docker:a', count: 5 }, { cgroup: 'docker:c', count: 3 }, { cgroup: 'other', count: 2 }]);
  // Counts leave the window bucket by bucket.
  now = 30_000; t.add('docker:b', 10);
  assert.deepEqual(t.top()[0], { cgroup: 'docker:b', count: 12 });
  now = 65_000;
  assert.deepEqual(t.top(), [{ cgroup: 'docker:b', count: 10 }]);
  now = 95_000;
  assert.deepEqual(t.top(), []);
});

test('TopCounts keeps its label set and its memory bounded under many containers', () => {
  const t = new TopCounts({ topN: 10, maxTracked: 100, now: () => 0 });
  for (let i = 0; i < 5000; i++) t.add(`docker:${i}`, i < 3 ? 1000 : 1);
  const top = t.top();
  assert.equal(top.length, 11);
  assert.deepEqual(top.slice(0, 3).map((x) => x.cgroup), ['docker:0', 'docker:1', 'docker:2']);
  assert.equal(top.reduce((a, x) => a + x.count, 0), 3 * 1000 + 4997, 'nothing lost: past maxTracked, counts go to "other"');
  assert.equal(top[10]!.cgroup, 'other');
});

test('a refusal counts for the container it came from, or left; summaries by their count', async () => {
  assert.equal(refusedCgroup({ cgroup: '/system.slice/x.service', cgroupId: '7' }), '/system.slice/x.service');
  assert.equal(refusedCgroup({ cgroup: '/', cgroupId: '1', boundTo: { cgroupId: '9', cgroup: 'docker:4f1c' } }), 'docker:4f1c');
  assert.equal(refusedCgroup({ cgroupId: '42' }), 'cgroup-id:42');
  const registry = new client.Registry();
  const f = new FleetMetrics(registry, { topN: 1 });
  const base = { time: '', guard: 'g', reason: 'rule', access: 'write' as const, key: 'kernel.modprobe', uid: 0, comm: 'sh', cgroupId: '5', rule: { index: 0, key: 'kernel.modprobe' }, generation: 1 };
  f.event({ ...base, verdict: 'refused', cgroup: 'docker:a', oldValue: null, newValue: 'x', filePos: 0, pid: 1, tgid: 1, gid: 0 });
  f.event({ ...base, verdict: 'allowed', cgroup: 'docker:z', oldValue: null, newValue: 'x', filePos: 0, pid: 1, tgid: 1, gid: 0 });
  f.summary({ ...base, type: 'summary', verdict: 'refused', cgroup: 'docker:b', count: 500, from: '', to: '' });
  const text = await registry.metrics();
  assert.match(text, /sysward_cgroup_refusals_top\{cgroup="docker:b"\} 500/);
  assert.match(text, /sysward_cgroup_refusals_top\{cgroup="other"\} 1/);
  assert.doesNotMatch(text, /docker:z/);
  assert.match(text, /sysward_events_summarised_total\{guard="g"\} 500/);
  f.setConfigRejected(['/etc/sysward/web.yaml']);
  assert.match(await registry.metrics(), /sysward_config_rejected\{file="web.yaml"\} 1/);
  f.setConfigRejected([]);
  assert.doesNotMatch(await registry.metrics(), /sysward_config_rejected\{/);
});

test('every metric the daemon exports is in docs/daemon.md\'s table', () => {
  const docs = readFileSync(join(repoRoot(), 'docs/daemon.md'), 'utf8');
  const registry = new DaemonMetrics('/nonexistent-bpffs').registry;
  for (const m of registry.getMetricsAsArray() as unknown as { name: string }[]) {
    assert.ok(docs.includes(`\`${m.name}`), `${m.name} is documented in docs/daemon.md ("Metrics and health")`);
  }
});
