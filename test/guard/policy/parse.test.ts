import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  formatProblem, lintPolicy, loadPolicyFile, parsePolicy, PolicyError, type PolicyProblem,
} from '../../../src/guard/policy/index.js';
import { repoRoot } from './fixtures.js';

test('the message format: file:line:column: what is wrong; what would be right', () => {
  const text = 'name: web\nrules:\n  - key: kernel.core_pattern\n    action: dney\n';
  assert.throws(() => parsePolicy(text, 'web.yaml'), (e: unknown) => {
    assert.ok(e instanceof PolicyError);
    assert.equal(e.message, 'web.yaml:4:13: action "dney" is not one of allow, deny, audit; did you mean deny?');
    assert.deepEqual(e.problems, [{
      file: 'web.yaml', line: 4, column: 13, severity: 'error',
      message: 'action "dney" is not one of allow, deny, audit; did you mean deny?',
    }]);
    return true;
  });
});

test('loadPolicyFile names the file as given; a missing file is a PolicyError with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-policy-'));
  try {
    const path = join(dir, 'p.yaml');
    writeFileSync(path, 'name: p\nrules:\n  - key: vm.swappiness\n    range: [0, 200]\n');
    const p = loadPolicyFile(path);
    assert.equal(p.origin, path);
    assert.deepEqual(p.rules[0]!.source, { file: path, line: 3, column: 10 });
    assert.throws(() => loadPolicyFile(join(dir, 'none.yaml')), (e: unknown) => {
      assert.ok(e instanceof PolicyError);
      assert.equal(e.message, `${join(dir, 'none.yaml')}:1:1: cannot read the policy: no such file; check the path`);
      return true;
    });
    assert.throws(() => loadPolicyFile(dir), /it is a directory/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a misspelt key that the catalogue almost knows is a warning, not an error', () => {
  const text = 'name: w\nrules:\n  - key: kernel.core_patern\n    action: deny\n  - key: net.ipv4.conf.eth0.forwardin\n    action: deny\n  - key: net.ipv4.conff.*\n    action: deny\n  - key: kernel.some_future_key\n    action: deny\n';
  const warnings: PolicyProblem[] = [];
  const p = parsePolicy(text, 'w.yaml', { onWarning: (w) => warnings.push(w) });
  assert.equal(p.rules.length, 4);
  assert.deepEqual(warnings.map(formatProblem), [
    'w.yaml:3:10: warning: key kernel.core_patern is not a sysctl that Linux is known to have; did you mean kernel.core_pattern?',
    'w.yaml:5:10: warning: key net.ipv4.conf.eth0.forwardin is not a sysctl that Linux is known to have; did you mean net.ipv4.conf.eth0.forwarding?',
    'w.yaml:7:10: warning: key net.ipv4.conff.* is not a sysctl that Linux is known to have; did you mean net.ipv4.conf.*?',
  ]);
});

test('keys: expands to one rule per key, indexed in order, each placed at its key', () => {
  const text = 'name: k\nrules:\n  - keys: [vm.swappiness, vm/dirty_ratio]\n    action: audit\n    reason: tuning\n  - key: kernel.core_pattern\n    action: deny\n';
  const p = parsePolicy(text, 'k.yaml');
  assert.deepEqual(p.rules.map((r) => [r.index, r.key.segments.join('/'), r.action, r.reason, r.source?.column]), [
    [0, 'vm/swappiness', 'audit', 'tuning', 12],
    [1, 'vm/dirty_ratio', 'audit', 'tuning', 27],
    [2, 'kernel/core_pattern', 'deny', undefined, 10],
  ]);
});

test('defaults: one action is for writes; a mapping sets each; absent is allow', () => {
  const rule = '\nrules:\n  - key: kernel.core_pattern\n    action: deny\n';
  assert.deepEqual(parsePolicy(`name: d${rule}`, 'd').defaults, { write: 'allow', read: 'allow' });
  assert.deepEqual(parsePolicy(`name: d\ndefault: deny${rule}`, 'd').defaults, { write: 'deny', read: 'allow' });
  assert.deepEqual(parsePolicy(`name: d\ndefault: {read: audit}${rule}`, 'd').defaults, { write: 'allow', read: 'audit' });
  assert.equal(parsePolicy(`name: d${rule}`, 'd').mode, 'enforce');
});

test('numbers: hex and octal YAML integers, s64 bounds, integer fields shorthand', () => {
  const text = 'name: n\nrules:\n  - key: vm.mmap_min_addr\n    range: [0x1000, 0o200000]\n  - key: net.ipv4.tcp_rmem\n    fields: [4096, [0, 9223372036854775807], -9223372036854775808]\n';
  const p = parsePolicy(text, 'n');
  assert.deepEqual(p.rules[0]!.value, { kind: 'range', min: 4096n, max: 65536n });
  assert.deepEqual(p.rules[1]!.value, { kind: 'fields', fields: [
    { min: 4096n, max: 4096n }, { min: 0n, max: 9223372036854775807n },
    { min: -9223372036854775808n, max: -9223372036854775808n },
  ] });
  assert.throws(() => parsePolicy('name: n\nrules:\n  - key: vm.x\n    range: [0, 9223372036854775808]\n', 'n'), /outside the signed 64-bit range/);
});

test('lintPolicy never throws on hostile input', () => {
  const inputs = ['\u0000\u0001', '[[[[[[', 'a: &a [*a]', '{}', '[]', '"x"', '---\n---\n', 'name: x\nrules: [[[]]]', 'x'.repeat(100_000),
    `name: x\nrules:\n${'  - key: vm.swappiness\n    action: deny\n'.repeat(2)}`, 'name: x\n__proto__: {polluted: 1}\n'];
  for (const text of inputs) {
    const r = lintPolicy(text, 'h');
    assert.ok(r.problems.length > 0 || r.policy, JSON.stringify(text.slice(0, 20)));
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('warnings do not stop a policy; errors are all reported even with warnings around', () => {
  const text = 'name: x\nrules:\n  - key: kernel.core_patern\n    action: deny\n  - key: vm.swappiness\n    range: [9, 1]\n';
  const r = lintPolicy(text, 'x');
  assert.equal(r.policy, undefined);
  assert.deepEqual(r.problems.map((p) => [p.line, p.severity]), [[3, 'warning'], [6, 'error']]);
});

test('the YAML examples of docs/policy.md parse (a name is added where the example has none)', () => {
  const doc = readFileSync(join(repoRoot(), 'docs/policy.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 2);
  for (const b of blocks) {
    const text = /^name:/m.test(b) ? b : `name: doc-example\n${b}`;
    const { problems } = lintPolicy(text, 'policy.md');
    assert.deepEqual(problems.map(formatProblem), [], b);
  }
});
