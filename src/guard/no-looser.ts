// Whether a new version of a policy refuses at least what the one in force refuses. The daemon
// applies such a change at once; any other waits until the config has been unchanged for a while
// (daemon.ts, settle-ms), because a policy file read while it is being written (a slow copy, a
// rewrite in two writes) can be a valid policy by itself: cut after a rule, it is the policy
// without the rules below, and applied it would lift them until the rest arrived.
//
// Conservative: `true` only where every write and read the old policy refuses (or reports) is
// refused (or reported) by the new one, judged from the policies' text, not from what keys exist.
import type { Action, Policy, Rule } from './model.js';

const RANK: Record<Action, number> = { allow: 0, audit: 1, deny: 2 };
const atLeast = (next: Action, prev: Action) => RANK[next] >= RANK[prev];

/** A rule as it decides (its position, source and reason aside), comparable as text. */
const decides = (r: Rule): string => JSON.stringify({
  key: `${r.key.kind}:${r.key.segments.join('/')}`, action: r.action, reads: r.reads,
  value: r.value, override: r.override, namespace: r.namespace,
}, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** Every path of `some` is in `all`. */
const within = (some: readonly string[], all: readonly string[]) => some.every((p) => all.includes(p));

/**
 * `next` is no looser than `prev`: the same or a stricter mode and defaults; a scope that covers
 * at least the same cgroups and exempts no more; the rules of `prev` first, unchanged and in the
 * same order (between wildcard rules equally specific, the program lets the earlier group decide:
 * compiler/tables.ts), then rules added only where they can but refuse: a plain `deny` (the most
 * specific match decides, deny is the strictest a write can get, and appended it loses every tie),
 * whose reads are denied too unless `prev` allows every read.
 */
export function noLooserThan(prev: Policy, next: Policy): boolean {
  if (prev.mode === 'enforce' && next.mode !== 'enforce') return false;
  if (!atLeast(next.defaults.write, prev.defaults.write) || !atLeast(next.defaults.read, prev.defaults.read)) return false;
  const a = prev.scope, b = next.scope;
  if (!within(a.cgroups, b.cgroups) || (a.containers && !b.containers) || (a.host && !b.host) || !within(b.exempt, a.exempt)) return false;
  if (a.follow !== false && b.follow === false) return false;
  if (next.rules.length < prev.rules.length || prev.rules.some((r, i) => decides(r) !== decides(next.rules[i]!))) return false;
  const readsAllowed = prev.defaults.read === 'allow' && prev.rules.every((r) => r.reads === 'allow');
  return next.rules.slice(prev.rules.length).every((r) =>
    r.action === 'deny' && !r.value && r.override === undefined && !r.namespace && (r.reads === 'deny' || readsAllowed));
}
