// Softirqs: the /proc parsers on fixtures; sysward's rates bracketed by /proc/softirqs deltas; the
// eBPF timer on the real kernel under loopback traffic and timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseInterrupts, parseProcStat, parseSoftirqs, readSoftirqSnapshot, softirqRates } from '../../src/observe/softirqs.js';
import { HIST_SLOTS, SoftirqTracer, slotRange, softirqTimeDelta } from '../../src/observe/softirq-tracer.js';
import { kernel } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));

const SOFTIRQS = `                    CPU0       CPU1
          HI:          0          1
       TIMER:      49582      62820
      NET_RX:       2722       3486
`;
const STAT = `cpu  100 0 50 800 10 0 40 0 0 0
cpu0 50 0 25 400 5 0 20 0 0 0
cpu1 50 0 25 400 5 0 20 0 0 0
softirq 100 1 2 3
`;
const INTERRUPTS = `           CPU0       CPU1
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
LOC:     352652     379268   Local timer interrupts
ERR:          0
`;

test('parsers: /proc/softirqs, /proc/stat, /proc/interrupts', () => {
  const s = parseSoftirqs(SOFTIRQS);
  assert.deepEqual(s.cpus, [0, 1]);
  assert.deepEqual(s.types, ['HI', 'TIMER', 'NET_RX']);
  assert.deepEqual(s.counts[1], [49582n, 62820n]);
  const st = parseProcStat(STAT);
  assert.equal(st.all.softirq, 40n);
  assert.equal(st.perCpu.get(1)!.idle, 400n);
  assert.equal(st.softirqTotal, 100n);
  const i = parseInterrupts(INTERRUPTS);
  assert.deepEqual(i.lines.map((l) => [l.irq, l.counts.length, l.description]), [['24', 2, 'IO-APIC 5-edge ACPI:Ged'], ['LOC', 2, 'Local timer interrupts'], ['ERR', 1, '']]);
});

test('rates: deltas over the interval, per CPU and in total; softirq share of CPU ticks', () => {
  const a = { atNs: 0n, softirqs: parseSoftirqs(SOFTIRQS), stat: parseProcStat(STAT), interrupts: parseInterrupts(INTERRUPTS) };
  const b = {
    atNs: 2_000_000_000n,
    softirqs: parseSoftirqs(SOFTIRQS.replace('49582', '49602').replace('3486', '3496')),
    stat: parseProcStat(STAT.replace('cpu0 50 0 25 400 5 0 20', 'cpu0 60 0 25 480 5 0 30')),
    interrupts: parseInterrupts(INTERRUPTS.replace('352652', '352852')),
  };
  const r = softirqRates(a, b);
  assert.equal(r.intervalS, 2);
  assert.deepEqual(r.types.find((t) => t.name === 'TIMER')!.perCpu, [10, 0]);
  assert.equal(r.types.find((t) => t.name === 'NET_RX')!.total, 5);
  assert.equal(r.types.find((t) => t.name === 'NET_RX')!.count, 10n);
  assert.equal(r.cpuPercent.perCpu[0], 10); // 10 softirq ticks of 100
  assert.equal(r.hardIrqs!.perCpu[0], 100);
  assert.equal(slotRange(1).join(), '0,1');
  assert.equal(slotRange(3).join(), '4,7');
});

const total = (counts: bigint[][], row: number) => counts[row]!.reduce((s, x) => s + x, 0n);

test('sysward softirqs --json: each count lies within the /proc/softirqs deltas around the run', () => {
  const before = parseSoftirqs(readFileSync('/proc/softirqs', 'utf8'));
  const r = spawnSync(bin, ['softirqs', '--interval', '0.5', '--json'], { encoding: 'utf8' });
  const after = parseSoftirqs(readFileSync('/proc/softirqs', 'utf8'));
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { intervalS: number; types: { name: string; count: number; perCpu: number[]; total: number }[]; cpuPercent: { all: number | null } };
  assert.ok(j.intervalS >= 0.5 && j.intervalS < 2, `interval ${j.intervalS}`);
  for (const t of j.types) {
    const row = after.types.indexOf(t.name);
    assert.ok(row >= 0, t.name);
    assert.ok(t.count >= 0 && BigInt(t.count) <= total(after.counts, row) - total(before.counts, row), `${t.name}: ${t.count} within the bracketing delta`);
    assert.ok(Math.abs(t.total * j.intervalS - t.count) < 1e-6 * Math.max(1, t.count), `${t.name}: rate × interval = count`);
  }
});

/** Loopback UDP traffic: every datagram is received through the NET_RX softirq. */
async function loopbackTraffic(datagrams: number): Promise<number> {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  let received = 0;
  rx.on('message', () => { received++; });
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const port = rx.address().port;
  const payload = Buffer.alloc(64);
  for (let i = 0; i < datagrams; i++) {
    await new Promise<void>((r, j) => tx.send(payload, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  }
  await new Promise((r) => setTimeout(r, 200));
  tx.close(); rx.close();
  return received;
}

test('kernel: the eBPF softirq timer counts what /proc/softirqs counts and measures plausible times', kernel(), async () => {
  const z = readSoftirqSnapshot();
  const names = z.softirqs.types;
  using tracer = SoftirqTracer.start(names);
  const a = readSoftirqSnapshot();
  const t0 = tracer.read();
  const received = await loopbackTraffic(2000);
  await new Promise((r) => setTimeout(r, 300)); // timers fire meanwhile
  const b = readSoftirqSnapshot();
  const t1 = tracer.read();
  const c = readSoftirqSnapshot();
  const d = softirqTimeDelta(t0, t1);
  const whole = tracer.read();
  assert.ok(received > 0, `${received} datagrams came back over loopback`);
  for (const name of ['NET_RX', 'TIMER']) {
    const v = names.indexOf(name);
    const procDelta = total(b.softirqs.counts, v) - total(a.softirqs.counts, v);
    const x = d[v]!;
    // The tracer's window (t0..t1) lies inside /proc's outer window and holds its inner one; a
    // few executions on idle CPUs are not delivered to BPF on some kernels (see docs/observe.md).
    assert.ok(x.count <= total(c.softirqs.counts, v) - total(z.softirqs.counts, v), `${name}: traced ${x.count} ≤ outer /proc delta`);
    assert.ok(Number(x.count) >= Number(procDelta) * 0.85 - 4, `${name}: traced ${x.count} vs /proc ${procDelta}`);
    assert.ok(x.count > 0n, `${name} ran`);
    const avg = Number(x.totalNs) / Number(x.count);
    assert.ok(avg > 50 && avg < 10_000_000, `${name}: average ${avg} ns is plausible`);
    assert.equal(x.hist.reduce((s, h) => s + h, 0n), x.count, `${name}: the histogram holds every run`);
    assert.equal(x.perCpu.reduce((s, p) => s + p.count, 0n), x.count);
    assert.equal(x.hist.length, HIST_SLOTS);
  }
  const netRx = d[names.indexOf('NET_RX')]!;
  assert.ok(netRx.count >= 100n, `loopback traffic raised NET_RX (${netRx.count})`);
  assert.ok(whole.every((w, i) => w.count >= t1[i]!.count && w.totalNs >= t1[i]!.totalNs), 'counts and times only rise');
});

test('kernel: sysward softirqs --bpf --hist --json reports times per type', kernel(), () => {
  const r = spawnSync(bin, ['softirqs', '--bpf', '--hist', '--interval', '0.5', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { bpf: { name: string; count: number; totalNs: number; hist: { lowNs: number; highNs: number; count: number }[] }[] };
  const timer = j.bpf.find((t) => t.name === 'TIMER')!;
  assert.ok(timer.count > 0, 'timers ran within half a second');
  assert.equal(timer.hist.reduce((s, h) => s + h.count, 0), timer.count);
  assert.ok(timer.hist.every((h) => h.lowNs <= h.highNs));
});
