// A compiled guard in sysward's eBPF interpreter: the same spec as in the kernel (loaded.ts:
// compileGuard, loaded by the interpreter's loader), run on simulated accesses — no root, no BPF needed. `explain`, `test`
// and the differential tests stand on it.
import { type VmKernelObject, type VmProgram, type VmRingBuf, type VmSysctlRunResult, type VmTask, type TypedVmMap } from '../../bpf/vm/index.js';
import { loadVmCollection } from '../../bpf/vm/collection.js';
import type { Policy } from '../model.js';
import { compileGuard, dropsCounterIndex, GUARD_PROGRAM, MODEL_TASK_LAYOUT, NS_KINDS, type GuardTables, type NsKind, type TaskLayout } from '../compiler/index.js';
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
  /** The writer's namespaces: the host's or its own (default: its own, as a container's). */
  namespaces?: Partial<Record<NsKind, 'host' | 'own'>>;
}

/** The interpreter's host namespaces: the fixed inode numbers recent kernels give the initial ones. */
export const MODEL_HOST_NS: Record<NsKind, number> = {
  ipc: 0xefffffff, uts: 0xeffffffe, user: 0xeffffffd, pid: 0xeffffffc, cgroup: 0xeffffffb, net: 0xeffffff9, mnt: 0xeffffff8,
};
/** …and a container's own. */
export const MODEL_OWN_NS: Record<NsKind, number> = Object.fromEntries(NS_KINDS.map((k, i) => [k, 4026532300 + i])) as Record<NsKind, number>;

/** A task_struct with its namespaces where `layout` says the program finds them. */
export function modelTaskStruct(inums: Record<NsKind, number>, layout: TaskLayout = MODEL_TASK_LAYOUT): VmKernelObject {
  const ns = (k: NsKind): VmKernelObject => {
    const values: { off: number; size: 4 | 8; value: bigint }[] = [{ off: layout.inum[k], size: 4, value: BigInt(inums[k]) }];
    // The model's mount namespace id is its inode number (ids only need to be unique).
    if (k === 'mnt' && layout.mntId !== undefined) values.push({ off: layout.mntId, size: 8, value: BigInt(inums[k]) });
    return { label: `${k}_namespace`, size: Math.max(...values.map((v) => v.off + v.size)), values };
  };
  const proxied = ['mnt', 'net', 'uts', 'ipc', 'cgroup'] as const;
  const nsproxy: VmKernelObject = { label: 'nsproxy', size: Math.max(...proxied.map((k) => layout.proxy[k])) + 8, pointers: proxied.map((k) => ({ off: layout.proxy[k], to: ns(k) })) };
  const cred: VmKernelObject = { label: 'cred', size: layout.credUserNs + 8, pointers: [{ off: layout.credUserNs, to: ns('user') }] };
  // A task at level 0 of its own PID namespace: numbers[0].ns.
  const pid: VmKernelObject = { label: 'pid', size: layout.pidNumbers + layout.upidSize, pointers: [{ off: layout.pidNumbers + layout.upidNs, to: ns('pid') }] };
  return {
    label: 'task_struct', size: Math.max(layout.nsproxy, layout.cred, layout.threadPid) + 8,
    pointers: [{ off: layout.nsproxy, to: nsproxy }, { off: layout.cred, to: cred }, { off: layout.threadPid, to: pid }],
  };
}

const modelTasks = new Map<string, VmKernelObject>();
function modelTask(which: VmAccess['namespaces']): VmKernelObject {
  const inums = Object.fromEntries(NS_KINDS.map((k) => [k, (which?.[k] ?? 'own') === 'host' ? MODEL_HOST_NS[k] : MODEL_OWN_NS[k]])) as Record<NsKind, number>;
  const key = NS_KINDS.map((k) => inums[k]).join();
  let t = modelTasks.get(key);
  if (!t) modelTasks.set(key, (t = modelTaskStruct(inums)));
  return t;
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
    // Every access sends its event (explain and test run single accesses; no rate limit).
    const spec = compileGuard(policy, { ...o, eventsBytes: 1 << 16, eventsPerSecond: 0, aggKinds: 1024, namespaces: { layout: MODEL_TASK_LAYOUT, host: MODEL_HOST_NS } });
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
      task: { ...(a.task ?? DEFAULT_TASK), kernelTask: modelTask(a.namespaces) },
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
