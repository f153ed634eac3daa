// Runs a policy's accesses on the real kernel: the compiled guard attached to a fresh cgroup, a
// child in private namespaces doing each access, the events of each access collected between them.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { attachCgroup } from '../../../src/bpf/link.js';
import { RingBufReader } from '../../../src/bpf/ringbuf.js';
import { findCgroup2Mount, removeCgroup } from '../../../src/cgroup/hierarchy.js';
import type { Policy } from '../../../src/guard/model.js';
import { loadGuard } from '../../../src/guard/runtime/loaded.js';
import { decodeEvent, type GuardEvent } from '../../../src/guard/runtime/events.js';
import { repoRoot } from '../../helpers/paths.js';
import { pythonExecutable } from '../../helpers/env.js';
import type { Access } from './universe.js';

export interface Observed { errno: number; current: string | null; events: GuardEvent[] }

const childScript = () => join(repoRoot(), 'test/guard/differential/child.py');

export async function runOnKernel(policy: Policy, accesses: Access[]): Promise<Observed[]> {
  const root = findCgroup2Mount();
  const guarded = mkdtempSync(join(root, 'sysward-test-diff-'));
  const observer = mkdtempSync(join(root, 'sysward-test-obs-'));
  try {
    // Every access sends its event: the reference expects one per access (no rate limit).
    using guard = loadGuard(policy, { eventsBytes: 1 << 20, eventsPerSecond: 0 });
    using link = attachCgroup({ cgroup: guarded, program: guard.program, attachType: 'CGROUP_SYSCTL' });
    const reader = new RingBufReader(guard.maps.events);
    const child = spawn('unshare', ['--uts', '--net', '--ipc', pythonExecutable(), childScript(), guarded, observer], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const out: Observed[] = [];
    try {
      for (const a of accesses) {
        child.stdin!.write(`${JSON.stringify(a)}\n`);
        const { value, done } = await lines.next();
        if (done) throw new Error('the differential child exited early');
        const r = JSON.parse(value as string) as { errno: number; current: string | null };
        const events: GuardEvent[] = [];
        reader.drain((rec) => events.push(decodeEvent(rec, policy)));
        out.push({ ...r, events });
        child.stdin!.write('next\n');
      }
    } finally {
      child.stdin!.end();
      await new Promise((res) => child.on('close', res));
      await reader.close();
      link.detach();
    }
    return out;
  } finally {
    removeCgroup(guarded);
    removeCgroup(observer);
  }
}
