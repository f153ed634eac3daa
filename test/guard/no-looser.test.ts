// A change the daemon applies at once must refuse at least what the policy in force refuses
// (src/guard/no-looser.ts); any other waits for the config to settle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noLooserThan } from '../../src/guard/no-looser.js';
import { parsePolicy } from '../../src/guard/policy/index.js';

const base = `name: g
default: allow
scope:
  cgroups: [/svc, /web]
  exempt: [/svc/admin]
rules:
  - key: kernel.core_pattern
    action: deny
  - key: net.ipv4.conf.*.forwarding
    values: ["0"]
  - key: vm.*
    action: audit
`;
const p = (text: string) => parsePolicy(text, 'p.yaml');
const prev = p(base);

test('no-looser: the same policy, and one with rules only added that deny, apply at once', () => {
  assert.ok(noLooserThan(prev, p(base)));
  assert.ok(noLooserThan(prev, p(base.replace('name: g\n', 'name: g\ndescription: reworded\n'))), 'a description is not a decision');
  assert.ok(noLooserThan(prev, p(`${base}  - key: kernel.modprobe\n    action: deny\n`)));
  assert.ok(noLooserThan(prev, p(`${base}  - keys: [kernel.modprobe, net.ipv4.conf.eth0.forwarding]\n    action: deny\n    reason: tighter\n`)), 'a more specific deny is stricter than the rule it overrides');
});

test('no-looser: rules moved around, or a deny added above them, wait: between equally specific wildcards the earlier decides', () => {
  const moved = base.replace('  - key: kernel.core_pattern\n    action: deny\n', '') + '  - key: kernel.core_pattern\n    action: deny\n';
  assert.equal(noLooserThan(prev, p(moved)), false);
  // Both match net/ipv4/conf/all/rp_filter with 8 fixed characters: the first group decides.
  const tie = 'name: t\ndefault: allow\nrules:\n  - key: net.*.conf.*\n    action: deny\n  - key: net.ipv4.*.*\n    action: allow\n';
  assert.equal(noLooserThan(p(tie), p('name: t\ndefault: allow\nrules:\n  - key: net.ipv4.*.*\n    action: allow\n  - key: net.*.conf.*\n    action: deny\n')), false, 'reordered');
  assert.equal(noLooserThan(p(tie), p(tie.replace('rules:\n', 'rules:\n  - key: net.ipv4.*.bar\n    action: deny\n'))), false, 'a deny added above moves net/ipv4/ first');
  assert.ok(noLooserThan(p(tie), p(`${tie}  - key: net.ipv4.*.bar\n    action: deny\n`)), 'appended, it loses every tie');
});

test('no-looser: stricter defaults, mode and scope apply at once', () => {
  assert.ok(noLooserThan(prev, p(base.replace('default: allow', 'default: deny'))));
  assert.ok(noLooserThan(prev, p(base.replace('default: allow', 'default: { write: audit, read: deny }'))));
  assert.ok(noLooserThan(p(base.replace('name: g', 'name: g\nmode: audit')), prev), 'audit to enforce');
  assert.ok(noLooserThan(prev, p(base.replace('cgroups: [/svc, /web]', 'cgroups: [/svc, /web, /db]'))));
  assert.ok(noLooserThan(prev, p(base.replace('  exempt: [/svc/admin]\n', ''))));
  assert.ok(noLooserThan(prev, p(base.replace('scope:\n', 'scope:\n  containers: true\n'))));
});

test('no-looser: anything that may lift a refusal waits', () => {
  const looser: [string, string][] = [
    ['a rule removed', base.replace('  - key: kernel.core_pattern\n    action: deny\n', '')],
    ['a deny made audit', base.replace('kernel.core_pattern\n    action: deny', 'kernel.core_pattern\n    action: audit')],
    ['a value allowed more', base.replace('values: ["0"]', 'values: ["0", "1"]')],
    ['an allow added', `${base}  - key: kernel.modprobe\n    action: allow\n`],
    ['an audit added', `${base}  - key: vm.swappiness\n    action: audit\n`],
    ['a value rule added', `${base}  - key: kernel.modprobe\n    values: ["/sbin/modprobe"]\n`],
    ['a lock added', `${base}  - key: kernel.modprobe\n    lock: true\n`],
    ['enforce to audit', base.replace('name: g', 'name: g\nmode: audit')],
    ['a cgroup dropped', base.replace('cgroups: [/svc, /web]', 'cgroups: [/svc]')],
    ['an exempt added', base.replace('exempt: [/svc/admin]', 'exempt: [/svc/admin, /web/tools]')],
    ['following turned off', base.replace('scope:\n', 'scope:\n  follow: false\n')],
  ];
  for (const [what, text] of looser) assert.equal(noLooserThan(prev, p(text)), false, what);
  assert.equal(noLooserThan(p(base.replace('default: allow', 'default: deny')), prev), false, 'a looser default');
  assert.equal(noLooserThan(p(base.replace('default: allow', 'default: { write: allow, read: deny }')), prev), false, 'reads let through by default');
  assert.equal(noLooserThan(p(base.replace('scope:\n', 'scope:\n  host: true\n')), prev), false, 'the host dropped');
  assert.equal(noLooserThan(p(base.replace('scope:\n', 'scope:\n  containers: true\n')), prev), false, 'containers dropped');
});

test('no-looser: where the policy in force refuses reads, an added deny must refuse reads too', () => {
  const reads = `${base}  - key: kernel.*\n    action: audit\n    reads: deny\n`;
  // kernel.modprobe's reads were refused by kernel.*; a deny for its writes alone would allow them.
  assert.equal(noLooserThan(p(reads), p(`${reads}  - key: kernel.modprobe\n    action: deny\n`)), false);
  assert.ok(noLooserThan(p(reads), p(`${reads}  - key: kernel.modprobe\n    action: deny\n    reads: deny\n`)));
});

test('no-looser: every cut of a policy file that parses (a file read while it is written) is held back, unless it decides the same', () => {
  const text = `${base}  - key: kernel.modprobe\n    action: deny\n  - key: net.core.somaxconn\n    range: [128, 65535]\n`;
  const full = p(text);
  let parsed = 0;
  for (let cut = 1; cut < text.length; cut++) {
    let part;
    try { part = p(text.slice(0, cut)); } catch { continue; }
    parsed++;
    if (noLooserThan(full, part)) assert.ok(noLooserThan(part, full), `cut at ${cut} applied at once but decides otherwise:\n${text.slice(0, cut)}`);
  }
  assert.ok(parsed > 3, `${parsed} cuts parse (after each rule, at least)`);
});
