// Hostile or broken policy input is refused, quickly and by name, before it costs the daemon
// seconds or memory: alias bombs, oversized files, files dense with tokens, FIFOs, devices and
// directories. Real policies (10,000 rules, a few anchors) still load. Children run what could
// block, so a regression fails the test instead of hanging it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { Lexer } from 'yaml';
import {
  loadPolicyFile, MAX_ALIAS_VALUES, MAX_POLICY_BYTES, MAX_POLICY_TOKENS, parsePolicy, PolicyError,
} from '../../../src/guard/policy/index.js';
import { SHORT_TEXT } from '../../../src/guard/policy/source.js';
import { needs, which } from '../../helpers/env.js';
import { repoRoot } from './fixtures.js';

const bin = join(repoRoot(), 'bin/sysward');
const tmp = mkdtempSync(join(tmpdir(), 'sysward-limits-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The one error `f` throws, as `file:line:column: message`. */
function refusal(f: () => unknown): string {
  try { f(); } catch (e) {
    assert.ok(e instanceof PolicyError, `not a PolicyError: ${String(e)}`);
    assert.equal(e.problems.length, 1, e.message);
    return e.message;
  }
  assert.fail('the policy was accepted');
}

/** The "billion laughs": seven levels of nine aliases each, 43 million values in 365 bytes. */
const aliasBomb = [
  'name: bomb',
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...['b', 'c', 'd', 'e', 'f', 'g', 'h'].map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
  'rules:',
  '  - key: kernel.hostname',
  '    values: *h',
  '',
].join('\n');

// The timeouts below guard against a hang; they measure nothing. Expanded, a bomb one level smaller
// than this took 20 s and 900 MB (this one would take minutes and ~8 GB); bounded, the parser stops
// after 100,000 values, in well under a second.
test('an alias bomb is refused at once, naming the limit and the fix', { timeout: 30_000 }, () => {
  assert.equal(aliasBomb.length, 365);
  const message = refusal(() => parsePolicy(aliasBomb, 'bomb.yaml'));
  assert.match(message, /^bomb\.yaml:\d+:\d+: the policy expands aliases to more than 100000 values \(an alias bomb\?\); write the values out or use fewer aliases$/);
  assert.equal(MAX_ALIAS_VALUES, 100_000);
});

test('a few anchors for repeated value lists still load, each alias expanded where it is used', () => {
  const text = [
    'name: anchors',
    'rules:',
    '  - key: net.ipv4.conf.eth0.rp_filter',
    '    values: &strict ["1", "2"]',
    '  - key: net.ipv4.conf.eth1.rp_filter',
    '    values: *strict',
    '  - key: net.ipv4.conf.eth2.rp_filter',
    '    values: *strict',
    '  - keys: &escapes [kernel.core_pattern, kernel.modprobe]',
    '    action: deny',
    ...Array.from({ length: 200 }, (_, i) => `  - key: net.ipv4.conf.veth${i}.forwarding\n    values: *strict`),
    '',
  ].join('\n');
  const p = parsePolicy(text, 'anchors.yaml');
  assert.equal(p.rules.length, 205);
  assert.deepEqual(p.rules[1]!.source, { file: 'anchors.yaml', line: 5, column: 10 });
  assert.deepEqual(p.rules.map((r) => r.key.segments.join('/')).slice(3, 5), ['kernel/core_pattern', 'kernel/modprobe']);
  assert.deepEqual(p.rules[204]!.value, p.rules[0]!.value);
});

test('an alias inside the value it names is refused as a cycle, not expanded', () => {
  const message = refusal(() => parsePolicy('name: c\nx: &a [1, {y: *a}]\nrules:\n  - key: kernel.hostname\n    action: deny\n', 'c.yaml'));
  assert.equal(message, 'c.yaml:2:15: alias *a is inside the value &a it names, so it never ends; write the value out');
});

test(`a file over ${MAX_POLICY_BYTES} bytes is refused naming the limit; one of exactly that size loads`, () => {
  const policy = 'name: big\nrules:\n  - key: kernel.hostname\n    action: deny\n#';
  const exact = join(tmp, 'exact.yaml');
  writeFileSync(exact, policy + 'x'.repeat(MAX_POLICY_BYTES - policy.length - 1) + '\n');
  assert.equal(loadPolicyFile(exact).name, 'big');
  const over = join(tmp, 'over.yaml');
  writeFileSync(over, policy + 'x'.repeat(MAX_POLICY_BYTES - policy.length) + '\n');
  assert.equal(refusal(() => loadPolicyFile(over)),
    `${over}:1:1: the policy is 1048577 bytes, more than the 1048576 bytes (1 MiB) a policy may be; `
    + 'write fewer rules (one rule with keys: [...] or a pattern such as net.ipv4.conf.*.forwarding covers many keys) or split it into several policies');
});

test(`text of more than ${MAX_POLICY_TOKENS} YAML tokens is refused before it is parsed, at the token past the limit`, () => {
  // 600 KB of one-byte tokens: within the size limit, but twice the parser's budget.
  const text = 'name: n\nrules: [{key: kernel.hostname, action: deny}]\n' + '\n'.repeat(2 * MAX_POLICY_TOKENS);
  const message = refusal(() => parsePolicy(text, 'dense.yaml'));
  assert.match(message, /^dense\.yaml:(\d+):1: the policy has more than 300000 YAML tokens \(values, punctuation, spaces, line breaks\), too many to load safely; write fewer rules/);
  const line = Number(/:(\d+):/.exec(message)![1]);
  assert.ok(line > 290_000 && line < 300_000, `line ${line}`);
});

test('text too short to hold more than the token limit is not counted: yaml\'s lexer makes at most three tokens a character', () => {
  // readYaml skips its counting pass for text of SHORT_TEXT characters or fewer; that is safe only
  // while this bound holds (a yaml upgrade that breaks it fails here).
  assert.ok(3 * SHORT_TEXT + 3 <= MAX_POLICY_TOKENS && SHORT_TEXT > 64 * 1024, `SHORT_TEXT ${SHORT_TEXT}`);
  const pieces = ['[', ']', '{', '}', ',', ':', '-', '?', '\n', '\r\n', ' ', '\t', '#', "'", '"', '&a', '*a', '!t', '|', '>', '---', '...', '%YAML 1.2\n', 'a', '1', '\\', '<<'];
  const tokens = (text: string) => { let n = 0; for (const _ of new Lexer().lex(text)) n++; return n; };
  fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 80 }), (parts) => {
    const text = parts.join('');
    return tokens(text) <= 3 * text.length + 3;
  }), { numRuns: 20_000 });
  // The densest shapes known, at length: one-character scalars, empty flow collections, bare items.
  for (const text of ['a\n'.repeat(5000), '[]'.repeat(5000), '- '.repeat(5000), '? '.repeat(5000), '{a: [b, {c}]}'.repeat(500)]) {
    assert.ok(tokens(text) <= 3 * text.length + 3, JSON.stringify(text.slice(0, 20)));
  }
});

// yaml's own check for repeated keys compared each key with every earlier one: 90,000 keys took half
// a minute here, so these 99,000 (about as many as the token limit lets through, three tokens a
// key) would take ~36 s; checked in linear time, they take about a second. The timeout guards
// against that hang; it measures nothing.
test('a mapping with 99,000 keys parses in linear time; a repeated field is still an error', { timeout: 20_000 }, () => {
  const keys = Array.from({ length: 99_000 }, (_, i) => `k${i}`).join(',');
  const message = refusal(() => parsePolicy(`name: m\nx: {${keys}}\nrules:\n  - key: kernel.hostname\n    action: deny\n`, 'm.yaml'));
  assert.match(message, /^m\.yaml:2:1: unknown field "x"/);
  assert.equal(refusal(() => parsePolicy('name: d\nname: e\nrules:\n  - key: kernel.hostname\n    action: deny\n', 'd.yaml')),
    'd.yaml:2:1: YAML: Map keys must be unique; each field may appear once in a mapping; keep one');
});

test('a 10,000-rule policy without aliases loads', () => {
  const rules = Array.from({ length: 10_000 }, (_, i) => [
    `  - key: net.ipv4.conf.if${i}.forwarding\n    values: ["0"]`,
    `  - key: net.ipv4.conf.if${i}.rp_filter\n    range: [0, 2]`,
    `  - key: net.ipv4.conf.if${i}.accept_redirects\n    action: deny\n    reason: no redirects on if${i}`,
    `  - key: net.ipv6.conf.if${i}.forwarding\n    action: audit`,
  ][i % 4]);
  const text = `name: big\ndefault: allow\nrules:\n${rules.join('\n')}\n`;
  assert.ok(text.length < MAX_POLICY_BYTES * 0.7, `${text.length} bytes`);
  assert.equal(parsePolicy(text, 'big.yaml').rules.length, 10_000);
});

test('/dev/zero and a directory are refused with the reason; a symlink to a policy loads', () => {
  assert.equal(refusal(() => loadPolicyFile('/dev/zero')),
    '/dev/zero:1:1: cannot read the policy: it is a character device, not a regular file; policies are read from regular files only');
  const dir = join(tmp, 'dir.yaml');
  mkdirSync(dir);
  assert.equal(refusal(() => loadPolicyFile(dir)),
    `${dir}:1:1: cannot read the policy: it is a directory, not a regular file; give the policy file inside it`);
  const target = join(tmp, 'target.yaml');
  writeFileSync(target, 'name: linked\nrules:\n  - key: kernel.hostname\n    action: deny\n');
  symlinkSync(target, join(tmp, 'link.yaml'));
  assert.equal(loadPolicyFile(join(tmp, 'link.yaml')).name, 'linked');
});

const mkfifo = (path: string): void => {
  const r = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
};

test('a FIFO given with -f is refused at once (exit 2), without waiting for a writer', needs(!which('mkfifo') && 'needs mkfifo'), () => {
  const fifo = join(tmp, 'fifo.yaml');
  mkfifo(fifo);
  const r = spawnSync(process.execPath, [bin, 'explain', '-f', fifo, 'kernel.hostname'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.error, undefined, 'sysward blocked on the FIFO');
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.equal(r.stderr, `sysward explain: ${fifo}:1:1: cannot read the policy: it is a FIFO, not a regular file; policies are read from regular files only\n`);
});

test("the daemon's config dir with a FIFO zz.yaml: the good policy loads, the FIFO is an error, nothing blocks", needs(!which('mkfifo') && 'needs mkfifo'), () => {
  const dir = join(tmp, 'config');
  mkdirSync(dir);
  writeFileSync(join(dir, 'good.yaml'), 'name: good\nrules:\n  - key: kernel.core_pattern\n    action: deny\n');
  mkfifo(join(dir, 'zz.yaml'));
  // readConfig is synchronous: were it to block in open(), only a child can be stopped.
  const config = pathToFileURL(join(repoRoot(), 'dist/src/daemon/config.js')).href;
  const script = `const { readConfig } = await import(${JSON.stringify(config)});
    const c = readConfig(${JSON.stringify(dir)});
    console.log(JSON.stringify({ policies: [...c.policies.keys()], errors: c.errors, builtin: c.builtin }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.error, undefined, 'readConfig blocked on the FIFO');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    policies: ['good'],
    errors: [{ file: join(dir, 'zz.yaml'),
      error: `${join(dir, 'zz.yaml')}:1:1: cannot read the policy: it is a FIFO, not a regular file; policies are read from regular files only` }],
    builtin: false,
  });
});
