// `sysward run`: a command in a fresh cgroup guarded by a policy, the cgroup removed after.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { attachCgroup } from '../../bpf/link.js';
import { RingBufReader } from '../../bpf/ringbuf.js';
import { findCgroup2Mount, removeCgroup, cgroupId } from '../../cgroup/hierarchy.js';
import type { Policy } from '../model.js';
import { decodeEvent, type GuardEvent } from './events.js';
import { loadGuard } from './loaded.js';
import { dropsCounterIndex } from '../compiler/abi.js';

export interface RunResult {
  /** The command's exit status; 128 + signal number when a signal ended it. */
  status: number;
  events: GuardEvent[];
  /** Events the ring buffer had no room for (counted by the program). */
  dropped: bigint;
}

export interface RunOptions {
  /** Called for each event as it arrives. */
  onEvent?: (e: GuardEvent) => void;
  /** Where the child's stdio goes (default: inherited). */
  stdio?: 'inherit' | 'pipe' | 'ignore';
  /** Extra environment for the child. */
  env?: NodeJS.ProcessEnv;
}

export async function runGuarded(policy: Policy, argv: string[], o: RunOptions = {}): Promise<RunResult & { stdout?: string; stderr?: string }> {
  if (argv.length === 0) throw new Error('no command to run');
  const root = findCgroup2Mount();
  const cgroup = mkdtempSync(join(root, 'sysward-run-'));
  const cgName = `/${cgroup.slice(root.length + 1)}`;
  const cgId = cgroupId(cgroup);
  const events: GuardEvent[] = [];
  try {
    using guard = loadGuard(policy, { eventsBytes: 1 << 20 });
    using link = attachCgroup({ cgroup, program: guard.program, attachType: 'CGROUP_SYSCTL' });
    const reader = new RingBufReader(guard.maps.events);
    const deliver = (rec: Buffer) => {
      const e = decodeEvent(rec, policy, (id) => (id === cgId ? cgName : undefined));
      events.push(e);
      o.onEvent?.(e);
    };
    const consuming = reader.consume(deliver);
    // The shell joins the cgroup, then becomes the command: nothing runs unguarded in between.
    const child = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv], {
      stdio: o.stdio ?? 'inherit', env: { ...process.env, ...o.env },
    });
    let stdout = '', stderr = '';
    child.stdout?.on('data', (d) => { stdout += d; });
    child.stderr?.on('data', (d) => { stderr += d; });
    const status = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    killLeftovers(cgroup);
    reader.drain(deliver);
    await reader.close();
    await consuming;
    let dropped = 0n;
    for (const v of guard.maps.counters.get(dropsCounterIndex(guard.tables.nRules)) ?? []) dropped += v;
    link.detach();
    return { status, events, dropped, ...(o.stdio === 'pipe' ? { stdout, stderr } : {}) };
  } finally {
    removeCgroup(cgroup);
  }
}

/** Processes the command left behind (daemons) would keep the cgroup alive: end them. */
function killLeftovers(cgroup: string): void {
  const kill = join(cgroup, 'cgroup.kill');
  if (existsSync(kill)) { try { writeFileSync(kill, '1'); } catch { /* nothing left */ } }
}

