// A compiled guard in sysward's eBPF interpreter: the same program and the same map contents as
// in the kernel (loaded.ts), run on simulated accesses — no root, no BPF needed. `explain`, `test`
// and the differential tests stand on it.
import { VmMap, VmProgram, createVmRingBuf, type VmRingBuf, type VmSysctlRunResult, type VmTask } from '../../bpf/vm/index.js';
import type { Policy } from '../model.js';
import { buildTables, dropsCounterIndex, generateGuardProgram, type GuardTables } from '../compiler/index.js';
import { decodeEvent, type GuardEvent } from './events.js';
import { fillGuardMaps, guardMapSpecs, type GuardMapName } from './guard-maps.js';

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
  readonly #counters: VmMap;
  readonly instructionCount: number;

  constructor(readonly policy: Policy, o: { exempt?: { id: bigint; level: number }[] } = {}) {
    this.tables = buildTables(policy);
    const specs = guardMapSpecs(this.tables, o.exempt?.length ?? 0);
    const make = (n: GuardMapName) => VmMap.create(specs[n] as never);
    const maps = {
      scratch: make('scratch'), exact: make('exact'), subtree: make('subtree'), wild: make('wild'), values: make('values'),
      config: make('config'), counters: make('counters'), exempt: make('exempt'),
      events: createVmRingBuf(1 << 20, 'sw_events'),
    };
    fillGuardMaps(maps as never, this.tables, policy, o.exempt ?? []);
    const asm = generateGuardProgram(this.tables, maps, { mode: policy.mode, exemptLevels: (o.exempt ?? []).map((e) => e.level) });
    this.program = new VmProgram(asm);
    this.instructionCount = asm.instructions.length;
    this.#events = maps.events;
    this.#counters = maps.counters as unknown as VmMap;
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
    const v = (this.#counters as unknown as { get(k: number): bigint[] | undefined }).get(dropsCounterIndex(this.tables.nRules));
    return (v ?? []).reduce((a, b) => a + b, 0n);
  }
}
