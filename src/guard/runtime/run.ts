// `sysward run`: a command in a fresh cgroup guarded by a policy, the cgroup removed after.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { attachCgroup } from '../../bpf/link.js';
import { RingBufReader } from '../../bpf/ringbuf.js';
import { findCgroup2Mount, removeCgroup, cgroupId } from '../../cgroup/hierarchy.js';
import type { Policy } from '../model.js';
import { decodeAggKind, decodeEvent, wallTime, type GuardEvent, type GuardSummary } from './events.js';
import { aggKinds } from './agg.js';
import { loadGuard, type LoadedGuard } from './loaded.js';
import { GuardInputError } from './errors.js';
import { encodeBinding } from './bindings.js';
import { mountNamespaceKey, mountNamespaceOf, namespaceSupport } from './namespaces.js';
import { AggKey, dropsCounterIndex, VERDICT_NAMES } from '../compiler/abi.js';

export interface RunResult {
  /** The command's exit status; 128 + signal number when a signal ended it. */
  status: number;
  events: GuardEvent[];
  /** Events the ring buffer had no room for (counted by the program). */
  dropped: bigint;
  /**
   * Accesses counted but not sent as events (over the per-kind event rate, or the ring buffer
   * full), by verdict: events + these = what the guard decided.
   */
  summarised: Record<string, number>;
  /** The same accesses by kind (key, command, verdict, …), as the daemon's summary lines. */
  summaries: GuardSummary[];
}

export interface RunOptions {
  /** Called for each event as it arrives. */
  onEvent?: (e: GuardEvent) => void;
  /** Where the child's stdio goes (default: inherited). */
  stdio?: 'inherit' | 'pipe' | 'ignore';
  /** Extra environment for the child. */
  env?: NodeJS.ProcessEnv;
  /**
   * Start the command in a mount namespace of its own, bound to the guard: it stays guarded if
   * it (or anything it starts) moves to another cgroup (the follower, docs/guard.md).
   */
  ownNamespace?: boolean;
  /** Events each kind of access sends per second (default DEFAULT_EVENTS_PER_SECOND; 0: every access). */
  eventsPerSecond?: number;
  /** Size of the ring buffer (default 1 MiB). */
  eventsBytes?: number;
  /** The command's standard output goes to our standard error (ours carries JSON: learn --json). */
  stdoutToStderr?: boolean;
  /** false: events go to onEvent only, not into the result (a long run keeps no list). */
  keepEvents?: boolean;
}

export async function runGuarded(policy: Policy, argv: string[], o: RunOptions = {}): Promise<RunResult & { stdout?: string; stderr?: string }> {
  if (argv.length === 0) throw new Error('no command to run');
  const root = findCgroup2Mount();
  const cgroup = mkdtempSync(join(root, 'sysward-run-'));
  const cgName = `/${cgroup.slice(root.length + 1)}`;
  const cgId = cgroupId(cgroup);
  const events: GuardEvent[] = [];
  try {
    using guard = loadGuard(policy, { eventsBytes: o.eventsBytes ?? 1 << 20, follow: !!o.ownNamespace, ...(o.eventsPerSecond !== undefined ? { eventsPerSecond: o.eventsPerSecond } : {}) });
    if (o.ownNamespace && !guard.follow) throw new GuardInputError(`--namespaces: the guard cannot follow the command here: ${guard.namespacesUnavailable ?? 'the kernel does not let it read the writer\'s namespaces'} (see sysward probe)`);
    using link = attachCgroup({ cgroup, program: guard.program, attachType: 'CGROUP_SYSCTL' });
    using follower = guard.follow ? attachCgroup({ cgroup: root, program: guard.follow, attachType: 'CGROUP_SYSCTL' }) : undefined;
    const reader = new RingBufReader(guard.maps.events);
    const deliver = (rec: Buffer) => {
      const e = decodeEvent(rec, policy, (id) => (id === cgId ? cgName : id === 1n ? '/' : undefined));
      if (o.keepEvents !== false) events.push(e);
      o.onEvent?.(e);
    };
    const consuming = reader.consume(deliver);
    // The shell joins the cgroup, then becomes the command: nothing runs unguarded in between.
    // With a namespace of its own it first waits (on fd 3) until that namespace is bound.
    const script = o.ownNamespace
      ? 'echo $$ > "$0/cgroup.procs" && exec unshare --mount --propagation unchanged -- sh -c \'read _ <&3 && exec 3<&- && exec "$@"\' sh "$@"'
      : 'echo $$ > "$0/cgroup.procs" && exec "$@"';
    const stdio = o.stdio ?? 'inherit';
    const streams = [stdio, o.stdoutToStderr ? 2 : stdio, stdio];
    const child = spawn('/bin/sh', ['-c', script, cgroup, ...argv], {
      stdio: o.ownNamespace ? [...streams, 'pipe'] : streams, env: { ...process.env, ...o.env },
    });
    if (o.ownNamespace) await bindChild(child, guard, cgId, cgName);
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
    follower?.detach();
    const summarised: Record<string, number> = {};
    const summaries: GuardSummary[] = [];
    const name = (id: bigint) => (id === cgId ? cgName : id === 1n ? '/' : undefined);
    for (const { key, counts: c } of aggKinds(guard.maps)) {
      const n = Number(c.suppressed);
      if (n) {
        const verdict = VERDICT_NAMES[key.readUInt8(AggKey.VERDICT)]!;
        summarised[verdict] = (summarised[verdict] ?? 0) + n;
        const to = wallTime(c.last);
        summaries.push({ type: 'summary', time: to, ...decodeAggKind(key, policy, name), count: n, from: wallTime(c.first), to });
      }
    }
    return { status, events, dropped, summarised, summaries, ...(o.stdio === 'pipe' ? { stdout, stderr } : {}) };
  } finally {
    removeCgroup(cgroup);
  }
}

/** Processes the command left behind (daemons) would keep the cgroup alive: end them. */
function killLeftovers(cgroup: string): void {
  const kill = join(cgroup, 'cgroup.kill');
  if (existsSync(kill)) { try { writeFileSync(kill, '1'); } catch { /* nothing left */ } }
}


/**
 * Wait until the child is in its own mount namespace (unshare done, waiting on fd 3), bind that
 * namespace to the command's cgroup, then let it run the command.
 */
async function bindChild(child: ChildProcess, guard: LoadedGuard, cgId: bigint, cgName: string): Promise<void> {
  const ns = namespaceSupport();
  if (!('facts' in ns) || !guard.maps.bound || child.pid === undefined) throw new GuardInputError('--namespaces: the guard cannot follow the command here (see sysward probe)');
  // Unshared: different from ours (which may not be the host's: sysward run from a private one).
  const ours = mountNamespaceOf(process.pid);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return; // it failed before (no unshare?); its status says why
    const mnt = mountNamespaceOf(child.pid);
    if (mnt !== undefined && mnt !== ours && mnt !== ns.facts.host.mnt) break;
    if (Date.now() > deadline) throw new Error('--namespaces: the command did not get a mount namespace of its own within 10 s (is unshare(1) from util-linux installed?)');
    await new Promise((r) => setTimeout(r, 2));
  }
  const key = mountNamespaceKey(child.pid, ns.facts.layout);
  if (key === undefined) return;
  guard.maps.bound.set(key, encodeBinding(cgId, cgName.split('/').filter(Boolean).length));
  const go = child.stdio[3] as Writable;
  go.end('\n');
}
