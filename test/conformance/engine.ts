// The engine abstraction: one table of cases (sysctl-cases.ts), several things that run them. An
// engine loads a program, attaches it to a cgroup and makes a process of that cgroup read or write
// a sysctl: the kernel (kernel-engine.ts) or the in-process interpreter with a simulated sysctl
// world (vm-engine.ts). runCase() drives an engine through one case; checkCase() compares what
// happened with what the case expects, the same way for every engine.

import assert from 'node:assert/strict';
import type { AttachTypeName } from '../../src/bpf/prog.js';
import type { SysctlAccess, SysctlCase } from './sysctl-cases.js';

/** Where an engine refused a program. `run`: the interpreter stopped it while running it. */
export type RejectStage = 'load' | 'attach' | 'run';

/** Thrown by an engine's load / attach / access when it refuses the program (not for test bugs). */
export class Rejected extends Error {
  override readonly name = 'Rejected';
  constructor(readonly stage: RejectStage, readonly reason: string) {
    super(`${stage === 'run' ? 'refused while running' : `${stage} rejected`}: ${reason}`);
  }
}

/** What the process saw. */
export interface AccessReport {
  /** null when the read or write succeeded; otherwise the errno name (EPERM, EIO, ENOENT, ...). */
  errno: string | null;
  /** The step that failed. */
  step?: 'open' | 'seek' | 'read' | 'write';
  /** The bytes a successful read returned (at most 128). */
  bytes?: Buffer;
  /** The key read before the access, outside the program's reach; undefined when that read fails. */
  valueBefore?: Buffer;
  /** The key read after the access, outside the program's reach; undefined when that read fails. */
  valueAfter?: Buffer;
  /** What the engine wants in the test's output (namespaces used, ...). */
  notes: string[];
  /**
   * Changes the access made outside what the case owns, which the engine found and undid (a global
   * value changed by a write that should have been refused). Any entry fails the case.
   */
  undone: string[];
}

export interface Engine<Loaded extends Disposable = Disposable> {
  readonly name: string;
  /**
   * Why this engine cannot check case `c` at all (the test is then skipped, the reason in its
   * name); undefined when it can.
   */
  cannotCheck(c: SysctlCase): string | undefined;
  /** What this engine checks of case `c` differently from the kernel, for the test's name; or undefined. */
  checksDifferently(c: SysctlCase): string | undefined;
  /**
   * Whether a Rejected('run') stands for a load rejection: an interpreter without a verifier finds,
   * while running, what the verifier refuses at load.
   */
  readonly runRefusalMeansLoadRejected: boolean;
  /** Runs `f` with a fresh, empty cgroup (a real one, or the engine's model of one), removed after. */
  withCgroup<T>(f: (cgroup: string) => Promise<T>): Promise<T>;
  /** Loads a cgroup-sysctl program; throws Rejected('load') when it is refused. */
  load(c: SysctlCase): Loaded;
  /** Attaches; throws Rejected('attach') when it is refused. Disposing detaches. */
  attach(cgroup: string, program: Loaded, attachType: AttachTypeName): Disposable;
  /** A process of `cgroup` makes the access; Rejected('run') if the engine stopped the program. */
  access(cgroup: string, access: SysctlAccess): Promise<AccessReport>;
}

export type Outcome = RefusedOutcome | AccessOutcome;
export interface RefusedOutcome { kind: 'load-rejected' | 'attach-rejected'; stage: RejectStage; reason: string }
export interface AccessOutcome { kind: 'EPERM' | 'success' | 'other-error'; report: AccessReport }
const accessed = (o: Outcome): o is AccessOutcome => 'report' in o;

/** Loads, attaches and accesses in a fresh cgroup; what happened, without judging it. */
export async function runCase(engine: Engine, c: SysctlCase): Promise<Outcome> {
  return engine.withCgroup(async (cgroup) => {
    let program: Disposable;
    try {
      program = engine.load(c);
    } catch (e) {
      if (e instanceof Rejected) return { kind: 'load-rejected', stage: 'load', reason: e.reason };
      throw e;
    }
    try {
      let attachment: Disposable;
      try {
        attachment = engine.attach(cgroup, program, c.attachType);
      } catch (e) {
        if (e instanceof Rejected) return { kind: 'attach-rejected', stage: 'attach', reason: e.reason };
        throw e;
      }
      try {
        let report: AccessReport;
        try {
          report = await engine.access(cgroup, c.access);
        } catch (e) {
          if (e instanceof Rejected && engine.runRefusalMeansLoadRejected) return { kind: 'load-rejected', stage: 'run', reason: e.reason };
          throw e;
        }
        const refused = report.errno === 'EPERM' && (report.step === 'read' || report.step === 'write');
        return { kind: report.errno === null ? 'success' : refused ? 'EPERM' : 'other-error', report };
      } finally {
        attachment[Symbol.dispose]();
      }
    } finally {
      program[Symbol.dispose]();
    }
  });
}

const show = (b: Buffer | undefined): string => (b === undefined ? '(unreadable)' : JSON.stringify(b.toString('latin1')));

function describe(o: Outcome): string {
  if (!accessed(o)) return `${o.kind} at ${o.stage}: ${o.reason}`;
  const r = o.report;
  const what = r.errno === null ? 'succeeded' : `failed at ${r.step ?? '?'} with ${r.errno}`;
  const bytes = r.bytes ? `, read ${show(r.bytes)}` : '';
  return `the access ${what}${bytes}; value before ${show(r.valueBefore)}, after ${show(r.valueAfter)}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`;
}

/** Fails (assert) unless `o` is what case `c` expects. */
export function checkCase(c: SysctlCase, o: Outcome): void {
  const context = `case ${c.id} (${c.selftest}) expects ${c.expect}; ${describe(o)}`;
  if (accessed(o)) assert.deepEqual(o.report.undone, [], `the access changed what the case does not own (restored); ${context}`);
  if (accessed(o) && c.relies) {
    for (const [name, value] of Object.entries(c.relies)) {
      if (name !== c.access.sysctl) continue;
      assert.equal(o.report.valueBefore?.toString('latin1'), value, `broken precondition: the program embeds ${JSON.stringify(value)} as ${name}'s value; ${context}`);
    }
  }
  assert.equal(o.kind, c.expect, context);
  if (!accessed(o) || c.expect !== 'success') return;
  const r = o.report;
  if (c.readBack !== undefined) assert.equal(show(r.bytes), show(Buffer.from(c.readBack, 'latin1')), `read back; ${context}`);
  if (c.valueAfter !== undefined) {
    const hint = c.kernels ? ` (${c.kernels})` : '';
    assert.equal(show(r.valueAfter), show(Buffer.from(c.valueAfter, 'latin1')), `value after the write${hint}; ${context}`);
  }
}
