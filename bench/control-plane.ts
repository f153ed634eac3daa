// 3. Control plane: parse, compile (tables + program), verify and load, attach, for policies of
//    1 to 10,000 rules; reload (atomic replace of an applied guard); the peer: bpftool loading the
//    clang-built object (a process, as a user would run it).
import { execFileSync } from 'node:child_process';
import { rmSync, mkdtempSync } from 'node:fs';
import { join, relative } from 'node:path';
import { attachCgroup } from '../src/bpf/link.js';
import { DEFAULT_BPFFS, ensureBpffs } from '../src/bpf/pin.js';
import { findCgroup2Mount } from '../src/cgroup/hierarchy.js';
import { parsePolicy } from '../src/guard/policy/index.js';
import { buildTables } from '../src/guard/compiler/index.js';
import { loadGuard } from '../src/guard/runtime/loaded.js';
import { applyGuard, removeGuard } from '../src/guard/runtime/apply.js';
import { benchPolicy, benchPolicyYaml } from './policies.js';
import { buildBpf, repeat, withCgroup, type Stats } from './lib.js';
import { RULE_COUNTS } from './kernel-cost.js';

export interface ControlRow { rules: number; parseMs: Stats; loadMs: Stats; attachMs: Stats; totalMs: Stats; reloadMs: Stats }

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function benchControlPlane(progress: (s: string) => void): Promise<{ rows: ControlRow[]; peerLoadMs: Stats; compileOnlyMs: Stats }> {
  const rows: ControlRow[] = [];
  for (const n of RULE_COUNTS) {
    const yaml = benchPolicyYaml(n);
    const parseMs = await repeat(() => { const t = process.hrtime.bigint(); parsePolicy(yaml, 'bench.yaml'); return ms(t); }, { min: 3, max: 7, spread: 0.1 });
    const policy = benchPolicy(n);
    const load: number[] = [], attach: number[] = [], total: number[] = [];
    await withCgroup(async (cg) => {
      await repeat(() => {
        const t0 = process.hrtime.bigint();
        using g = loadGuard(policy);
        const t1 = process.hrtime.bigint();
        const link = attachCgroup({ cgroup: cg, program: g.program, attachType: 'CGROUP_SYSCTL' });
        const t2 = process.hrtime.bigint();
        link.detach(); link.close();
        load.push(Number(t1 - t0) / 1e6); attach.push(Number(t2 - t1) / 1e6); total.push(Number(t2 - t0) / 1e6);
        return Number(t2 - t0) / 1e6;
      }, { min: 5, max: 11, spread: 0.1 });
    });
    // Reload: re-apply a pinned guard with a changed policy (link update, pins replaced).
    const reloadMs = await withCgroup(async (cg) => {
      const p = { ...benchPolicy(n, `sysward-bench-reload-${process.pid}`), scope: { cgroups: [`/${relative(findCgroup2Mount(), cg)}`], containers: false, host: false, exempt: [] } };
      applyGuard(p);
      try {
        let flip = 0;
        return await repeat(() => {
          const q = { ...p, defaults: { write: (flip++ % 2 ? 'allow' : 'audit') as 'allow' | 'audit', read: 'allow' as const } };
          const t = process.hrtime.bigint();
          applyGuard(q);
          return ms(t);
        }, { min: 5, max: 11, spread: 0.1 });
      } finally { removeGuard(p.name); }
    });
    const s = (xs: number[]) => { const v = [...xs].sort((a, b) => a - b); return { min: v[0]!, median: v[Math.floor(v.length / 2)]!, max: v.at(-1)!, n: v.length }; };
    rows.push({ rules: n, parseMs, loadMs: s(load), attachMs: s(attach), totalMs: s(total), reloadMs });
    progress(`control plane ${n} rules done`);
  }
  const compileOnlyMs = await repeat(() => { const t = process.hrtime.bigint(); buildTables(benchPolicy(10000)); return ms(t); }, { min: 3, max: 7, spread: 0.1 });
  // The peer: `bpftool prog load` of the clang-built object (process start, ELF parsing, load).
  const obj = buildBpf('guard');
  ensureBpffs();
  const dir = mkdtempSync(join(DEFAULT_BPFFS, 'sysward-bench-'));
  let i = 0;
  const peerLoadMs = await repeat(() => {
    const pin = join(dir, `p${i++}`);
    const t = process.hrtime.bigint();
    execFileSync('bpftool', ['prog', 'load', obj, pin, 'type', 'cgroup/sysctl']);
    const d = ms(t);
    rmSync(pin);
    return d;
  }, { min: 5, max: 11, spread: 0.1 });
  rmSync(dir, { recursive: true, force: true });
  return { rows, peerLoadMs, compileOnlyMs };
}
