// The interpreter's speed on the real guard program: instructions per second and time per access,
// for a 1-rule and a 10,000-rule policy (hit: a key with a rule; miss: the default decides) and a
// value rule (strtol and range checks). The baseline is a plain ALU loop in the same run: what the
// interpreter does per instruction without memory, maps or helpers. Never gates tests.
import { fileURLToPath } from 'node:url';
import { Assembler, R0, R1 } from '../src/bpf/asm/index.js';
import { VmProgram, type VmSysctlContext } from '../src/bpf/vm/index.js';
import { VmGuard } from '../src/guard/runtime/vm-guard.js';
import type { Policy } from '../src/guard/model.js';
import { benchPolicy } from './policies.js';

export interface VmSpeedRow {
  case: string;
  instructionsPerRun: number;
  /** Median of the samples. */
  microsecondsPerRun: number;
  instructionsPerSecond: number;
}

function measure(name: string, runOnce: () => number, budgetMs = 300): VmSpeedRow {
  for (let i = 0; i < 2000; i++) runOnce(); // warm up the JIT
  const samples: number[] = [];
  let insns = 0;
  for (let s = 0; s < 7; s++) {
    let runs = 0;
    const start = process.hrtime.bigint();
    const until = start + BigInt(Math.round((budgetMs / 7) * 1e6));
    let now = start;
    while (now < until) {
      insns = runOnce();
      runs++;
      if ((runs & 15) === 0) now = process.hrtime.bigint();
    }
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / runs);
  }
  samples.sort((a, b) => a - b);
  const us = samples[3]!;
  return { case: name, instructionsPerRun: insns, microsecondsPerRun: us, instructionsPerSecond: Math.round((insns / us) * 1e6) };
}

export async function benchVmSpeed(): Promise<VmSpeedRow[]> {
  const rows: VmSpeedRow[] = [];
  // Baseline: 1,000 iterations of a 3-instruction ALU loop.
  const loop = new VmProgram(new Assembler().mov(R0, 0).mov(R1, 1000).label('l').add(R0, R1).sub(R1, 1).jne(R1, 0, 'l').exit().assemble());
  rows.push(measure('ALU loop (baseline)', () => loop.run().instructionsExecuted));

  const write = (name: string, value: string): VmSysctlContext => ({ kind: 'sysctl', name, write: true, newValue: value, currentValue: '0\n' });
  for (const n of [1, 10_000]) {
    const g = new VmGuard(benchPolicy(n));
    rows.push(measure(`guard, ${n} rules, hit`, () => g.program.run({ ctx: write('kernel/domainname', 'x\n') }).instructionsExecuted));
    rows.push(measure(`guard, ${n} rules, miss`, () => g.program.run({ ctx: write('kernel/hostname', 'x\n') }).instructionsExecuted));
  }
  const ranged: Policy = {
    ...benchPolicy(1), rules: [{
      index: 0, key: { text: 'net.ipv4.tcp_rmem', segments: ['net', 'ipv4', 'tcp_rmem'], kind: 'exact', wildcard: null }, action: 'allow', reads: 'allow',
      value: { kind: 'fields', fields: [{ min: 1n, max: 1n << 30n }, { min: 1n, max: 1n << 30n }, { min: 1n, max: 1n << 30n }] },
    }],
  };
  const g = new VmGuard(ranged);
  rows.push(measure('guard, 3-field value rule', () => g.program.run({ ctx: write('net/ipv4/tcp_rmem', '4096 131072 6291456\n') }).instructionsExecuted));
  const denied = new VmGuard({ ...benchPolicy(1), rules: [{ ...benchPolicy(1).rules[0]!, action: 'deny' }] });
  rows.push(measure('guard, refused with an event (decoded)', () => denied.run({ key: 'kernel/domainname', write: true, value: 'x\n', current: '0\n' }).instructions));
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of await benchVmSpeed()) {
    const ratio = r.instructionsPerSecond;
    console.log(`${r.case.padEnd(32)} ${String(r.instructionsPerRun).padStart(6)} insns  ${r.microsecondsPerRun.toFixed(2).padStart(9)} µs/run  ${(ratio / 1e6).toFixed(2).padStart(6)} M insns/s`);
  }
}
