// 4. Audit pipeline: refused writes per second from one and two writers, events delivered per
//    second, drops, and the reader's CPU time: sysward's TypeScript reader (counting only, and
//    decoding to JSON as the daemon does) against libbpf's ring_buffer in C on the same buffer.
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { RingBufReader } from '../src/bpf/ringbuf.js';
import { findCgroup2Mount } from '../src/cgroup/hierarchy.js';
import { applyGuard, guardStatus, guardsDir, removeGuard } from '../src/guard/runtime/apply.js';
import { decodeEvent, eventJson } from '../src/guard/runtime/events.js';
import { pinnedSuppressed } from '../src/guard/runtime/agg.js';
import { guardPins } from '../src/guard/runtime/layout.js';
import type { Policy } from '../src/guard/model.js';
import { buildC, withCgroup } from './lib.js';
import { DEFAULT_EVENTS_CPU_SHARE } from '../src/daemon/daemon.js';

export interface AuditRow {
  reader: string; writers: number; refused: number; wallMs: number; writesPerSec: number;
  delivered: number; dropped: number; deliveredPerSec: number; readerCpuMs: number; readerCores: number;
}

const WRITES = 200_000;

/** Accesses a guard counted without sending an event (its agg map's suppressed counts, all CPUs). */
const suppressedOf = (name: string): number => Number(pinnedSuppressed(guardPins(name)));

function runWriters(writer: string, cg: string, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  return Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    const c = spawn('unshare', ['--uts', 'sh', '-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg, writer, 'kernel/hostname', 'x', String(WRITES)], { stdio: 'ignore' });
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  }))).then(() => Number(process.hrtime.bigint() - t0) / 1e6);
}

export async function benchAudit(progress: (s: string) => void): Promise<AuditRow[]> {
  const writer = buildC('writer');
  const reader = buildC('ringbuf_reader', ['-lbpf']);
  const rows: AuditRow[] = [];
  for (const mode of ['ts-count', 'ts-daemon', 'c-libbpf'] as const) {
    for (const writers of [1, 2]) {
      await withCgroup(async (cg) => {
        const name = `sysward-bench-audit-${process.pid}`;
        const policy: Policy = {
          name, mode: 'enforce', defaults: { write: 'allow', read: 'allow' },
          scope: { cgroups: [`/${relative(findCgroup2Mount(), cg)}`], containers: false, host: false, exempt: [] },
          rules: [{ index: 0, key: { text: 'kernel.hostname', segments: ['kernel', 'hostname'], kind: 'exact', wildcard: null }, action: 'deny', reads: 'allow' }],
        };
        applyGuard(policy, { eventsPerSecond: 0 }); // every refusal an event: this measures the readers
        const pin = join(guardsDir(), name, 'events');
        try {
          let delivered = 0, cpuMs = 0, wallMs = 0;
          if (mode === 'c-libbpf') {
            const c = spawn(reader, [pin, '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            c.stdout.on('data', (d) => { out += d; });
            const done = new Promise<void>((r) => c.on('close', () => r()));
            await new Promise((r) => setTimeout(r, 100));
            wallMs = await runWriters(writer, cg, writers);
            await done;
            const [recs, user, sys] = out.trim().split(' ').map(Number);
            delivered = recs!; cpuMs = (user! + sys!) / 1000;
          } else {
            const r = new RingBufReader(pin);
            const cpu0 = process.cpuUsage();
            const handle = mode === 'ts-count' ? () => { delivered++; } : (rec: Buffer) => { eventJson(decodeEvent(rec, policy)); delivered++; };
            // The daemon's reader rests to stay under its share of a core (src/daemon/daemon.ts).
            const consuming = r.consume(handle, mode === 'ts-daemon' ? { maxCpuShare: DEFAULT_EVENTS_CPU_SHARE } : {});
            wallMs = await runWriters(writer, cg, writers);
            r.drain(handle);
            await r.close();
            await consuming;
            const cpu = process.cpuUsage(cpu0);
            cpuMs = (cpu.user + cpu.system) / 1000;
          }
          const s = guardStatus(name);
          const refused = Number(s.counters[0]!.refused);
          // A full ring buffer is counted in the kind's agg entry (suppressed), not as a drop.
          const dropped = Number(s.droppedEvents) + suppressedOf(name);
          rows.push({
            reader: mode === 'ts-count' ? 'TypeScript RingBufReader, counting' : mode === 'ts-daemon' ? 'TypeScript RingBufReader + decode + JSON (the daemon\'s path)' : 'C, libbpf ring_buffer',
            writers, refused, wallMs, writesPerSec: refused / (wallMs / 1000), delivered, dropped,
            deliveredPerSec: delivered / (wallMs / 1000), readerCpuMs: cpuMs, readerCores: cpuMs / wallMs,
          });
        } finally { removeGuard(name); }
      });
      progress(`audit ${mode} ${writers} writer(s) done`);
    }
  }
  return rows;
}
