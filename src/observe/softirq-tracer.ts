// Time spent in each softirq type, measured in the kernel: two RAW_TRACEPOINT programs on
// irq:softirq_entry and irq:softirq_exit (their one argument, vec_nr, is ctx->args[0]). The entry
// stores a timestamp per CPU; the exit adds the elapsed time to a per-CPU record of its type:
// count, total ns and a log2 histogram (bcc's slots: slot k holds [2^(k-1), 2^k - 1] ns, slot 1
// also 0). Softirqs do not nest on a CPU (a handler runs with bottom halves off), so one start
// slot per CPU suffices, and per-CPU records need no atomics.
//
// Raw tracepoints attach with BPF_RAW_TRACEPOINT_OPEN (Linux 4.17): no tracefs, no perf_event_open.
import { Assembler, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10 } from '../bpf/asm/index.js';
import { bytes, u32 } from '../bpf/codec.js';
import { Link } from '../bpf/link.js';
import { BpfMap } from '../bpf/map.js';
import { Program } from '../bpf/prog.js';
import { rawTracepointOpen } from '../bpf/sys/bpf.js';

/** Histogram slots: enough for any u64 duration. */
export const HIST_SLOTS = 64;
/** Softirq vectors recorded (the kernel has 10: HI..RCU; room for a few more). */
const MAX_VECTORS = 16;
const RECORD_BYTES = 16 + HIST_SLOTS * 8; // count, total_ns, hist[]

type ByteMap = BpfMap<number, Buffer[]>;

function entryProgram(start: ByteMap) {
  return new Assembler()
    .ldx('u64', R6, R1, 0)                       // r6 = vec_nr
    .call('ktime_get_ns').mov(R7, R0)
    .st('u32', R10, -4, 0)
    .ldMapFd(R1, start).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .stx('u64', R0, 0, R7)                       // start.ts = now
    .stx('u64', R0, 8, R6)                       // start.vec = vec_nr
    .label('out').mov(R0, 0).exit()
    .assemble();
}

function exitProgram(start: ByteMap, stats: ByteMap) {
  const a = new Assembler()
    .ldx('u64', R6, R1, 0)                       // r6 = vec_nr
    .call('ktime_get_ns').mov(R7, R0)
    .st('u32', R10, -4, 0)
    .ldMapFd(R1, start).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .ldx('u64', R8, R0, 0).ldx('u64', R9, R0, 8)
    .st('u64', R0, 0, 0)                         // consumed: an exit without entry is ignored
    .jeq(R8, 0, 'out')
    .jne(R9, R6, 'out')
    .sub(R7, R8)                                 // r7 = elapsed ns
    .jge(R6, MAX_VECTORS, 'out')
    .stx('u32', R10, -4, R6)
    .ldMapFd(R1, stats).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out')
    .ldx('u64', R1, R0, 0).add(R1, 1).stx('u64', R0, 0, R1)
    .ldx('u64', R1, R0, 8).add(R1, R7).stx('u64', R0, 8, R1)
    // r2 = floor(log2(r7)) by halving, then + 1 (bcc's bpf_log2l)
    .mov(R2, 0).mov(R3, R7);
  for (const bits of [32, 16, 8, 4, 2, 1]) {
    a.mov(R4, R3).rsh(R4, bits).jeq(R4, 0, `log${bits}`).mov(R3, R4).add(R2, bits).label(`log${bits}`);
  }
  return a
    .add(R2, 1)
    .jle(R2, HIST_SLOTS - 1, 'slot').mov(R2, HIST_SLOTS - 1).label('slot')
    .lsh(R2, 3).add(R0, R2)
    .ldx('u64', R1, R0, 16).add(R1, 1).stx('u64', R0, 16, R1)
    .label('out').mov(R0, 0).exit()
    .assemble();
}

export interface SoftirqTime {
  vector: number;
  name: string;
  count: bigint;
  totalNs: bigint;
  /** hist[k]: softirqs that took [2^(k-1), 2^k - 1] ns (k = 1 also holds 0). */
  hist: bigint[];
  perCpu: { count: bigint; totalNs: bigint }[];
}

/** Bucket bounds of slot k, as bcc prints them ("0 -> 1", "2 -> 3", "4 -> 7"...). */
export function slotRange(k: number): [bigint, bigint] {
  const high = (1n << BigInt(k)) - 1n;
  let low = (1n << BigInt(k)) >> 1n;
  if (low === high) low -= 1n;
  return [low < 0n ? 0n : low, high];
}

export class SoftirqTracer {
  private constructor(
    readonly names: string[],
    readonly entry: Program,
    readonly exit: Program,
    readonly start: ByteMap,
    readonly stats: ByteMap,
    readonly links: Link[],
  ) {}

  /**
   * Load and attach the two programs (root, or CAP_BPF with CAP_PERFMON). `names` names the
   * vectors in order (the rows of /proc/softirqs).
   */
  static start(names: string[]): SoftirqTracer {
    const made: { close(): void }[] = [];
    try {
      const start = BpfMap.create({ type: 'PERCPU_ARRAY', key: u32, value: bytes(16), maxEntries: 1, name: 'sw_sirq_start' });
      made.push(start);
      const stats = BpfMap.create({ type: 'PERCPU_ARRAY', key: u32, value: bytes(RECORD_BYTES), maxEntries: MAX_VECTORS, name: 'sw_sirq_stats' });
      made.push(stats);
      const entry = Program.load({ type: 'RAW_TRACEPOINT', name: 'sw_sirq_entry', instructions: entryProgram(start) });
      made.push(entry);
      const exit = Program.load({ type: 'RAW_TRACEPOINT', name: 'sw_sirq_exit', instructions: exitProgram(start, stats) });
      made.push(exit);
      // Exit first: an exit whose entry was not seen finds no timestamp and is skipped.
      const exitLink = new Link(rawTracepointOpen(exit.handle, 'softirq_exit'));
      made.push(exitLink);
      const entryLink = new Link(rawTracepointOpen(entry.handle, 'softirq_entry'));
      made.push(entryLink);
      return new SoftirqTracer(names, entry, exit, start, stats, [entryLink, exitLink]);
    } catch (e) {
      for (const m of made.reverse()) m.close();
      throw e;
    }
  }

  /** Cumulative figures since start, per vector. */
  read(): SoftirqTime[] {
    const out: SoftirqTime[] = [];
    for (let v = 0; v < Math.min(this.names.length, MAX_VECTORS); v++) {
      const perCpuRecords = this.stats.get(v) ?? [];
      const hist = Array.from({ length: HIST_SLOTS }, () => 0n);
      let count = 0n, totalNs = 0n;
      const perCpu = perCpuRecords.map((b) => {
        const c = b.readBigUInt64LE(0), t = b.readBigUInt64LE(8);
        count += c; totalNs += t;
        for (let k = 0; k < HIST_SLOTS; k++) hist[k]! += b.readBigUInt64LE(16 + k * 8);
        return { count: c, totalNs: t };
      });
      out.push({ vector: v, name: this.names[v]!, count, totalNs, hist, perCpu });
    }
    return out;
  }

  close(): void {
    for (const l of this.links) l.close();
    this.entry.close();
    this.exit.close();
    this.start.close();
    this.stats.close();
  }

  [Symbol.dispose](): void { this.close(); }
}

/** What happened between two readings. */
export function softirqTimeDelta(a: SoftirqTime[], b: SoftirqTime[]): SoftirqTime[] {
  return b.map((x, i) => {
    const p = a[i];
    if (!p) return x;
    return {
      ...x,
      count: x.count - p.count,
      totalNs: x.totalNs - p.totalNs,
      hist: x.hist.map((h, k) => h - (p.hist[k] ?? 0n)),
      perCpu: x.perCpu.map((c, j) => ({ count: c.count - (p.perCpu[j]?.count ?? 0n), totalNs: c.totalNs - (p.perCpu[j]?.totalNs ?? 0n) })),
    };
  });
}
