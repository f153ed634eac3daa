// A compiled guard in sysward's eBPF interpreter: the same spec as in the kernel (loaded.ts:
// compileGuard, loaded by the interpreter's loader), run on simulated accesses — no root, no BPF needed. `explain`, `test`
// and the differential tests stand on it.
import { type VmProgram, type VmRingBuf, type VmSysctlRunResult, type VmTask, type TypedVmMap } from '../../bpf/vm/index.js';
import { loadVmCollection } from '../../bpf/vm/collection.js';
import type { Policy } from '../model.js';
import { compileGuard, dropsCounterIndex, GUARD_PROGRAM, type GuardTables } from '../compiler/index.js';
import { decodeEvent, type GuardEvent } from './events.js';

export interface VmAccess {
  /** Kernel name (kernel/hostname). */
  key: string;
  write: boolean;
  /** The bytes written (writes). */
  value?: string;
  filePos?: number;
  /** The key's value as /proc shows it; null: reading it fails. */
  current?: string | null;
  task?: VmTask;
}

export interface VmOutcome {
  /** What the program returned: true lets the access through. */
  allowed: boolean;
  /** The events the program emitted for this access. */
  events: GuardEvent[];
  /** The value the kernel would store instead of the written one (override), when there is one. */
  stored?: string;
  instructions: number;
}

export const DEFAULT_TASK: VmTask = { pid: 4242, tgid: 4242, uid: 0, gid: 0, comm: 'sysward-vm', cgroupId: 1n, ktimeNs: 1_000_000_000n };

export class VmGuard {
  readonly tables: GuardTables;
  readonly program: VmProgram;
  readonly #events: VmRingBuf;
  readonly #counters: TypedVmMap<number, bigint[]>;
  readonly instructionCount: number;

  constructor(readonly policy: Policy, o: { exempt?: { id: bigint; level: number }[] } = {}) {
    const spec = compileGuard(policy, { ...o, eventsBytes: 1 << 20 });
    const c = loadVmCollection(spec);
    this.tables = spec.tables;
    this.program = c.programs[GUARD_PROGRAM]!;
    this.instructionCount = spec.instructionCount;
    this.#events = c.maps.events as VmRingBuf;
    this.#counters = c.maps.counters as TypedVmMap<number, bigint[]>;
  }

  run(a: VmAccess): VmOutcome {
    const r = this.program.run({
      ctx: { kind: 'sysctl', name: a.key, write: a.write, filePos: a.filePos ?? 0, ...(a.write ? { newValue: a.value ?? '' } : {}), currentValue: a.current === undefined ? null : a.current },
      task: a.task ?? DEFAULT_TASK,
    }) as VmSysctlRunResult;
    const events = this.#events.takeRecords().map((rec) => decodeEvent(rec, this.policy));
    return {
      allowed: r.returnValue === 1n, events, instructions: r.instructionsExecuted,
      ...(r.newValueUpdated && r.newValue ? { stored: r.newValue.toString('utf8') } : {}),
    };
  }

  /** Events the ring buffer had no room for. */
  get dropped(): bigint {
    return (this.#counters.get(dropsCounterIndex(this.tables.nRules)) ?? []).reduce((a, b) => a + b, 0n);
  }
}
