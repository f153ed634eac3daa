// Softirqs and hard IRQs from /proc: /proc/softirqs (executions per CPU and type, counted where the
// kernel runs each handler, right beside the irq:softirq_entry tracepoint), the softirq column of
// /proc/stat (CPU time, in USER_HZ ticks), /proc/interrupts (hard IRQs per CPU and source).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Counts per type, one per CPU column (CPUs as the file names them: "CPU0", "CPU3"...). */
export interface SoftirqCounts { cpus: number[]; types: string[]; counts: bigint[][] }

/** Parse /proc/softirqs. */
export function parseSoftirqs(text: string): SoftirqCounts {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const cpus = lines[0]!.trim().split(/\s+/).map((c) => Number(c.replace(/^CPU/, '')));
  const types: string[] = [];
  const counts: bigint[][] = [];
  for (const line of lines.slice(1)) {
    const [name, ...vals] = line.trim().split(/\s+/);
    types.push(name!.replace(/:$/, ''));
    counts.push(cpus.map((_, i) => BigInt(vals[i] ?? '0')));
  }
  return { cpus, types, counts };
}

/** One CPU line of /proc/stat, in USER_HZ ticks (field names of proc(5)). */
export interface CpuTimes { user: bigint; nice: bigint; system: bigint; idle: bigint; iowait: bigint; irq: bigint; softirq: bigint; steal: bigint }
export interface ProcStat { all: CpuTimes; perCpu: Map<number, CpuTimes>; softirqTotal: bigint; softirqPerType: bigint[] }

const FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export function parseProcStat(text: string): ProcStat {
  let all: CpuTimes | undefined;
  const perCpu = new Map<number, CpuTimes>();
  let softirqTotal = 0n;
  let softirqPerType: bigint[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (/^cpu\d*$/.test(f[0] ?? '')) {
      const t = Object.fromEntries(FIELDS.map((k, i) => [k, BigInt(f[i + 1] ?? '0')])) as unknown as CpuTimes;
      if (f[0] === 'cpu') all = t; else perCpu.set(Number(f[0]!.slice(3)), t);
    } else if (f[0] === 'softirq') {
      softirqTotal = BigInt(f[1] ?? '0');
      softirqPerType = f.slice(2).map(BigInt);
    }
  }
  if (!all) throw new Error('/proc/stat has no cpu line');
  return { all, perCpu, softirqTotal, softirqPerType };
}

/** Total ticks as top(1) counts them: guest time is already inside user and nice. */
export const totalTicks = (t: CpuTimes): bigint => FIELDS.reduce((s, k) => s + t[k], 0n);

/** Softirq share of CPU time between two readings, in percent (null when no tick passed). */
export function softirqPercent(a: CpuTimes, b: CpuTimes): number | null {
  const total = totalTicks(b) - totalTicks(a);
  return total > 0n ? (Number(b.softirq - a.softirq) / Number(total)) * 100 : null;
}

/** A line of /proc/interrupts: "24:" (numbered) or "LOC:" (architecture's own), counts per CPU. */
export interface IrqLine { irq: string; counts: bigint[]; description: string }
export interface Interrupts { cpus: number[]; lines: IrqLine[] }

export function parseInterrupts(text: string): Interrupts {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const cpus = lines[0]!.trim().split(/\s+/).map((c) => Number(c.replace(/^CPU/, '')));
  const out: IrqLine[] = [];
  for (const line of lines.slice(1)) {
    const m = /^\s*([^:\s]+):(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[2]!.trim().split(/\s+/);
    const counts: bigint[] = [];
    // ERR: and MIS: have a single total, not one count per CPU.
    while (counts.length < cpus.length && rest.length && /^\d+$/.test(rest[0]!)) counts.push(BigInt(rest.shift()!));
    out.push({ irq: m[1]!, counts, description: rest.join(' ') });
  }
  return { cpus, lines: out };
}

export interface SoftirqSnapshot { atNs: bigint; softirqs: SoftirqCounts; stat: ProcStat; interrupts: Interrupts | null }

export function readSoftirqSnapshot(procDir = '/proc'): SoftirqSnapshot {
  const softirqs = parseSoftirqs(readFileSync(join(procDir, 'softirqs'), 'utf8'));
  const stat = parseProcStat(readFileSync(join(procDir, 'stat'), 'utf8'));
  let interrupts: Interrupts | null = null;
  try { interrupts = parseInterrupts(readFileSync(join(procDir, 'interrupts'), 'utf8')); } catch { /* some containers hide it */ }
  return { atNs: process.hrtime.bigint(), softirqs, stat, interrupts };
}

export interface SoftirqRates {
  intervalS: number;
  cpus: number[];
  /** Per type: executions per second, per CPU (same order as `cpus`) and in total. */
  types: { name: string; perCpu: number[]; total: number; count: bigint }[];
  /** Softirq share of CPU time from /proc/stat, percent, per CPU and for all. */
  cpuPercent: { perCpu: (number | null)[]; all: number | null };
  /** Hard IRQs per second, per CPU (sum of all sources; /proc/interrupts lists online CPUs only), and per source. */
  hardIrqs: { cpus: number[]; perCpu: number[]; total: number; sources: { irq: string; description: string; perCpu: number[]; total: number }[] } | null;
}

const rate = (d: bigint, s: number) => (s > 0 ? Number(d) / s : 0);

/** Rates between two snapshots. CPUs that went offline meanwhile count zero. */
export function softirqRates(a: SoftirqSnapshot, b: SoftirqSnapshot): SoftirqRates {
  const intervalS = Number(b.atNs - a.atNs) / 1e9;
  const cpus = b.softirqs.cpus;
  const col = (s: SoftirqCounts, cpu: number) => s.cpus.indexOf(cpu);
  const types = b.softirqs.types.map((name, t) => {
    const ta = a.softirqs.types.indexOf(name);
    const deltas = cpus.map((cpu, i) => {
      const before = ta >= 0 && col(a.softirqs, cpu) >= 0 ? a.softirqs.counts[ta]![col(a.softirqs, cpu)]! : 0n;
      return b.softirqs.counts[t]![i]! - before;
    });
    const count = deltas.reduce((s, d) => s + d, 0n);
    return { name, perCpu: deltas.map((d) => rate(d, intervalS)), total: rate(count, intervalS), count };
  });
  const cpuPercent = {
    perCpu: cpus.map((cpu) => { const x = a.stat.perCpu.get(cpu), y = b.stat.perCpu.get(cpu); return x && y ? softirqPercent(x, y) : null; }),
    all: softirqPercent(a.stat.all, b.stat.all),
  };
  let hardIrqs: SoftirqRates['hardIrqs'] = null;
  if (a.interrupts && b.interrupts) {
    const before = new Map(a.interrupts.lines.map((l) => [l.irq, l]));
    const icpus = b.interrupts.cpus;
    const perCpu = icpus.map(() => 0);
    const sources: NonNullable<SoftirqRates['hardIrqs']>['sources'] = [];
    for (const l of b.interrupts.lines) {
      if (l.counts.length !== icpus.length) continue; // ERR:, MIS: totals
      const prev = before.get(l.irq);
      const d = l.counts.map((c, i) => c - (prev && prev.counts.length === l.counts.length ? prev.counts[i]! : 0n));
      const r = d.map((x) => rate(x, intervalS));
      r.forEach((x, i) => { perCpu[i]! += x; });
      sources.push({ irq: l.irq, description: l.description, perCpu: r, total: r.reduce((s, x) => s + x, 0) });
    }
    hardIrqs = { cpus: icpus, perCpu, total: perCpu.reduce((s, x) => s + x, 0), sources };
  }
  return { intervalS, cpus, types, cpuPercent, hardIrqs };
}
