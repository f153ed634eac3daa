// Reading pinned guards: names, metadata, counters. What `guard ls`, `events` and the metrics need,
// without loading the compiler, the assembler or the probes (CLI start-up time).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { specialRuleIds } from '../compiler/abi.js';
import type { Policy } from '../model.js';
import { policyFromJson } from '../model-json.js';
import { GuardInputError } from './errors.js';
import { guardPins, guardsDir } from './layout.js';
import { GUARD_NAME } from './names.js';

export { guardsDir } from './layout.js';

export const META_VERSION = 1;

/** Who applied a guard: the daemon removes only its own when its config no longer names them. */
export type GuardOwner = 'cli' | 'daemon';

export interface Meta {
  version: 1; policy: string; appliedAt: string; targets: { path: string; id: string }[];
  /** Stamped into each event of this version of the program. */
  generation: number;
  owner: GuardOwner;
  /**
   * For the daemon's guards: the config directory of the daemon that manages it. A daemon removes
   * only its own guards (another daemon on the host, with another config, keeps its own).
   */
  managedBy?: string;
  /** Kernel ids of what the apply pinned, to tell a half-finished or foreign change (reconcile). */
  programId?: number; countersId?: number; eventsId?: number;
  /** The accounting maps (counts per kind of reported access; summary lines): agg, agg-values, agg-free. */
  aggId?: number; aggValuesId?: number; aggFreeId?: number;
  /** The follower's program and bound map, when the guard follows its tasks' mount namespaces. */
  followId?: number; boundId?: number;
  /** Exempt cgroups as resolved at apply (a cgroup made again has a new id). */
  exempt?: { path: string; id: string }[];
  /** Scope cgroups that did not exist yet (the daemon guards them when they appear). */
  pending?: string[];
  /**
   * The rule patterns of the versions applied before this one, newest first: events still queued
   * from them name their rules right (each event carries its generation).
   */
  history?: { generation: number; rules: string[] }[];
}

export function readGuardMeta(dir: string): Meta | undefined {
  const path = join(dir, 'meta'); // dir: guardPins(…).dir (layout.ts)
  if (!existsSync(path)) return undefined;
  // A pin that is not a guard's metadata (another map put there) reads as none, never as a throw.
  let meta: Meta;
  try {
    using m = BpfMap.openPinnedBytes(path);
    const v = m.get(Buffer.alloc(m.info().keySize));
    if (!v || v.length < 4) return undefined;
    meta = JSON.parse(v.subarray(4, 4 + v.readUInt32LE(0)).toString()) as Meta;
  } catch { return undefined; }
  return meta?.version === META_VERSION ? meta : undefined;
}

export interface GuardStatus {
  name: string;
  policy: Policy | undefined;
  appliedAt: string | undefined;
  cgroups: { path: string; id: string }[];
  /** Per rule index (and 'default', 'name-too-long'): allowed, refused, audited. */
  counters: { rule: string; allowed: bigint; refused: bigint; audited: bigint }[];
  droppedEvents: bigint;
  /** Who applied it (the daemon removes only its own). */
  owner: GuardOwner | undefined;
  /** Mount namespaces the guard follows (bound), when it has a follower on the root cgroup. */
  following?: number;
}

/**
 * What a guard's drop counter holds, over its CPUs: accesses with no count of their own and no room
 * in the ring buffer. It is the counters map's last entry (abi.ts dropsCounterIndex).
 */
export function dropCount(counters: BpfMap<Buffer, Buffer>): bigint {
  return sumPerCpu(counters.get(u32Key(counters.maxEntries - 1)));
}

/** A per-CPU u64 counter's value, over the CPUs. */
const sumPerCpu = (b: Buffer | undefined): bigint => { let t = 0n; for (let o = 0; b && o + 8 <= b.length; o += 8) t += b.readBigUInt64LE(o); return t; };
const u32Key = (i: number): Buffer => { const k = Buffer.alloc(4); k.writeUInt32LE(i); return k; };

/** What `guard ls` shows: scope, rules and counters of a pinned guard. */
export function guardStatus(name: string, bpffs?: string): GuardStatus {
  const pins = guardPins(name, bpffs);
  const dir = pins.dir;
  if (!existsSync(pins.prog)) throw new GuardInputError(`no guard named ${name}; list them with \`sysward guard ls\``);
  const meta = readGuardMeta(dir);
  const policy = meta ? policyFromJson(meta.policy) : undefined;
  const counters: GuardStatus['counters'] = [];
  let droppedEvents = 0n;
  if (existsSync(pins.counters)) {
    using m = BpfMap.openPinnedBytes(pins.counters);
    const n = policy?.rules.length ?? Math.floor(m.maxEntries / 3) - 2;
    const ids = specialRuleIds(n);
    for (let r = 0; r < ids.COUNT; r++) {
      const label = r === ids.DEFAULT ? 'default' : r === ids.NAME_TOO_LONG ? 'name-too-long' : policy?.rules[r]?.key.text ?? `rule ${r}`;
      counters.push({ rule: label, allowed: sumPerCpu(m.get(u32Key(r * 3))), refused: sumPerCpu(m.get(u32Key(r * 3 + 1))), audited: sumPerCpu(m.get(u32Key(r * 3 + 2))) });
    }
    droppedEvents = dropCount(m);
  }
  let following: number | undefined;
  if (meta?.followId !== undefined && existsSync(pins.bound)) {
    try { using b = BpfMap.openPinnedBytes(pins.bound); following = 0; for (const _ of b.keys()) following++; } catch { /* removed meanwhile */ }
  }
  return { name, policy, appliedAt: meta?.appliedAt, cgroups: meta?.targets ?? [], counters, droppedEvents, owner: meta?.owner, ...(following !== undefined ? { following } : {}) };
}

/** The pinned guard's metadata, or undefined when there is no such guard. */
export function guardMeta(name: string, bpffs?: string): Meta | undefined {
  return readGuardMeta(guardPins(name, bpffs).dir);
}

export function listGuards(bpffs?: string): string[] {
  const dir = guardsDir(bpffs);
  return existsSync(dir) ? readdirSync(dir).filter((n) => GUARD_NAME.test(n) && existsSync(guardPins(n, bpffs).prog)).sort() : [];
}

