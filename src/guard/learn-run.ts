// `sysward learn -- CMD…`: run a command in a fresh cgroup under a guard that refuses nothing and
// reports every write (every read too, when asked), feeding each access to the learner (learn.ts).
//
// Every access, not the first ten a second: the guard normally sends at most
// DEFAULT_EVENTS_PER_SECOND events per kind of access and counts the rest, and a kind is (rule,
// key, cgroup, uid, command, verdict, reason), not the value, so a script writing eleven values to
// one key in a second would have its eleventh value counted but never shown. The learning guard is
// compiled with eventsPerSecond 0 (no limit) and a large ring buffer; what the buffer still could
// not hold comes back as counts without values (`summaries`), which the learner records as such.
import type { Policy } from './model.js';
import { runGuarded, type RunResult } from './runtime/run.js';
import type { GuardEvent, GuardSummary } from './runtime/events.js';
import type { Learner, Observation } from './learn.js';
import { namespaceSupport } from './runtime/namespaces.js';

/** The learning guard's ring buffer: about 33,000 events between two reads of it. */
export const LEARN_EVENTS_BYTES = 16 << 20;

/** The guard `learn` runs a command under: default audit (allow and report) for writes, and reads with `reads`. */
export function learningPolicy(reads: boolean): Policy {
  return {
    name: 'sysward-learn', mode: 'enforce',
    defaults: { write: 'audit', read: reads ? 'audit' : 'allow' },
    scope: { cgroups: [], containers: false, host: false, exempt: [] },
    rules: [],
    origin: 'sysward learn',
  };
}

/** An event or a summary as the learner takes it. */
export function observationOf(e: GuardEvent | GuardSummary): Observation {
  if ('type' in e && e.type === 'summary') return { access: e.access, key: e.key, count: e.count, from: e.from, to: e.to, comm: e.comm };
  const ev = e as GuardEvent;
  return {
    access: ev.access, key: ev.key, count: 1, from: ev.time, to: ev.time, comm: ev.comm, filePos: ev.filePos,
    ...(ev.access === 'write' ? { value: ev.newValue } : {}),
    ...(ev.namespaces ? { namespaces: ev.namespaces } : {}),
  };
}

export interface LearnRunOptions {
  reads?: boolean;
  /** The command in a mount namespace of its own, followed if it leaves its cgroup (sysward run --namespaces). */
  ownNamespace?: boolean;
  stdio?: 'inherit' | 'pipe' | 'ignore';
  /** The command's standard output to our standard error (learn --json prints JSON on ours). */
  stdoutToStderr?: boolean;
  /** Each event as it arrives (after the learner has it). */
  onEvent?: (e: GuardEvent) => void;
}

/** Run argv under the learning guard; every access it made is in `learner` when this resolves. */
export async function learnFromCommand(argv: string[], learner: Learner, o: LearnRunOptions = {}): Promise<Omit<RunResult, 'events'> & { stdout?: string; stderr?: string }> {
  // The host's namespaces, read here (kthreadd's): which writes came from the command's own.
  const ns = namespaceSupport();
  if ('facts' in ns) learner.hostNamespaces ??= ns.facts.host;
  const r = await runGuarded(learningPolicy(!!o.reads), argv, {
    eventsPerSecond: 0, eventsBytes: LEARN_EVENTS_BYTES, keepEvents: false,
    ...(o.ownNamespace ? { ownNamespace: true } : {}),
    ...(o.stdio ? { stdio: o.stdio } : {}),
    ...(o.stdoutToStderr ? { stdoutToStderr: true } : {}),
    onEvent: (e) => { learner.observe(observationOf(e)); o.onEvent?.(e); },
  });
  for (const s of r.summaries) learner.observe(observationOf(s));
  const { events: _, ...rest } = r;
  return rest;
}
