// What the eBPF softirq timer (sysward softirqs --bpf) costs per softirq:
// 1. in the kernel: the run time of its two programs per softirq (entry + exit), from the kernel's
//    BPF statistics (run_time_ns / run_cnt);
// 2. end to end: a loopback UDP workload (every datagram is delivered by a NET_RX softirq), timed
//    per softirq without and with the tracer attached, alternating so drift hits both alike.
// Needs root. Run: node dist/bench/softirq-overhead.js
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { enableStats } from '../src/bpf/sys/bpf.js';
import { readSoftirqSnapshot } from '../src/observe/softirqs.js';
import { SoftirqTracer } from '../src/observe/softirq-tracer.js';
import { fmtStats, stats, type Stats } from './lib.js';

const DATAGRAMS = 20_000;
const IN_FLIGHT = 32;
const ROUNDS = 9;

export interface SoftirqOverhead {
  /** Kernel time of the two programs per traced softirq (ns; measured with BPF statistics on, which add a little). */
  programNsPerSoftirq: Stats;
  /** Wall time of the workload per softirq (ns), without and with the tracer. */
  baselineNsPerSoftirq: Stats;
  tracedNsPerSoftirq: Stats;
  /** Median traced minus median baseline (ns per softirq), and their ratio. */
  overheadNsPerSoftirq: number;
  ratio: number;
  softirqsPerRound: Stats;
}

const allSoftirqs = (): bigint => readSoftirqSnapshot().softirqs.counts.flat().reduce((s, x) => s + x, 0n);

/** Send DATAGRAMS over loopback; returns elapsed ns and the softirqs that ran meanwhile. */
async function workload(): Promise<{ ns: number; softirqs: number }> {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  rx.on('message', () => {});
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const port = rx.address().port;
  const payload = Buffer.alloc(64);
  const s0 = allSoftirqs();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    const pump = () => {
      while (inFlight < IN_FLIGHT && sent < DATAGRAMS) {
        inFlight++; sent++;
        tx.send(payload, port, '127.0.0.1', (e) => {
          inFlight--;
          if (e) return reject(e);
          if (sent >= DATAGRAMS && inFlight === 0) resolve(); else pump();
        });
      }
    };
    pump();
  });
  const ns = Number(process.hrtime.bigint() - t0);
  const softirqs = Number(allSoftirqs() - s0);
  tx.close(); rx.close();
  return { ns, softirqs };
}

export async function benchSoftirqOverhead(progress: (s: string) => void = () => {}): Promise<SoftirqOverhead> {
  if (process.getuid?.() !== 0) throw new Error('the softirq overhead benchmark needs root (it loads and attaches eBPF programs)');
  const names = readSoftirqSnapshot().softirqs.types;
  await workload(); // warm up sockets and JIT
  const baseline: number[] = [], traced: number[] = [], program: number[] = [], counts: number[] = [];
  // Wall time, without the kernel's BPF statistics (they add two clock reads per program run).
  for (let round = 0; round < ROUNDS; round++) {
    const b = await workload();
    baseline.push(b.ns / Math.max(1, b.softirqs));
    counts.push(b.softirqs);
    const tracer = SoftirqTracer.start(names);
    try {
      const t = await workload();
      traced.push(t.ns / Math.max(1, t.softirqs));
      counts.push(t.softirqs);
    } finally { tracer.close(); }
    progress(`wall-time round ${round + 1}/${ROUNDS}`);
  }
  // Kernel time of the programs, with statistics on.
  {
    using bpfStats = enableStats();
    void bpfStats;
    using tracer = SoftirqTracer.start(names);
    for (let round = 0; round < ROUNDS; round++) {
      const e0 = tracer.entry.info(), x0 = tracer.exit.info();
      await workload();
      const e1 = tracer.entry.info(), x1 = tracer.exit.info();
      const runs = Number(x1.runCount - x0.runCount);
      program.push(runs ? Number(e1.runTimeNs - e0.runTimeNs + x1.runTimeNs - x0.runTimeNs) / runs : NaN);
      progress(`program-time round ${round + 1}/${ROUNDS}`);
    }
  }
  const bs = stats(baseline), ts = stats(traced);
  return {
    programNsPerSoftirq: stats(program.filter(Number.isFinite)),
    baselineNsPerSoftirq: bs, tracedNsPerSoftirq: ts,
    overheadNsPerSoftirq: ts.median - bs.median, ratio: ts.median / bs.median,
    softirqsPerRound: stats(counts),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await benchSoftirqOverhead((s) => process.stderr.write(`${s}\n`));
  process.stdout.write([
    `softirq tracer, kernel time per softirq (entry + exit programs): ${fmtStats(r.programNsPerSoftirq, ' ns', 0)}`,
    `loopback workload per softirq, without tracer: ${fmtStats(r.baselineNsPerSoftirq, ' ns', 0)}`,
    `loopback workload per softirq, with tracer:    ${fmtStats(r.tracedNsPerSoftirq, ' ns', 0)}`,
    `overhead per softirq: ${r.overheadNsPerSoftirq.toFixed(0)} ns (ratio ${r.ratio.toFixed(3)}); softirqs per round ${fmtStats(r.softirqsPerRound, '', 0)}`,
  ].join('\n') + '\n');
}
