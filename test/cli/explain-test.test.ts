// sysward explain and sysward test, as users run them: no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../helpers/paths.js';
import { IS_ROOT } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
// As root, run as nobody: what these commands do must not need root.
const asUser = IS_ROOT ? { uid: 65534, gid: 65534 } : {};
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', ...asUser });
const tmp = mkdtempSync(join(tmpdir(), 'sysward-explain-'));
chmodSync(tmp, 0o755); // readable by the unprivileged user the commands run as
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('sysward test: the built-in profiles pass their shipped unit tests, without root', () => {
  for (const p of ['container-host', 'kspp', 'audit-all']) {
    const r = sysward('test', join(repoRoot(), `src/guard/profiles/${p}.test.yaml`));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^\d+ passed, 0 failed$/m);
  }
});

test('sysward test: a failing case is named with its line and what differed; exit 1', () => {
  const policy = join(tmp, 'p.yaml');
  writeFileSync(policy, 'name: t\ndefault: allow\nrules:\n  - key: net.core.somaxconn\n    range: [128, 65535]\n');
  const file = join(tmp, 'p.test.yaml');
  writeFileSync(file, 'policy: p.yaml\ncases:\n  - write: net.core.somaxconn=100\n    expect: refused\n    reason: value\n  - write: net.core.somaxconn=100\n    expect: allowed\n');
  const r = sysward('test', file);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^ok   .*p\.test\.yaml:3 write net\.core\.somaxconn=100 → refused \(net\.core\.somaxconn\)$/m);
  assert.match(r.stdout, /^FAIL .*p\.test\.yaml:6 write net\.core\.somaxconn=100 → refused \(net\.core\.somaxconn\): expected allowed, got refused \(value\)$/m);
  assert.match(r.stdout, /^1 passed, 1 failed$/m);
});

test('sysward test: a malformed test file is bad input (exit 2) naming the line', () => {
  const file = join(tmp, 'bad.test.yaml');
  writeFileSync(file, 'profile: kspp\ncases:\n  - write: kernel.kptr_restrict=2\n    expect: alowed\n');
  const r = sysward('test', file);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.test\.yaml:4:13: expect: "alowed" is not one of allowed, refused, audited, would-refuse/);
});

test('sysward explain: verdict, deciding rule with its line, and the event, as text and JSON', () => {
  const r = sysward('explain', '--profile', 'container-host', 'kernel.core_pattern=|/tmp/x');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /container-host: write kernel\.core_pattern = "\|\/tmp\/x": REFUSED\n  decided by rule 1: kernel\.core_pattern: deny \(profile:container-host:\d+:\d+\)/);
  const j = sysward('explain', '--profile', 'kspp', 'kernel.kptr_restrict=2', '--pos', '3', '--json');
  assert.equal(j.status, 1);
  const x = JSON.parse(j.stdout);
  assert.equal(x.verdict, 'refused');
  assert.equal(x.reason, 'partial-write');
  assert.equal(x.events[0].filePos, 3);
  assert.equal(sysward('explain', '--profile', 'kspp', 'kernel.kptr_restrict=2').status, 0);
  assert.equal(sysward('explain', '--profile', 'kspp', 'kernal.kptr_restrict=2').status, 2);
});
