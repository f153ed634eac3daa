// The policy's meaning written plainly in TypeScript: which rule decides an access and what it
// says. The compiled program must agree with this (the differential tests check it), and commands
// that need a verdict without a kernel (check) use it.
import type { Action, Policy, Rule } from './model.js';
import { NAME_MAX, VALUE_BUF, VALUE_MAX } from './compiler/abi.js';
import { ownNamespaceOf, specificity } from './compiler/tables.js';

export interface Access {
  /** Kernel name, '/'-separated (net/ipv4/ip_forward). */
  key: string;
  write: boolean;
  /** The bytes written (writes). */
  value?: string;
  /** Position of the write in the file (0 for a whole write). */
  filePos?: number;
  /** The key's value at the time (for lock rules), as /proc shows it. */
  current?: string;
  /** The writer's namespaces: the host's or its own (default: its own). */
  namespaces?: Partial<Record<string, 'host' | 'own'>>;
}

export type Verdict = 'allowed' | 'refused' | 'audited' | 'would-refuse';
export type Reason = 'rule' | 'value' | 'partial-write' | 'name-too-long' | 'value-unreadable' | 'override' | 'locked' | 'host-namespace';

export interface Decision {
  verdict: Verdict;
  reason: Reason;
  /** The deciding rule; undefined for the policy's default (or a name too long to read). */
  rule?: Rule;
  /** The value the kernel stores instead (override). */
  stored?: string;
}

/** Does `rule` match the kernel name (segments)? */
export function matches(rule: Rule, segs: string[]): boolean {
  const p = rule.key.segments;
  if (rule.key.kind === 'exact' ? segs.length !== p.length : segs.length <= p.length) return false;
  return p.every((s, i) => s === '*' || s === segs[i]);
}

/** The most specific rule for a key: exact beats a wildcard exact beats a subtree; then longer. */
export function decidingRule(policy: Policy, key: string): Rule | undefined {
  const segs = key.split('/');
  let best: Rule | undefined;
  for (const r of policy.rules) {
    if (!matches(r, segs)) continue;
    // Equal specificity: the program keeps what it found first (no wildcard before wildcard).
    if (!best || specificity(r) > specificity(best) || (specificity(r) === specificity(best) && best.key.wildcard !== null && r.key.wildcard === null)) best = r;
  }
  return best;
}

/** bpf_strtol's reading of an integer at `i`: leading spaces, sign, 0x / 0 prefixes (base 0). */
export function strtol(s: string, i: number): { value: bigint; next: number } | undefined {
  let j = i;
  while (j < s.length && ' \t\n\v\f\r'.includes(s[j]!)) j++;
  let neg = false;
  if (s[j] === '-') { neg = true; j++; }
  let base = 10;
  if (s[j] === '0' && (s[j + 1] === 'x' || s[j + 1] === 'X') && /[0-9a-fA-F]/.test(s[j + 2] ?? '')) { base = 16; j += 2; }
  else if (s[j] === '0') base = 8;
  const digits = base === 16 ? /[0-9a-fA-F]/ : base === 8 ? /[0-7]/ : /[0-9]/;
  const start = j;
  while (j < s.length && digits.test(s[j]!)) j++;
  if (j === start) return undefined;
  // The kernel reads at most 63 bytes per number.
  if (j - i > 63) return undefined;
  let v = BigInt(base === 16 ? `0x${s.slice(start, j)}` : base === 8 ? `0o${s.slice(start, j)}` : s.slice(start, j));
  if (neg) v = -v;
  if (v > 0x7fffffffffffffffn || v < -0x8000000000000000n) return undefined;
  return { value: v, next: j };
}

const stripNewline = (v: string) => (v.endsWith('\n') ? v.slice(0, -1) : v);

/** Does the written value satisfy the rule's value constraint? */
export function valueAllowed(rule: Rule, written: string, current?: string): Reason | undefined {
  const c = rule.value;
  if (!c) return undefined;
  if (Buffer.byteLength(written) >= VALUE_BUF) return 'value-unreadable';
  const v = stripNewline(written);
  switch (c.kind) {
    case 'values':
      return Buffer.byteLength(v) <= VALUE_MAX && c.values.some((x) => stripNewline(x) === v) ? undefined : 'value';
    case 'range':
    case 'fields': {
      const fields = c.kind === 'range' ? [c] : c.fields;
      let at = 0;
      for (const f of fields) {
        const n = strtol(v, at);
        if (!n || n.value < f.min || n.value > f.max) return 'value';
        at = n.next;
      }
      return at === v.length ? undefined : 'value';
    }
    case 'lock': {
      if (current === undefined || Buffer.byteLength(current) >= VALUE_BUF) return 'value-unreadable';
      return stripNewline(current) === v ? undefined : 'locked';
    }
  }
}

export function decide(policy: Policy, a: Access): Decision {
  const refuse = (reason: Reason, rule?: Rule): Decision => ({ verdict: policy.mode === 'enforce' ? 'refused' : 'would-refuse', reason, ...(rule ? { rule } : {}) });
  const act = (action: Action, rule?: Rule): Decision =>
    action === 'deny' ? refuse('rule', rule) : { verdict: action === 'audit' ? 'audited' : 'allowed', reason: 'rule', ...(rule ? { rule } : {}) };
  if (Buffer.byteLength(a.key) > NAME_MAX) return a.write ? refuse('name-too-long') : act(policy.defaults.read);
  const rule = decidingRule(policy, a.key);
  if (!a.write) return act(rule ? rule.reads : policy.defaults.read, rule);
  if (!rule) return act(policy.defaults.write);
  if (rule.action === 'deny') return refuse('rule', rule);
  const own = ownNamespaceOf(rule);
  if (own && a.namespaces?.[own] === 'host') return refuse('host-namespace', rule);
  if (rule.value || rule.override !== undefined) {
    if ((a.filePos ?? 0) !== 0) return refuse('partial-write', rule);
    if (rule.value) {
      const bad = valueAllowed(rule, a.value ?? '', a.current);
      if (bad) return refuse(bad, rule);
    }
    if (rule.override !== undefined) return { verdict: 'allowed', reason: 'override', rule, stored: rule.override };
  }
  return act(rule.action, rule);
}
