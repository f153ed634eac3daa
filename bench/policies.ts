// Policies of a given size for the benchmarks, built as models (parsing 10,000 YAML rules is a
// separate cost, measured on its own).
import type { Policy, Rule } from '../src/guard/model.js';

const exact = (index: number, text: string, action: Rule['action']): Rule => ({
  index, key: { text, segments: text.split('.'), kind: 'exact', wildcard: null }, action, reads: 'allow',
});

/**
 * `n` rules: n-1 deny rules on keys that do not exist, and an allow rule on kernel.domainname
 * (the "hit" key). kernel.hostname matches no rule (the "miss", decided by the default: allow).
 */
export function benchPolicy(n: number, name = 'bench'): Policy {
  const rules = Array.from({ length: n - 1 }, (_, i) => exact(i, `net.ipv4.bench_fake_key_${i}`, 'deny'));
  rules.push(exact(n - 1, 'kernel.domainname', 'allow'));
  return { name, mode: 'enforce', defaults: { write: 'allow', read: 'allow' }, scope: { cgroups: [], containers: false, host: false, exempt: [] }, rules };
}

/** The same shape as YAML text, for the parse benchmark. */
export function benchPolicyYaml(n: number): string {
  const lines = ['name: bench', 'default: allow', 'scope: { host: true }', 'rules:'];
  for (let i = 0; i < n - 1; i++) lines.push(`  - key: net.ipv4.bench_fake_key_${i}`, '    action: deny');
  lines.push('  - key: kernel.domainname', '    action: allow');
  return `${lines.join('\n')}\n`;
}
