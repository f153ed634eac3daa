// The built-in profiles (src/guard/profiles/*.yaml) parse with the policy parser and say what
// docs/profiles.md says they do.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Policy } from '../../../src/guard/model.js';
import { lintPolicy, parsePolicy } from '../../../src/guard/policy/index.js';
import { decidingRule } from '../../../src/guard/reference.js';
import { listProfiles, loadProfile, profileText, UnknownProfileError } from '../../../src/guard/profiles/index.js';
import { prebuiltProfile, prebuiltProfilesPath } from '../../../src/guard/profiles/prebuilt.js';
import { DANGEROUS_KEYS } from '../../../src/sysctl/keys.js';
import { dottedName, kernelName, parseSysctlName } from '../../../src/sysctl/names.js';
import { repoRoot } from './fixtures.js';

const KUBERNETES_SAFE = [
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
];
const DOCKER_NAMESPACED = [
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni',
  'kernel.shm_rmid_forced', 'fs.mqueue.msg_max', 'fs.mqueue.queues_max', 'net.core.somaxconn', 'net.ipv4.tcp_rmem',
  'net.ipv6.conf.eth0.disable_ipv6',
];

/** The write action a policy gives a key (dotted), or the default's. */
function writeVerdict(p: Policy, key: string): string {
  const r = decidingRule(p, kernelName(parseSysctlName(key)));
  return r ? r.action : `default ${p.defaults.write}`;
}

test('listProfiles: the three built-in profiles, with descriptions', () => {
  assert.deepEqual(listProfiles().map((p) => p.name), ['audit-all', 'container-host', 'kspp']);
  for (const p of listProfiles()) assert.ok(p.description.length > 10, p.name);
});

for (const name of ['audit-all', 'container-host', 'kspp']) {
  test(`profile ${name}: parses without a warning; every rule has a one-line reason`, () => {
    const { policy, problems } = lintPolicy(profileText(name), `profile:${name}`);
    assert.deepEqual(problems, []);
    assert.ok(policy);
    assert.equal(policy.origin, `profile:${name}`);
    for (const r of policy.rules) {
      assert.ok(r.reason && !r.reason.includes('\n'), `${name}: ${r.key.text} has no one-line reason`);
    }
    assert.deepEqual(loadProfile(name), policy);
  });
}

test('the build\'s profiles (dist/bundle/profiles.json) are what their YAML parses to, and a changed YAML is parsed again', () => {
  assert.ok(existsSync(prebuiltProfilesPath()), `${prebuiltProfilesPath()} is missing: run \`npm run build\` (scripts/bundle.mjs writes it)`);
  for (const name of ['audit-all', 'container-host', 'kspp']) {
    const parsed = parsePolicy(profileText(name), `profile:${name}`);
    assert.deepEqual(prebuiltProfile(name), parsed, `${name}: the build's profile differs from its YAML (edited since? run \`npm run build\`)`);
    assert.deepEqual(prebuiltProfile(name, profileText(name)), parsed, name);
    // What the CLI and the daemon get: fresh objects each time (a caller may change its copy).
    assert.notEqual(prebuiltProfile(name), prebuiltProfile(name));
    // A profile edited since the build: not taken from the build.
    assert.equal(prebuiltProfile(name, `${profileText(name)}# edited\n`), undefined);
  }
  assert.equal(prebuiltProfile('kpsp'), undefined);
  assert.equal(prebuiltProfile('toString'), undefined);
});

test('an unknown profile name: what exists and a did-you-mean', () => {
  assert.throws(() => loadProfile('kpsp'), (e: unknown) => {
    assert.ok(e instanceof UnknownProfileError);
    assert.equal(e.message, 'unknown profile "kpsp"; did you mean kspp? (profiles: audit-all, container-host, kspp)');
    return true;
  });
});

test('container-host: containers; refuses every dangerous key, allows the Docker and Kubernetes sets, denies the rest', () => {
  const p = loadProfile('container-host');
  assert.deepEqual(p.scope, { cgroups: [], containers: true, host: false, exempt: [] });
  assert.deepEqual(p.defaults, { write: 'deny', read: 'allow' });
  for (const d of DANGEROUS_KEYS) {
    const rule = decidingRule(p, d.name);
    assert.equal(rule?.action, 'deny', `${d.name} is not refused by a rule`);
    assert.equal(rule.key.kind, 'exact');
    assert.equal(rule.reason, d.reason, `${d.name}: the profile's reason differs from keys.ts`);
  }
  for (const k of [...KUBERNETES_SAFE, ...DOCKER_NAMESPACED]) assert.equal(writeVerdict(p, k), 'allow', k);
  for (const k of ['kernel.hostname', 'vm.swappiness', 'kernel.ns_last_pid', 'user.max_net_namespaces']) {
    assert.equal(writeVerdict(p, k), 'default deny', k);
  }
  assert.ok(p.rules.every((r) => r.reads === 'allow'));
});

test('kspp: host; each rule admits only the recommended values', () => {
  const p = loadProfile('kspp');
  assert.deepEqual(p.scope, { cgroups: [], containers: false, host: true, exempt: [] });
  assert.deepEqual(p.defaults, { write: 'allow', read: 'allow' });
  const allowed = Object.fromEntries(p.rules.map((r) => [dottedName(r.key.segments), r.value]));
  assert.deepEqual(allowed['kernel.kptr_restrict'], { kind: 'values', values: ['2'] });
  assert.deepEqual(allowed['kernel.yama.ptrace_scope'], { kind: 'range', min: 1n, max: 3n });
  assert.deepEqual(allowed['user.max_user_namespaces'], { kind: 'values', values: ['0'] });
  const expected: Record<string, string> = {
    'kernel.dmesg_restrict': '1', 'kernel.perf_event_paranoid': '3', 'kernel.kexec_load_disabled': '1',
    'kernel.randomize_va_space': '2', 'kernel.unprivileged_bpf_disabled': '1', 'net.core.bpf_jit_harden': '2',
    'dev.tty.ldisc_autoload': '0', 'dev.tty.legacy_tiocsti': '0', 'vm.unprivileged_userfaultfd': '0',
    'fs.protected_symlinks': '1', 'fs.protected_hardlinks': '1', 'fs.protected_fifos': '2', 'fs.protected_regular': '2',
    'fs.suid_dumpable': '0', 'kernel.io_uring_disabled': '2',
  };
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(allowed[k], { kind: 'values', values: [v] }, k);
  for (const r of p.rules) {
    assert.equal(r.action, 'allow');
    assert.ok(r.value, `${r.key.text} admits any value`);
  }
});

test('audit-all: host; refuses nothing and reports every write', () => {
  const p = loadProfile('audit-all');
  assert.deepEqual(p.scope, { cgroups: [], containers: false, host: true, exempt: [] });
  assert.deepEqual(p.defaults, { write: 'audit', read: 'allow' });
  assert.deepEqual(p.rules, []);
  assert.equal(p.mode, 'enforce');
});

test('docs/profiles.md lists every rule of every profile with its reason', () => {
  const doc = readFileSync(join(repoRoot(), 'docs/profiles.md'), 'utf8');
  for (const name of ['container-host', 'kspp', 'audit-all']) {
    assert.ok(doc.includes(`## ${name}`), `docs/profiles.md has no section for ${name}`);
    for (const r of loadProfile(name).rules) {
      assert.ok(doc.includes(`\`${r.key.text}\``), `docs/profiles.md does not mention ${r.key.text} (${name})`);
      assert.ok(doc.includes(r.reason!), `docs/profiles.md lacks the reason of ${r.key.text} (${name})`);
    }
  }
});
