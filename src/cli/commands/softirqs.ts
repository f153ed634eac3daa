import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { readSoftirqSnapshot, softirqRates, type SoftirqRates } from '../../observe/softirqs.js';
import { SoftirqTracer, slotRange, softirqTimeDelta, type SoftirqTime } from '../../observe/softirq-tracer.js';
import { formatNs, formatRate, jsonLine, table } from '../../observe/format.js';
import { out } from '../output.js';

const HELP = `usage: sysward softirqs [--interval S] [--count N] [--bpf [--hist]] [--irqs] [--totals] [--json]

Softirqs per second, per CPU and type, from /proc/softirqs (what \`watch -d cat /proc/softirqs\`
shows, as rates), the softirq share of CPU time from /proc/stat, and hard IRQs per second per CPU
from /proc/interrupts. With --bpf, also the time spent in each softirq type, measured in the kernel
by eBPF programs on the irq:softirq_entry and irq:softirq_exit tracepoints (raw tracepoints: no
tracefs needed; root, or CAP_BPF with CAP_PERFMON): count, total and average time, and with --hist
a log2 histogram of durations per type, as bcc's softirqs tool shows.

options:
  --interval S   seconds per report (default 1)
  --count N      number of reports (default 1)
  --bpf          measure time per softirq type with eBPF
  --hist         with --bpf: duration histograms (nanoseconds)
  --irqs         hard IRQs per source, not only per CPU
  --totals       totals only, no per-CPU columns
  --json         JSON (with --count > 1: one object per line); docs/observe.md has the schema
  -h, --help

exit status: 0 shown, 1 --bpf could not run (the /proc figures are still shown), 2 bad usage.
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bpfJson(times: SoftirqTime[], intervalS: number, onlineCpus: number) {
  return times.map((t) => ({
    name: t.name, count: t.count, totalNs: t.totalNs, avgNs: t.count > 0n ? Number(t.totalNs) / Number(t.count) : null,
    cpuPercent: intervalS > 0 ? (Number(t.totalNs) / (intervalS * 1e9 * onlineCpus)) * 100 : null,
    perCpu: t.perCpu,
    hist: t.hist.map((count, k) => ({ k, count })).filter((x) => x.count > 0n).map(({ k, count }) => { const [lowNs, highNs] = slotRange(k); return { lowNs, highNs, count }; }),
  }));
}

function render(r: SoftirqRates, bpf: SoftirqTime[] | null, o: { totals?: boolean; irqs?: boolean; hist?: boolean; onlineCpus: number }): string {
  const out: string[] = [];
  const cpuCols = o.totals ? [] : r.cpus.map((c) => `CPU${c}`);
  const rows: string[][] = [[`softirqs/s (${r.intervalS.toFixed(2)} s)`, ...cpuCols, 'TOTAL']];
  for (const t of r.types) rows.push([t.name, ...(o.totals ? [] : t.perCpu.map(formatRate)), formatRate(t.total)]);
  const pct = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}%`);
  rows.push(['softirq CPU time', ...(o.totals ? [] : r.cpuPercent.perCpu.map(pct)), pct(r.cpuPercent.all)]);
  if (r.hardIrqs) {
    const h = r.hardIrqs;
    rows.push(['hard IRQs/s', ...(o.totals ? [] : r.cpus.map((c) => { const i = h.cpus.indexOf(c); return i < 0 ? '-' : formatRate(h.perCpu[i]!); })), formatRate(h.total)]);
  }
  const right = new Set(rows[0]!.map((_, i) => i).filter((i) => i > 0));
  out.push(table(rows, right));
  if (o.irqs && r.hardIrqs) {
    const h = r.hardIrqs;
    const src = h.sources.filter((s) => s.total > 0).sort((a, b) => b.total - a.total);
    out.push(`\n${table([['IRQ', ...(o.totals ? [] : h.cpus.map((c) => `CPU${c}`)), 'TOTAL', 'SOURCE'], ...src.map((s) => [s.irq, ...(o.totals ? [] : s.perCpu.map(formatRate)), formatRate(s.total), s.description])], new Set(Array.from({ length: (o.totals ? 0 : h.cpus.length) + 1 }, (_, i) => i + 1)))}`);
  }
  if (bpf) {
    const rows2: string[][] = [['time in softirqs (eBPF)', 'COUNT', 'TOTAL', 'AVG', 'CPU%']];
    for (const t of bpf) {
      const share = r.intervalS > 0 ? (Number(t.totalNs) / (r.intervalS * 1e9 * o.onlineCpus)) * 100 : 0;
      rows2.push([t.name, String(t.count), formatNs(t.totalNs), t.count > 0n ? formatNs(Number(t.totalNs) / Number(t.count)) : '-', `${share.toFixed(3)}%`]);
    }
    out.push(`\n${table(rows2, new Set([1, 2, 3, 4]))}`);
    if (o.hist) {
      for (const t of bpf) {
        const last = t.hist.findLastIndex((c) => c > 0n);
        if (last < 0) continue;
        const first = Math.max(1, t.hist.findIndex((c) => c > 0n));
        const max = t.hist.reduce((m, c) => (c > m ? c : m), 0n);
        out.push(`\n${t.name}\n${'nsecs'.padStart(24)}     : count     distribution\n`);
        for (let k = first; k <= last; k++) {
          const [lo, hi] = slotRange(k);
          const c = t.hist[k]!;
          const stars = max > 0n ? Number((c * 40n) / max) : 0;
          out.push(`${String(lo).padStart(20)} -> ${String(hi).padEnd(20)}: ${String(c).padEnd(9)} |${'*'.repeat(stars).padEnd(40)}|\n`);
        }
      }
    }
  }
  return out.join('');
}

const command: Command = {
  name: 'softirqs',
  summary: 'softirq rates per CPU and type, softirq CPU time, hard IRQs; time per softirq type with eBPF',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parse('softirqs', argv, {
      interval: { type: 'string' }, count: { type: 'string' }, bpf: { type: 'boolean' }, hist: { type: 'boolean' },
      irqs: { type: 'boolean' }, totals: { type: 'boolean' }, json: { type: 'boolean' },
    }, false);
    void positionals;
    const intervalS = Number(values.interval ?? '1');
    if (!(intervalS > 0)) throw new UsageError(`--interval wants seconds > 0, not "${values.interval}"`);
    const count = Number(values.count ?? '1');
    if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count wants a whole number >= 1, not "${values.count}"`);
    if (values.hist && !values.bpf) throw new UsageError('--hist needs --bpf');

    let prev = readSoftirqSnapshot();
    let status = 0;
    let tracer: SoftirqTracer | null = null;
    if (values.bpf) {
      try {
        tracer = SoftirqTracer.start(prev.softirqs.types);
      } catch (e) {
        const err = e as { code?: string; message: string };
        const why = err.code === 'EPERM' || err.code === 'EACCES' ? 'measuring softirq time with eBPF needs root (or CAP_BPF with CAP_PERFMON)' : err.message;
        process.stderr.write(`sysward softirqs: --bpf: ${why}; showing the /proc figures only\n`);
        status = 1;
      }
    }
    let stop = false;
    const onInt = () => { stop = true; };
    process.once('SIGINT', onInt);
    try {
      let prevBpf = tracer?.read() ?? null;
      prev = readSoftirqSnapshot();
      for (let n = 0; n < count && !stop; n++) {
        await sleep(intervalS * 1000);
        const now = readSoftirqSnapshot();
        const nowBpf = tracer?.read() ?? null;
        const rates = softirqRates(prev, now);
        const bpf = nowBpf && prevBpf ? softirqTimeDelta(prevBpf, nowBpf) : null;
        const onlineCpus = now.stat.perCpu.size || 1;
        if (values.json) {
          const obj = { at: new Date().toISOString(), ...rates, bpf: bpf ? bpfJson(bpf, rates.intervalS, onlineCpus) : null };
          if (count === 1) printJson(obj); else out(jsonLine(obj));
        } else {
          out(`${n ? '\n' : ''}${render(rates, bpf, { totals: values.totals, irqs: values.irqs, hist: values.hist, onlineCpus })}`);
        }
        prev = now;
        prevBpf = nowBpf;
      }
    } finally {
      process.off('SIGINT', onInt);
      tracer?.close();
    }
    return status;
  },
};
export default command;
