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
 * at least the same cgroups and exempts no more; every rule of `prev` unchanged; and rules added
 * only where they can but refuse: a plain `deny` (most specific match decides, and deny is the
 * strictest a write can get), whose reads are denied too unless `prev` allows every read.
 */
export function noLooserThan(prev: Policy, next: Policy): boolean {
  if (prev.mode === 'enforce' && next.mode !== 'enforce') return false;
  if (!atLeast(next.defaults.write, prev.defaults.write) || !atLeast(next.defaults.read, prev.defaults.read)) return false;
  const a = prev.scope, b = next.scope;
  if (!within(a.cgroups, b.cgroups) || (a.containers && !b.containers) || (a.host && !b.host) || !within(b.exempt, a.exempt)) return false;
  if (a.follow !== false && b.follow === false) return false;
  // Rules: those of prev, each once, then what was added.
  const added = new Map<string, number>();
  for (const r of next.rules) { const k = decides(r); added.set(k, (added.get(k) ?? 0) + 1); }
  for (const r of prev.rules) {
    const k = decides(r);
    const n = added.get(k) ?? 0;
    if (n === 0) return false;
    added.set(k, n - 1);
  }
  const readsAllowed = prev.defaults.read === 'allow' && prev.rules.every((r) => r.reads === 'allow');
  for (const r of next.rules) {
    const k = decides(r);
    const n = added.get(k) ?? 0;
    if (n === 0) continue;
    added.set(k, n - 1);
    if (r.action !== 'deny' || r.value || r.override !== undefined || r.namespace) return false;
    if (r.reads !== 'deny' && !readsAllowed) return false;
  }
  return true;
}
