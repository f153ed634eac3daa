// `sysward check`: does the host's current configuration satisfy a policy's value rules?
// Reads /proc/sys only (no root needed for most keys; unreadable ones are reported as such).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy, Rule, ValueConstraint } from './model.js';
import { decidingRule, matches, valueAllowed } from './reference.js';

export type CheckStatus = 'ok' | 'differs' | 'missing' | 'unreadable';

export interface CheckResult {
  /** Kernel name (net/ipv4/ip_forward). */
  key: string;
  rule: Rule;
  status: CheckStatus;
  current?: string;
  expected: string;
}

export const describeConstraint = (c: ValueConstraint): string => {
  switch (c.kind) {
    case 'values': return c.values.length === 1 ? JSON.stringify(c.values[0]) : `one of ${c.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'range': return c.min === c.max ? String(c.min) : `${c.min}..${c.max}`;
    case 'fields': return c.fields.map((f) => (f.min === f.max ? String(f.min) : `${f.min}..${f.max}`)).join(' ');
    case 'lock': return 'unchanged';
  }
};

export interface SysctlFs {
  /** Value as /proc/sys shows it, or an error code. */
  read(key: string): string | { error: 'missing' | 'unreadable' };
  /** Every key below `dir` ('' for all), kernel names. */
  list(dir: string): string[];
}

export const procSysctlFs = (root = '/proc/sys'): SysctlFs => ({
  read(key) {
    try { return readFileSync(join(root, key), 'utf8'); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { error: code === 'ENOENT' ? 'missing' : 'unreadable' };
    }
  },
  list(dir) {
    const out: string[] = [];
    const walk = (rel: string) => {
      let entries;
      try { entries = readdirSync(join(root, rel), { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(p);
        else if (e.isFile() || (e.isSymbolicLink() && statSync(join(root, p)).isFile())) out.push(p);
      }
    };
    walk(dir);
    return out;
  },
});

/** Check every key a value rule covers: exact keys directly, patterns against the keys present. */
export function checkHost(policy: Policy, fs: SysctlFs = procSysctlFs()): CheckResult[] {
  const results: CheckResult[] = [];
  for (const rule of policy.rules) {
    if (!rule.value || rule.value.kind === 'lock' || rule.action === 'deny') continue;
    const expected = describeConstraint(rule.value);
    let keys: string[];
    if (rule.key.kind === 'exact' && rule.key.wildcard === null) keys = [rule.key.segments.join('/')];
    else {
      const fixed = rule.key.segments.slice(0, rule.key.wildcard ?? rule.key.segments.length).join('/');
      // A key another, more specific rule decides is that rule's business.
      keys = fs.list(fixed).filter((k) => matches(rule, k.split('/')) && decidingRule(policy, k) === rule);
    }
    for (const key of keys) {
      const v = fs.read(key);
      if (typeof v !== 'string') { results.push({ key, rule, status: v.error, expected }); continue; }
      const bad = valueAllowed(rule, v, v);
      results.push({ key, rule, status: bad ? 'differs' : 'ok', current: v.replace(/\n$/, ''), expected });
    }
  }
  return results;
}
