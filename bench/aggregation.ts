// 10. Accounting by kind under a flood: the program's cost per refused write, and the daemon's
//    CPU, with the first events of each kind sent and the rest counted (summaries), against the
//    program before it (every refusal an event, the rest dropped when the ring buffer is full),
//    side by side in one run.
import { attachCgroup } from '../src/bpf/link.js';
import { enableStats } from '../src/bpf/sys/bpf.js';
import { RingBufReader } from '../src/bpf/ringbuf.js';
import { loadGuard } from '../src/guard/runtime/loaded.js';
import { parsePolicy } from '../src/guard/policy/index.js';
import { decodeEvent } from '../src/guard/runtime/events.js';
import { buildC, parseWriter, runIn, stats, withCgroup, type Stats } from './lib.js';

const WRITES = 200_000;

export interface AggregationCase { todayNs: Stats; nowNs: Stats; sendingNs: Stats; todayEvents: Stats; nowEvents: Stats }
/** `rule`: the refused key has a rule of its own; `default`: no rule names it (the default refuses). */
export interface AggregationBench { rule: AggregationCase; default: AggregationCase }

export async function benchAggregation(progress: (s: string) => void): Promise<AggregationBench> {
  const writer = buildC('writer');
  using bpfStats = enableStats();
  void bpfStats;
  const policies = {
    rule: parsePolicy('name: bench-agg\ndefault: allow\nrules:\n  - { key: kernel.hostname, action: deny }\n', 'bench-agg.yaml'),
    // A flood of a key only the default decides: its kind is told apart by its name as well.
    default: parsePolicy('name: bench-agg-default\ndefault: deny\nrules:\n  - { key: kernel.domainname, action: allow }\n', 'bench-agg-default.yaml'),
  };
  const variants = {
    today: { aggregate: false },
    now: {},
    // Every access both counted and sent: the cost of counting alone, on the event path.
    sending: { eventsPerSecond: 0 },
  } as const;
  type Variant = keyof typeof variants;
  const empty = () => ({ today: [] as number[], now: [] as number[], sending: [] as number[] });
  const samples = { rule: empty(), default: empty() };
  const events = { rule: empty(), default: empty() };
  return await withCgroup(async (cg) => {
    for (let round = 0; round < 7; round++) {
      for (const which of ['rule', 'default'] as const) {
        const policy = policies[which];
        for (const [name, o] of Object.entries(variants) as [Variant, object][]) {
          using g = loadGuard(policy, { ...o, eventsBytes: 256 * 1024 });
          using link = attachCgroup({ cgroup: cg, program: g.program, attachType: 'CGROUP_SYSCTL' });
          // A reader as the daemon's (decode each event), so the ring buffer is drained as in use.
          const reader = new RingBufReader(g.maps.events);
          let n = 0;
          const consuming = reader.consume((rec) => { decodeEvent(rec, policy); n++; });
          const a = g.program.info();
          const w = parseWriter(runIn(cg, [writer, 'kernel/hostname', 'x', String(WRITES)]));
          const b = g.program.info();
          if (w.refused !== WRITES) throw new Error(`expected ${WRITES} refused writes, got ${w.refused}`);
          reader.drain(() => { n++; });
          await reader.close();
          await consuming;
          link.detach();
          samples[which][name].push(Number(b.runTimeNs - a.runTimeNs) / Number(b.runCount - a.runCount));
          events[which][name].push(n);
        }
      }
      progress(`aggregation: round ${round + 1} of 7`);
    }
    const result = (w: 'rule' | 'default'): AggregationCase => ({
      todayNs: stats(samples[w].today), nowNs: stats(samples[w].now), sendingNs: stats(samples[w].sending), todayEvents: stats(events[w].today), nowEvents: stats(events[w].now),
    });
    return { rule: result('rule'), default: result('default') };
  });
}
