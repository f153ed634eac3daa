// 1. Kernel-side cost per /proc/sys write (kernel BPF statistics: run_time_ns / run_cnt) for
//    sysward policies of 1 to 10,000 rules, hit and miss, against the floor (a program that
//    returns 1) and the same policy in C built by clang -O2 and loaded by bpftool.
// 2. End-to-end write latency (median, p99) unguarded, under the floor, under sysward, under C.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Assembler, R0 } from '../src/bpf/asm/index.js';
import { Program } from '../src/bpf/prog.js';
import { attachCgroup } from '../src/bpf/link.js';
import { BpfMap } from '../src/bpf/map.js';
import { bytes, u32 } from '../src/bpf/codec.js';
import { enableStats } from '../src/bpf/sys/bpf.js';
import { DEFAULT_BPFFS, ensureBpffs } from '../src/bpf/pin.js';
import { loadGuard } from '../src/guard/runtime/loaded.js';
import { benchPolicy } from './policies.js';
import { buildBpf, buildC, parseWriter, repeat, runIn, stats, withCgroup, type Stats, type WriterResult } from './lib.js';

export const RULE_COUNTS = [1, 10, 100, 1000, 10000];
const WRITES = 100_000;

export interface CostRow { what: string; rules: number; hitNs: Stats; missNs: Stats }
export interface LatencyRow { what: string; p50Ns: Stats; p99Ns: Stats }

/** ns per program run over WRITES writes of each key, measured by the kernel's BPF statistics. */
async function perRun(prog: Program, cgroup: string, writer: string, key: string): Promise<Stats> {
  return repeat(() => {
    const a = prog.info();
    runIn(cgroup, [writer, key, 'x', String(WRITES)]);
    const b = prog.info();
    return Number(b.runTimeNs - a.runTimeNs) / Number(b.runCount - a.runCount);
  }, { min: 5, max: 11, spread: 0.05 });
}

async function latency(cgroup: string, writer: string): Promise<{ p50: Stats; p99: Stats }> {
  const runs: WriterResult[] = [];
  const p50 = await repeat(() => { const r = parseWriter(runIn(cgroup, [writer, 'kernel/domainname', 'x', String(WRITES)])); runs.push(r); return r.p50Ns; }, { min: 5, max: 11, spread: 0.03 });
  return { p50, p99: stats(runs.map((r) => r.p99Ns)) };
}

export async function benchKernelCost(progress: (s: string) => void): Promise<{ cost: CostRow[]; latency: LatencyRow[] }> {
  const writer = buildC('writer');
  using bpfStats = enableStats();
  void bpfStats;
  const cost: CostRow[] = [];
  const lat: LatencyRow[] = [];

  await withCgroup(async (cg) => {
    lat.push(await latency(cg, writer).then((l) => ({ what: 'unguarded', p50Ns: l.p50, p99Ns: l.p99 })));
  });
  progress('unguarded latency done');

  await withCgroup(async (cg) => {
    using floor = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: 'bench_floor', instructions: new Assembler().mov(R0, 1).exit().assemble() });
    using link = attachCgroup({ cgroup: cg, program: floor, attachType: 'CGROUP_SYSCTL' });
    const s = await perRun(floor, cg, writer, 'kernel/domainname');
    cost.push({ what: 'floor (return 1)', rules: 0, hitNs: s, missNs: s });
    const l = await latency(cg, writer);
    lat.push({ what: 'floor (return 1)', p50Ns: l.p50, p99Ns: l.p99 });
    link.detach();
  });
  progress('floor done');

  for (const n of RULE_COUNTS) {
    await withCgroup(async (cg) => {
      using g = loadGuard(benchPolicy(n));
      using link = attachCgroup({ cgroup: cg, program: g.program, attachType: 'CGROUP_SYSCTL' });
      const hit = await perRun(g.program, cg, writer, 'kernel/domainname');
      const miss = await perRun(g.program, cg, writer, 'kernel/hostname');
      cost.push({ what: 'sysward', rules: n, hitNs: hit, missNs: miss });
      if (n === 10000) {
        const l = await latency(cg, writer);
        lat.push({ what: 'sysward, 10,000 rules', p50Ns: l.p50, p99Ns: l.p99 });
      }
      link.detach();
    });
    progress(`sysward ${n} rules done`);
  }

  // The peer: the C program, loaded by bpftool (libbpf), its map filled with the same rules.
  const obj = buildBpf('guard');
  ensureBpffs();
  const pin = join(DEFAULT_BPFFS, `sysward-bench-c-${process.pid}`);
  try {
    execFileSync('bpftool', ['prog', 'load', obj, pin, 'type', 'cgroup/sysctl']);
    using prog = Program.openPinned(pin);
    const mapId = prog.info().mapIds.map((id) => ({ id, m: BpfMap.openBytesById(id) })).find((x) => x.m.info().name === 'rules');
    if (!mapId) throw new Error('the C object has no map named rules');
    using rules = BpfMap.fromId(mapId.id, bytes(128), u32);
    mapId.m.close();
    for (const n of RULE_COUNTS) {
      for (const k of [...rules.keys()]) rules.delete(k);
      const entries: [Buffer, number][] = Array.from({ length: n - 1 }, (_, i) => [Buffer.from(`net/ipv4/bench_fake_key_${i}`), 1]);
      entries.push([Buffer.from('kernel/domainname'), 0]);
      rules.updateBatch(entries);
      await withCgroup(async (cg) => {
        using link = attachCgroup({ cgroup: cg, program: prog, attachType: 'CGROUP_SYSCTL' });
        const hit = await perRun(prog, cg, writer, 'kernel/domainname');
        const miss = await perRun(prog, cg, writer, 'kernel/hostname');
        cost.push({ what: 'C, clang -O2', rules: n, hitNs: hit, missNs: miss });
        if (n === 10000) {
          const l = await latency(cg, writer);
          lat.push({ what: 'C, clang -O2, 10,000 rules', p50Ns: l.p50, p99Ns: l.p99 });
        }
        link.detach();
      });
      progress(`C ${n} rules done`);
    }
  } finally { rmSync(pin, { force: true }); }
  return { cost, latency: lat };
}
