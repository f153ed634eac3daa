// The one owner of where a guard lives in bpffs. Everything that reads or writes a guard's pins
// takes its paths from here:
//
//   /sys/fs/bpf/sysward/                 the lock every writer holds (lock.ts)
//   /sys/fs/bpf/sysward/guards/NAME/     one folder per guard:
//     prog       the program            counters   per-rule counters (per-CPU array)
//     events     the event ring buffer  meta       the policy and what was applied (status.ts)
//     agg, agg-values, agg-free  counts per kind of reported access (abi.ts)
//     agg-reported                 what the daemon's summaries reported of them
//     link-<cgroup id>                  the link on each guarded cgroup
//     follow     the follower program   bound      mount namespace → the cgroup it was bound from
//     follow-link                       the follower's link on the root cgroup
//   (the follower's pins exist when the guard follows its tasks' namespaces: docs/guard.md)
import { join } from 'node:path';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { checkGuardName } from './names.js';

/** sysward's folder in bpffs: the guards' lock is taken on it. */
export const syswardRoot = (bpffs = DEFAULT_BPFFS) => join(bpffs, 'sysward');

/** The folder holding one folder per guard. */
export const guardsDir = (bpffs = DEFAULT_BPFFS) => join(syswardRoot(bpffs), 'guards');

/** The pins of every guard, besides its links. */
export const GUARD_OBJECTS = ['prog', 'counters', 'events', 'agg', 'aggValues', 'aggFree', 'meta'] as const;
export type GuardObject = (typeof GUARD_OBJECTS)[number];

/** The follower's pins: present only on guards that follow their tasks' mount namespaces. */
export const FOLLOW_OBJECTS = ['follow', 'bound', 'followLink'] as const;
export type FollowObject = (typeof FOLLOW_OBJECTS)[number];

/** The pins above that hold a program; followLink holds a link; the others hold maps. */
export const PROGRAM_OBJECTS: readonly (GuardObject | FollowObject)[] = ['prog', 'follow'];

export interface GuardPins extends Record<GuardObject | FollowObject, string> {
  dir: string;
  /** How much of each kind of access the daemon's summaries reported (event-stream.ts). */
  aggReported: string;
  /** The pin of the link on the cgroup with this id. */
  link(cgroupId: bigint | string): string;
}

/** Paths of a guard's pins; the name is checked (it becomes a path). */
export function guardPins(name: string, bpffs?: string): GuardPins {
  const dir = join(guardsDir(bpffs), checkGuardName(name));
  return {
    dir, prog: join(dir, 'prog'), counters: join(dir, 'counters'), events: join(dir, 'events'), agg: join(dir, 'agg'), aggValues: join(dir, 'agg-values'), aggFree: join(dir, 'agg-free'), aggReported: join(dir, 'agg-reported'), meta: join(dir, 'meta'),
    follow: join(dir, 'follow'), bound: join(dir, 'bound'), followLink: join(dir, 'follow-link'),
    link: (cgroupId) => join(dir, `link-${cgroupId}`),
  };
}

/** The cgroup id a file name in a guard's folder is the link pin of, or undefined. */
export const linkPinCgroupId = (file: string): string | undefined => /^link-(\d+)$/.exec(file)?.[1];
