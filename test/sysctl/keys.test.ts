import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  DANGEROUS_KEYS, dangerOf, HOST_ONLY_NET_KEYS, isKnownKey, maxValueBytes, namespaceOf, STRING_MAX_BYTES,
  suggestKey, VECTOR_FIELDS, vectorFields,
} from '../../src/sysctl/keys.js';
import { knownKeys, knownLeaf } from '../../src/sysctl/known-keys.js';
import { formatPattern, parseKeyPattern, parseSysctlName } from '../../src/sysctl/names.js';

const seg = parseSysctlName;
const onThisKernel = (name: string): boolean => existsSync(`/proc/sys/${name}`);

test('namespaceOf: net, UTS, IPC, user and pid keys; host-wide keys are null', () => {
  assert.equal(namespaceOf(seg('net.core.somaxconn')), 'net');
  assert.equal(namespaceOf(seg('net.ipv4.conf.eth0.forwarding')), 'net');
  assert.equal(namespaceOf(seg('net.core.rmem_max')), 'net'); // exists in every network namespace
  assert.equal(namespaceOf(seg('net.core.bpf_jit_harden')), null); // only in the initial one
  assert.equal(namespaceOf(seg('net.ipv4.tcp_mem')), null);
  assert.equal(namespaceOf(seg('kernel.hostname')), 'uts');
  assert.equal(namespaceOf(seg('kernel.domainname')), 'uts');
  for (const k of ['kernel.shmmax', 'kernel.shmall', 'kernel.shmmni', 'kernel.shm_rmid_forced', 'kernel.msgmax',
    'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'fs.mqueue.msg_max', 'fs.mqueue.queues_max']) {
    assert.equal(namespaceOf(seg(k)), 'ipc', k);
  }
  assert.equal(namespaceOf(seg('user.max_user_namespaces')), 'user');
  assert.equal(namespaceOf(seg('kernel.ns_last_pid')), 'pid');
  for (const k of ['kernel.core_pattern', 'vm.swappiness', 'fs.file-max', 'kernel.randomize_va_space']) {
    assert.equal(namespaceOf(seg(k)), null, k);
  }
});

test('dangerous keys: the brief\'s keys are there, each with a one-line reason, no duplicates', () => {
  for (const k of ['kernel.core_pattern', 'kernel.modprobe', 'kernel.hotplug', 'kernel.randomize_va_space',
    'kernel.kptr_restrict', 'kernel.yama.ptrace_scope', 'kernel.unprivileged_bpf_disabled', 'vm.panic_on_oom',
    'kernel.panic', 'vm.overcommit_memory']) {
    assert.ok(dangerOf(seg(k)), k);
  }
  assert.equal(dangerOf(seg('kernel.core_pattern'))?.kind, 'escape');
  assert.equal(dangerOf(seg('net.core.somaxconn')), undefined);
  assert.equal(new Set(DANGEROUS_KEYS.map((d) => d.name)).size, DANGEROUS_KEYS.length);
  for (const d of DANGEROUS_KEYS) {
    assert.ok(d.reason.length > 10 && !d.reason.includes('\n'), d.name);
    assert.ok(isKnownKey(d.name.split('/')), `${d.name} is not in the catalogue`);
  }
});

test('string and vector facts', () => {
  assert.equal(maxValueBytes(seg('kernel.hostname')), 64);
  assert.equal(maxValueBytes(seg('kernel.core_pattern')), 127);
  assert.equal(maxValueBytes(seg('kernel.modprobe')), 255);
  assert.equal(maxValueBytes(seg('vm.swappiness')), undefined);
  assert.deepEqual(vectorFields(seg('net.ipv4.tcp_rmem')), ['min', 'default', 'max']);
  assert.equal(vectorFields(seg('net.ipv4.ip_local_port_range'))?.length, 2);
  assert.equal(vectorFields(seg('kernel.sem'))?.length, 4);
  assert.equal(vectorFields(seg('vm.swappiness')), undefined);
});

// Reading /proc/sys needs no root; keys this kernel lacks are skipped.
test('the vector keys present on this kernel hold that many integers', () => {
  let checked = 0;
  for (const [name, fields] of VECTOR_FIELDS) {
    if (!onThisKernel(name)) continue;
    const parts = readFileSync(`/proc/sys/${name}`, 'utf8').trim().split(/\s+/);
    assert.equal(parts.length, fields.length, name);
    assert.ok(parts.every((p) => /^-?\d+$/.test(p)), name);
    checked++;
  }
  if (existsSync('/proc/sys/kernel')) assert.ok(checked >= 4, `only ${checked} vector keys found`);
});

test('the string keys present on this kernel hold values within their maximum', () => {
  for (const [name, max] of STRING_MAX_BYTES) {
    if (!onThisKernel(name)) continue;
    let value: string;
    try { value = readFileSync(`/proc/sys/${name}`, 'utf8'); } catch { continue; }
    assert.ok(Buffer.byteLength(value.replace(/\n$/, '')) <= max, name);
  }
});

test('host-only net keys are kernel names of net.*; the catalogue is well formed', () => {
  for (const k of HOST_ONLY_NET_KEYS) assert.match(k, /^net\/[a-z0-9_/-]+$/);
  const KNOWN_KEYS = knownKeys();
  assert.ok(KNOWN_KEYS.length > 600);
  assert.equal(new Set(KNOWN_KEYS).size, KNOWN_KEYS.length);
  for (const k of KNOWN_KEYS) assert.equal(formatPattern(parseKeyPattern(k), 'kernel'), k);
  // The check without a table agrees with the list, for every key and for near misses.
  for (const k of KNOWN_KEYS) {
    const cut = k.lastIndexOf('/');
    assert.ok(knownLeaf(k.slice(0, cut), k.slice(cut + 1)), k);
    for (const miss of [k.slice(cut + 1, -1), `${k.slice(cut + 1)}x`, `x${k.slice(cut + 1)}`]) if (!KNOWN_KEYS.includes(`${k.slice(0, cut)}/${miss}`)) assert.ok(!knownLeaf(k.slice(0, cut), miss), `${k.slice(0, cut)}/${miss}`);
  }
  assert.ok(!knownLeaf('kernel', 'hostname domainname'));
  assert.ok(!knownLeaf('constructor', 'x'));
});

test('suggestKey: a close known key, keeping the interface name', () => {
  assert.deepEqual(suggestKey(seg('kernel.core_patern')), ['kernel', 'core_pattern']);
  assert.deepEqual(suggestKey(seg('net.ipv4.conf.eth0.forwardng')), ['net', 'ipv4', 'conf', 'eth0', 'forwarding']);
  assert.equal(suggestKey(seg('kernel.core_pattern')), undefined);
  assert.equal(suggestKey(seg('net.ipv4.conf.eth1.forwarding')), undefined);
  assert.equal(suggestKey(seg('kernel.something_else_entirely')), undefined);
});
