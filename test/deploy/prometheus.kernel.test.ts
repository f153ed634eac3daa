// A real Prometheus (Debian's /usr/bin/prometheus) scraping a real daemon, with the alert rules of
// deploy/prometheus: refused writes in a guarded cgroup show up as counters in Prometheus's HTTP
// API and fire SyswardRefusedAccess. Everything on loopback, in temp dirs, stopped at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { gates, kernel, needs, which } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';
import { repoRoot } from '../helpers/paths.js';
import { dashboardQueries } from '../helpers/promql.js';
import { stopProcess } from '../helpers/process.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const prometheus = needs(which('prometheus') ? false : 'needs prometheus (apt-get install prometheus)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port free on loopback now (Prometheus takes no port 0). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Poll `f` until it returns something other than undefined (at most `tries` × 250 ms). */
async function until<T>(what: string, f: () => Promise<T | undefined>, tries = 120): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try { const v = await f(); if (v !== undefined) return v; } catch (e) { last = e; }
    await sleep(250);
  }
  throw new Error(`gave up waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const stop = stopProcess;

interface Sample { metric: Record<string, string>; value: [number, string] }
interface Alert { labels: Record<string, string>; state: string }

test('kernel: a real Prometheus scrapes the daemon: refused writes appear as counters and fire SyswardRefusedAccess', gates(kernel(), prometheus), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-prom-'));
    const guard = `sw-test-prom-${process.pid}`;
    const cg = `/${relative(findCgroup2Mount(), abs)}`;
    const cfg = join(dir, 'policies');
    let daemon: ChildProcess | undefined, prom: ChildProcess | undefined;
    let promLog = '';
    try {
      mkdirSync(cfg);
      writeFileSync(join(cfg, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${cg}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
      daemon = spawn(process.execPath, [bin, 'daemon', '--config', cfg, '--listen', '127.0.0.1:0', '--events', join(dir, 'audit.jsonl'), '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let daemonLog = '';
      daemon.stderr!.on('data', (d) => { daemonLog += d; });
      const metricsUrl = await until('the daemon to listen', async () => /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(daemonLog)?.[1]);
      await until('the guard in force', async () => ((await fetch(`${metricsUrl}/healthz`)).ok ? true : undefined));

      const port = await freePort();
      writeFileSync(join(dir, 'prometheus.yml'), [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(join(repoRoot(), 'deploy/prometheus/sysward-rules.yaml'))}]`,
        'scrape_configs:',
        '  - job_name: sysward',
        `    static_configs: [{ targets: ["${new URL(metricsUrl).host}"] }]`,
      ].join('\n'));
      prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      prom.stderr!.on('data', (d) => { promLog += d; });
      const api = `http://127.0.0.1:${port}/api/v1`;
      const query = async (q: string): Promise<Sample[]> => {
        const r = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
        const body = await r.json() as { status: string; data: { result: Sample[] } };
        assert.equal(body.status, 'success', q);
        return body.data.result;
      };
      await until('the daemon scraped (up == 1)', async () => ((await query('up{job="sysward"} == 1')).length ? true : undefined));

      const refusedWrite = () => {
        const r = shInCgroup(abs, 'echo x > /proc/sys/kernel/hostname', ['--uts']);
        assert.notEqual(r.status, 0, 'the guard refuses the write');
      };
      const refused = `sysward_events_total{job="sysward",guard="${guard}",verdict="refused",key="kernel.hostname"}`;
      refusedWrite();
      const first = await until('the first refusal in Prometheus', async () => (await query(refused))[0]);
      assert.equal(first.value[1], '1');
      assert.equal(first.metric.rule, 'kernel.hostname');
      // A second refusal makes the counter grow between two samples: the alert's increase() sees it.
      refusedWrite(); refusedWrite();
      await until('3 refusals counted', async () => ((await query(`${refused} == 3`)).length ? true : undefined));
      const alert = await until('SyswardRefusedAccess firing', async () => {
        const r = await (await fetch(`${api}/alerts`)).json() as { data: { alerts: Alert[] } };
        return r.data.alerts.find((a) => a.labels.alertname === 'SyswardRefusedAccess' && a.labels.guard === guard && a.state === 'firing');
      });
      assert.equal(alert.labels.key, 'kernel.hostname');
      assert.equal(alert.labels.severity, 'warning');
      // The cgroup refused most, from the bounded top-N gauge.
      const top = await query('sysward_cgroup_refusals_top');
      const mine = top.find((s) => s.metric.cgroup!.endsWith(basename(abs)));
      assert.ok(mine, `the test's cgroup among ${JSON.stringify(top.map((s) => s.metric))}`);
      assert.equal(mine.value[1], '3');
      // The guard's kernel counters and the host's pressure, as the dashboard reads them.
      assert.equal((await query(`sysward_rule_decisions{guard="${guard}",rule="kernel.hostname",verdict="refused"}`))[0]?.value[1], '3');
      assert.equal((await query(`sysward_guard_not_in_force{guard="${guard}"}`)).length, 0);
      assert.ok((await query('sysward_pressure_stalled_seconds_total{resource="cpu",kind="some"}')).length === 1, 'PSI stall time exported');
      // Every query of the Grafana dashboard runs in this Prometheus (its variables given values),
      // and the refusal panels show the test's guard.
      const dash = JSON.parse(readFileSync(join(repoRoot(), 'deploy/grafana/sysward.json'), 'utf8'));
      const shown = new Map<string, Sample[]>();
      for (const { where, expr } of dashboardQueries(dash)) {
        const q = expr.replaceAll('$__rate_interval', '5s').replaceAll('$__range', '1m').replaceAll('$node', '.*').replaceAll('$guard', '.*');
        shown.set(where, await query(q));
      }
      assert.ok(shown.get('panel "Refusals by guard" A')!.some((s) => s.metric.guard === guard), 'refusals by guard');
      assert.ok(shown.get('panel "Keys refused most (time range)" A')!.some((s) => s.metric.key === 'kernel.hostname'), 'keys refused most');
      assert.ok(shown.get('panel "Containers refused most" A')!.some((s) => s.metric.cgroup!.endsWith(basename(abs))), 'containers refused most');
      assert.ok(shown.get('variable guard')!.some((s) => s.metric.guard === guard), 'the guard variable lists the guard');
    } catch (e) {
      throw new Error(`${(e as Error).message}\nprometheus log (tail):\n${promLog.slice(-2000)}`, { cause: e });
    } finally {
      await stop(prom);
      await stop(daemon);
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

