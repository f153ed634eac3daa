// 8. Reconcile: how long a guarded cgroup that is removed and made again (a service restart)
//    stays unguarded under the daemon, against the interval docs/daemon.md promises (--poll-ms);
//    and what one reconcile pass with nothing to repair costs (the daemon runs one a second).
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Daemon, DEFAULT_POLL_MS } from '../src/daemon/daemon.js';
import { findCgroup2Mount } from '../src/cgroup/hierarchy.js';
import { queryCgroup } from '../src/bpf/link.js';
import { listGuards, removeGuard } from '../src/guard/runtime/apply.js';
import { stats, withCgroup, type Stats } from './lib.js';

export interface ReconcileBench { regainMs: Stats; intervalMs: number; passMs: Stats; cgroups: number }

const attached = (abs: string) => { try { return queryCgroup(abs, 'CGROUP_SYSCTL').programIds.length > 0; } catch { return false; } };

export async function benchReconcile(progress: (s: string) => void): Promise<ReconcileBench> {
  return withCgroup(async (top) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-bench-rec-'));
    const guard = `sw-bench-rec-${process.pid}`;
    const n = 20;
    const svcs = Array.from({ length: n }, (_, i) => join(top, `svc${i}.service`));
    for (const s of svcs) mkdirSync(s);
    const rel = (abs: string) => `/${relative(findCgroup2Mount(), abs)}`;
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${svcs.map(rel).join(', ')}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    const d = new Daemon({ configDir: dir, listen: null, pollMs: DEFAULT_POLL_MS, log: () => {} });
    try {
      await d.start();
      const regain: number[] = [];
      for (let round = 0; round < 30; round++) {
        const svc = svcs[round % n]!;
        rmdirSync(svc);
        const t = process.hrtime.bigint();
        mkdirSync(svc);
        while (!attached(svc)) await new Promise((r) => setImmediate(r));
        regain.push(Number(process.hrtime.bigint() - t) / 1e6);
        await new Promise((r) => setTimeout(r, 20));
      }
      progress('reconcile: cgroups made again done');
      const pass: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t = process.hrtime.bigint();
        d.reconcile('timer');
        pass.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      return { regainMs: stats(regain), intervalMs: DEFAULT_POLL_MS, passMs: stats(pass), cgroups: n };
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
