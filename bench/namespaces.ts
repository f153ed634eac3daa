// 9. Namespace-aware guarding: what reading the writer's namespaces costs per write, against the
//    same guard by cgroup alone (what a kernel without BTF gets), side by side in one run:
//    - a host task (host namespaces, a cgroup no guard is attached to), which now passes the
//      follower on the root cgroup;
//    - a container task (its own mount and network namespaces, bound, in the guarded cgroup),
//      writing a key container-host allows with namespace: own (the check runs), while the
//      follower also sees it (and lets it through: it is still in its cgroup).
//    Per-write latency (median of the writer's per-write medians) and time in each program (BPF stats).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { attachCgroup } from '../src/bpf/link.js';
import { enableStats } from '../src/bpf/sys/bpf.js';
import type { Program } from '../src/bpf/prog.js';
import { findCgroup2Mount, cgroupId } from '../src/cgroup/hierarchy.js';
import { loadGuard, type LoadedGuard } from '../src/guard/runtime/loaded.js';
import { loadProfile } from '../src/guard/profiles/index.js';
import { encodeBinding } from '../src/guard/runtime/bindings.js';
import { mountNamespaceKey, namespaceSupport } from '../src/guard/runtime/namespaces.js';
import { buildC, parseWriter, repeat, stats as statsOf, withCgroup, type Stats } from './lib.js';

const WRITES = 100_000;

export interface NamespaceBench {
  supported: boolean;
  reason?: string;
  host: { today: Stats; now: Stats; followerNs: Stats };
  container: { today: Stats; now: Stats; guardTodayNs: Stats; guardNowNs: Stats; followerNs: Stats };
  unguarded: Stats;
}

const pin = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).stdout.trim() ? ['taskset', '-c', '0'] : [];

/** The writer in `cgroup`, in new UTS and network namespaces, optionally inside mount namespace of `holder`. */
function write(cgroup: string, writer: string, key: string, value: string, holder?: number): number {
  const enter = holder ? ['nsenter', `--mount=/proc/${holder}/ns/mnt`, '--'] : [];
  const r = spawnSync(enter[0] ?? 'unshare', [...enter.slice(1), ...(holder ? ['unshare'] : []), '--uts', '--net', 'sh', '-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cgroup, ...pin, writer, key, value, String(WRITES)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`writer failed (${r.status}): ${r.stderr}`);
  const w = parseWriter(r.stdout);
  if (w.ok !== WRITES) throw new Error(`writer: ${w.refused} of ${WRITES} writes refused (expected all allowed)`);
  return w.p50Ns;
}

const perRun = (p: Program, f: () => void): number => {
  const a = p.info();
  f();
  const b = p.info();
  return b.runCount === a.runCount ? 0 : Number(b.runTimeNs - a.runTimeNs) / Number(b.runCount - a.runCount);
};

export async function benchNamespaces(progress: (s: string) => void): Promise<NamespaceBench> {
  const ns = namespaceSupport();
  const empty: Stats = { min: 0, median: 0, max: 0, n: 0 };
  if (!('facts' in ns)) return { supported: false, reason: ns.reason, host: { today: empty, now: empty, followerNs: empty }, container: { today: empty, now: empty, guardTodayNs: empty, guardNowNs: empty, followerNs: empty }, unguarded: empty };
  const writer = buildC('writer');
  using bpfStats = enableStats();
  void bpfStats;
  const policy = loadProfile('container-host');
  return await withCgroup(async (top) => {
    const ct = join(top, `docker-${'b'.repeat(64)}.scope`);
    const host = join(top, 'host.service');
    mkdirSync(ct);
    mkdirSync(host);
    // The container's mount namespace, held by a sleeping process; its writers enter it.
    const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'unchanged', 'sleep', '3600'], { stdio: 'ignore' });
    try {
      while (readlinkSync(`/proc/${holder.pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt')) await new Promise((r) => setTimeout(r, 5));
      const hostKey = 'kernel/domainname', ctKey = 'net/ipv4/tcp_fin_timeout';
      const unguarded = await repeat(() => write(host, writer, hostKey, 'x'), { min: 5, max: 11, spread: 0.03 });
      progress('namespaces: unguarded done');
      using today = loadGuard(policy, { readNamespaces: false });
      using now = loadGuard(policy, { follow: true });
      if (!now.follow || !now.maps.bound) throw new Error('the follower was not built');
      now.maps.bound.set(mountNamespaceKey(holder.pid!, ns.facts.layout)!, encodeBinding(cgroupId(ct), ct.slice(findCgroup2Mount().length).split('/').filter(Boolean).length));
      const attach = (g: LoadedGuard) => {
        const links = [attachCgroup({ cgroup: ct, program: g.program, attachType: 'CGROUP_SYSCTL' })];
        if (g === now) links.push(attachCgroup({ cgroup: findCgroup2Mount(), program: g.follow!, attachType: 'CGROUP_SYSCTL' }));
        return () => { for (const l of links) { l.detach(); l.close(); } };
      };
      // Alternate the two, one sample each, so drift on the machine hits both alike.
      const samples = { hostToday: [] as number[], hostNow: [] as number[], ctToday: [] as number[], ctNow: [] as number[], guardToday: [] as number[], guardNow: [] as number[], followHost: [] as number[], followCt: [] as number[] };
      for (let round = 0; round < 7; round++) {
        for (const g of [today, now]) {
          const detach = attach(g);
          try {
            let hostP50 = 0, ctP50 = 0;
            const followHost = g.follow ? perRun(g.follow, () => { hostP50 = write(host, writer, hostKey, 'x'); }) : (hostP50 = write(host, writer, hostKey, 'x'), 0);
            let followCt = 0;
            const guardNs = perRun(g.program, () => {
              followCt = g.follow ? perRun(g.follow, () => { ctP50 = write(ct, writer, ctKey, '60', holder.pid); }) : (ctP50 = write(ct, writer, ctKey, '60', holder.pid), 0);
            });
            if (g === today) { samples.hostToday.push(hostP50); samples.ctToday.push(ctP50); samples.guardToday.push(guardNs); }
            else { samples.hostNow.push(hostP50); samples.ctNow.push(ctP50); samples.guardNow.push(guardNs); samples.followHost.push(followHost); samples.followCt.push(followCt); }
          } finally { detach(); }
        }
        progress(`namespaces: round ${round + 1} of 7`);
      }
      const st = statsOf;
      return {
        supported: true, unguarded,
        host: { today: st(samples.hostToday), now: st(samples.hostNow), followerNs: st(samples.followHost) },
        container: { today: st(samples.ctToday), now: st(samples.ctNow), guardTodayNs: st(samples.guardToday), guardNowNs: st(samples.guardNow), followerNs: st(samples.followCt) },
      };
    } finally {
      holder.kill('SIGKILL');
    }
  });
}
