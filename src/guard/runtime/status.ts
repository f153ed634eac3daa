// Reading pinned guards: names, metadata, counters. What `guard ls`, `events` and the metrics need,
// without loading the compiler, the assembler or the probes (CLI start-up time).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { dropsCounterIndex, specialRuleIds } from '../compiler/abi.js';
import type { Policy } from '../model.js';
import { policyFromJson } from '../model-json.js';
import { GuardInputError } from './errors.js';

export const guardsDir = (bpffs = DEFAULT_BPFFS) => join(bpffs, 'sysward', 'guards');

export const META_VERSION = 1;

/** Who applied a guard: the daemon removes only its own when its config no longer names them. */
export type GuardOwner = 'cli' | 'daemon';

export interface Meta {
  version: 1; policy: string; appliedAt: string; targets: { path: string; id: string }[];
  /** Stamped into each event of this version of the program. */
  generation: number;
  owner: GuardOwner;
  /** Kernel ids of what the apply pinned, to tell a half-finished or foreign change (reconcile). */
  programId?: number; countersId?: number; eventsId?: number;
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
  const path = join(dir, 'meta');
  if (!existsSync(path)) return undefined;
  using m = BpfMap.openPinnedBytes(path);
  const v = m.get(Buffer.alloc(4));
  if (!v) return undefined;
  const meta = JSON.parse(v.subarray(4, 4 + v.readUInt32LE(0)).toString()) as Meta;
  return meta.version === META_VERSION ? meta : undefined;
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
}

/** What `guard ls` shows: scope, rules and counters of a pinned guard. */
export function guardStatus(name: string, bpffs?: string): GuardStatus {
  const dir = join(guardsDir(bpffs), name);
  if (!existsSync(join(dir, 'prog'))) throw new GuardInputError(`no guard named ${name}; list them with \`sysward guard ls\``);
  const meta = readGuardMeta(dir);
  const policy = meta ? policyFromJson(meta.policy) : undefined;
  const counters: GuardStatus['counters'] = [];
  let droppedEvents = 0n;
  if (existsSync(join(dir, 'counters'))) {
    using m = BpfMap.openPinnedBytes(join(dir, 'counters'));
    const sum = (b: Buffer | undefined) => { let t = 0n; for (let o = 0; b && o < b.length; o += 8) t += b.readBigUInt64LE(o); return t; };
    const key = (i: number) => { const k = Buffer.alloc(4); k.writeUInt32LE(i); return k; };
    const n = policy?.rules.length ?? Math.floor(m.maxEntries / 3) - 2;
    const ids = specialRuleIds(n);
    for (let r = 0; r < ids.COUNT; r++) {
      const label = r === ids.DEFAULT ? 'default' : r === ids.NAME_TOO_LONG ? 'name-too-long' : policy?.rules[r]?.key.text ?? `rule ${r}`;
      counters.push({ rule: label, allowed: sum(m.get(key(r * 3))), refused: sum(m.get(key(r * 3 + 1))), audited: sum(m.get(key(r * 3 + 2))) });
    }
    droppedEvents = sum(m.get(key(dropsCounterIndex(n))));
  }
  return { name, policy, appliedAt: meta?.appliedAt, cgroups: meta?.targets ?? [], counters, droppedEvents, owner: meta?.owner };
}

/** The pinned guard's metadata, or undefined when there is no such guard. */
export function guardMeta(name: string, bpffs?: string): Meta | undefined {
  return readGuardMeta(join(guardsDir(bpffs), name));
}

export function listGuards(bpffs?: string): string[] {
  const dir = guardsDir(bpffs);
  return existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'prog'))).sort() : [];
}

