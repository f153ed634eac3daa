// sysward learn --from AUDIT.jsonl, as users run it: no root. An audit log with events and summary
// lines of several cgroups and containers; one is selected; the policy passes sysward test and
// explain; the same input gives the same bytes; bad input is refused with its line (exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IS_ROOT } from '../helpers/env.js';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../../src/cli/output.js';

/** The CLI in-process (no process start per case), capturing stdout and stderr. */
async function cli(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const err = process.stderr.write.bind(process.stderr);
  captureOutput((t) => { stdout += t; });
  process.stderr.write = ((t: string) => { stderr += t; return true; }) as typeof process.stderr.write;
  try { return { status: await main(argv), stdout, stderr }; } finally { captureOutput(undefined); process.stderr.write = err; }
}

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const asUser = IS_ROOT ? { uid: 65534, gid: 65534 } : {};
const sysward = (args: string[], o: { input?: string; cwd?: string } = {}) =>
  spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, ...asUser, ...(o.input !== undefined ? { input: o.input } : {}), ...(o.cwd ? { cwd: o.cwd } : {}) });
const tmp = mkdtempSync(join(tmpdir(), 'sysward-learn-'));
chmodSync(tmp, 0o777); // the commands run as nobody and write here
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A fresh directory nobody may write. */
const dir = () => { const d = join(tmp, `d${n++}`); mkdirSync(d); chmodSync(d, 0o777); return d; };

const event = (time: string, cgroup: string, key: string, newValue: string | null, o: Record<string, unknown> = {}) => ({
  time, guard: 'audit-all', verdict: 'audited', reason: 'rule', access: 'write', key, oldValue: '0', newValue, filePos: 0,
  pid: 100, tgid: 100, uid: 0, gid: 0, comm: 'runc:[2:INIT]', cgroupId: '4242', cgroup, rule: { index: 0, key: 'default' }, generation: 0, ...o,
});
const summary = (cgroup: string, key: string, count: number, from: string, to: string) => ({
  type: 'summary', time: to, guard: 'audit-all', verdict: 'audited', reason: 'rule', access: 'write', key, uid: 0, comm: 'tuner',
  cgroupId: '4242', cgroup, rule: { index: 0, key: 'default' }, generation: 0, count, from, to,
});
const WEB = 'docker:4f1c2a9e00112233445566778899aabbccddeeff00112233445566778899aabb';
const DB = 'docker:9d0e55aa00112233445566778899aabbccddeeff00112233445566778899aabb';
const records = [
  event('2026-12-01T08:00:00.000Z', WEB, 'net.core.somaxconn', '1024'),
  event('2026-12-01T08:00:00.100Z', DB, 'kernel.shmmax', '68719476736'),
  event('2026-12-01T08:00:00.200Z', WEB, 'net.ipv4.tcp_keepalive_time', '600'),
  event('2026-12-01T08:00:01.000Z', '/system.slice/tuned.service', 'vm.swappiness', '10'),
  event('2026-12-02T09:30:00.000Z', WEB, 'net.core.somaxconn', '4096', { comm: 'nginx' }),
  // A writer that left the container's cgroup, followed by its mount namespace: still the container's.
  event('2026-12-02T09:31:00.000Z', '/', 'net.ipv4.ip_unprivileged_port_start', '0', { boundTo: { cgroupId: '4242', cgroup: WEB } }),
  summary(WEB, 'net.core.somaxconn', 250, '2026-12-02T09:30:00.000Z', '2026-12-02T09:30:09.000Z'),
  summary('/system.slice/tuned.service', 'vm.swappiness', 70, '2026-12-01T08:00:01.000Z', '2026-12-01T08:00:10.000Z'),
];
const log = join(tmp, 'audit.jsonl');
writeFileSync(log, `${records.map((x) => JSON.stringify(x)).join('\n')}\n`);
chmodSync(log, 0o644);

test('learn --from --container: one container\'s writes (and its summary counts) become its policy; sysward test and explain pass', () => {
  const d = dir();
  const out = join(d, 'web.yaml');
  const r = sysward(['learn', '--from', log, '--container', '4f1c', '-o', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const policy = readFileSync(out, 'utf8');
  assert.match(policy, /^# Learned by `sysward learn` from the audit log audit.jsonl\n#   events of container docker:4f1c2a9e0011/);
  assert.match(policy, /^# 254 writes of 3 keys, from 2026-12-01T08:00:00.000Z to 2026-12-02T09:31:00.000Z.$/m);
  assert.match(policy, /# written 252 times \(2 values\) from 2026-12-01T08:00:00.000Z to 2026-12-02T09:30:09.000Z by nginx, runc:\[2:INIT\], tuner\n  # 250 writes of it counted in summary lines without their values: another value may be among them\n  - key: net.core.somaxconn\n    values:\n      - "1024"  # once\n      - "4096"  # once\n/);
  assert.match(policy, /- key: net.ipv4.ip_unprivileged_port_start\n    values:\n      - "0"\n/, 'the followed writer counts as the container\'s');
  assert.doesNotMatch(policy, /shmmax|swappiness/, 'other containers and cgroups are left out');
  const json = JSON.parse(r.stdout) as { writes: number; writesWithoutValue: number; keys: { key: string; rule: string }[]; tests: string };
  assert.equal(json.writes, 254);
  assert.equal(json.writesWithoutValue, 250);
  assert.deepEqual(json.keys.map((k) => `${k.key}:${k.rule}`), ['net.core.somaxconn:values', 'net.ipv4.ip_unprivileged_port_start:values', 'net.ipv4.tcp_keepalive_time:values']);
  const t = sysward(['test', json.tests]);
  assert.equal(t.status, 0, t.stdout + t.stderr);
  assert.match(t.stdout, /^8 passed, 0 failed$/m);
  assert.equal(sysward(['explain', '-f', out, 'net.core.somaxconn=4096']).status, 0);
  assert.equal(sysward(['explain', '-f', out, 'net.core.somaxconn=8192']).status, 1);
  assert.equal(sysward(['explain', '-f', out, 'kernel.shmmax=68719476736']).status, 1);
  assert.match(r.stderr, /review: net.core.somaxconn: 250 writes counted without their values/);
});

test('learn --from --cgroup selects a cgroup (the policy\'s scope), --since drops what came before', () => {
  const d = dir();
  const r = sysward(['learn', '--from', log, '--cgroup', '/system.slice/tuned.service', '-o', join(d, 'tuned.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  const policy = readFileSync(join(d, 'tuned.yaml'), 'utf8');
  assert.match(policy, /^scope: \{ cgroups: \["\/system.slice\/tuned.service"\] \}$/m);
  assert.match(policy, /# written 71 times from 2026-12-01T08:00:01.000Z to 2026-12-01T08:00:10.000Z by systemd|# written 71 times from 2026-12-01T08:00:01.000Z to 2026-12-01T08:00:10.000Z by runc:\[2:INIT\], tuner\n/);
  assert.match(policy, /- key: vm.swappiness\n    values:\n      - "10"\n/);
  assert.equal(sysward(['test', join(d, 'tuned.test.yaml')]).status, 0);

  const s = sysward(['learn', '--from', log, '--container', 'docker:4f1c2a', '--since', '2026-12-02', '-o', join(d, 'recent.yaml')]);
  assert.equal(s.status, 0, s.stderr);
  const recent = readFileSync(join(d, 'recent.yaml'), 'utf8');
  assert.match(recent, /#   events of container docker:4f1c.*, since 2026-12-02T00:00:00.000Z/);
  assert.doesNotMatch(recent, /tcp_keepalive_time|"1024"/);
  assert.match(recent, /- key: net.core.somaxconn\n    values:\n      - "4096"\n/);
});

test('learn --from: a dropped line (accesses no kind could hold) is counted and said, not learned from and not an error', () => {
  const d = dir();
  const withDrops = join(d, 'drops.jsonl');
  writeFileSync(withDrops, `${readFileSync(log, 'utf8')}${JSON.stringify({ type: 'dropped', time: '2026-12-02T10:00:00.000Z', guard: 'container-host', count: 42, from: '2026-12-02T09:00:00.000Z', to: '2026-12-02T10:00:00.000Z', why: 'every one of the guard\'s 16384 kinds of access was taken and its ring buffer was full' })}\n`);
  const r = sysward(['learn', '--from', withDrops, '--cgroup', '/system.slice/tuned.service', '-o', join(d, 'p.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /42 accesses the guard dropped without a key/);
  const d2 = dir();
  const plain = sysward(['learn', '--from', log, '--cgroup', '/system.slice/tuned.service', '-o', join(d2, 'p.yaml')]);
  assert.equal(plain.status, 0);
  assert.equal(readFileSync(join(d, 'p.yaml'), 'utf8').replace(/drops\.jsonl/g, 'audit.jsonl'), readFileSync(join(d2, 'p.yaml'), 'utf8'), 'the same policy');
});

test('learn --from: the same log gives the same bytes; file order does not matter; standard input works', () => {
  const [a, b, c] = [dir(), dir(), dir()];
  const half = Math.floor(records.length / 2);
  writeFileSync(join(c, 'one.jsonl'), `${records.slice(0, half).map((x) => JSON.stringify(x)).join('\n')}\n`);
  writeFileSync(join(c, 'two.jsonl'), records.slice(half).map((x) => JSON.stringify(x)).join('\n')); // no final newline
  chmodSync(join(c, 'one.jsonl'), 0o644); chmodSync(join(c, 'two.jsonl'), 0o644);
  assert.equal(sysward(['learn', '--from', log, '-o', join(a, 'p.yaml'), '--ranges', '-q']).status, 0);
  assert.equal(sysward(['learn', '--from', log, '-o', join(b, 'p.yaml'), '--ranges', '-q']).status, 0);
  assert.equal(readFileSync(join(a, 'p.yaml'), 'utf8'), readFileSync(join(b, 'p.yaml'), 'utf8'));
  assert.equal(readFileSync(join(a, 'p.test.yaml'), 'utf8'), readFileSync(join(b, 'p.test.yaml'), 'utf8'));
  const ours = readFileSync(join(a, 'p.yaml'), 'utf8');
  // Two files, in the other order: only the header's list of sources differs.
  const r = sysward(['learn', '--from', join(c, 'two.jsonl'), join(c, 'one.jsonl'), '-o', join(c, 'p.yaml'), '--ranges']);
  assert.equal(r.status, 0, r.stderr);
  const body = (s: string) => s.split('\n').filter((l) => !l.startsWith('# Learned') && !l.startsWith('description:')).join('\n');
  assert.equal(body(readFileSync(join(c, 'p.yaml'), 'utf8')), body(ours));
  assert.match(r.stderr, /events of 4 cgroups merged into one policy: .*; learn one workload with --container ID or --cgroup PATH/);
  const d = dir();
  const s = sysward(['learn', '--from', '-', '-o', join(d, 'p.yaml'), '--ranges', '-q'], { input: readFileSync(log, 'utf8') });
  assert.equal(s.status, 0, s.stderr);
  assert.equal(body(readFileSync(join(d, 'p.yaml'), 'utf8')), body(ours));
});

test('learn: bad usage and bad input exit 2 with the cause and the fix', async () => {
  const d = dir();
  // In-process, but for standard input and root (as users run it: a process as nobody).
  const expect2 = async (args: string[], re: RegExp, input?: string) => {
    const r = input !== undefined || args.includes('--') ? sysward(args, input !== undefined ? { input } : {}) : await cli(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  };
  await expect2(['learn', '--from', log], /learn needs -o FILE/);
  await expect2(['learn', '-o', join(d, 'x.yaml')], /learn needs a command after -- .* or --from AUDIT.jsonl/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--', 'true'], /a command \(after --\) or --from AUDIT.jsonl, not both/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--container', 'abcd', '--', 'true'], /--container selects events of an audit log: use it with --from/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--container', 'abcd', '--cgroup', '/x'], /give --container or --cgroup, not both/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--cgroup', '/sys/fs/cgroup/system.slice'], /give the path below the cgroup mount, as events show it \(\/system.slice\)/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--since', 'yesterday'], /--since yesterday: give an ISO 8601 time/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--name', 'Bad Name'], /--name Bad Name: a policy name is 1 to 63 lower-case/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--container', 'docker:'], /give a container id/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log, '--reads'], /--reads: the log has no reads of what was selected, so the policy would refuse every read/);
  // Both containers' ids start with a hex digit; "docker" alone matches both.
  writeFileSync(join(d, 'two.jsonl'), `${JSON.stringify(event('2026-12-01T08:00:00.000Z', 'docker:abcd1111', 'vm.swappiness', '1'))}\n${JSON.stringify(event('2026-12-01T08:00:00.000Z', 'docker:abcd2222', 'vm.swappiness', '1'))}\n`);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', join(d, 'two.jsonl'), '--container', 'abcd'], /--container abcd matches 2 containers \(docker:abcd1111, docker:abcd2222\); give more of the id/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', join(d, 'missing.jsonl')], /missing.jsonl: cannot read the audit log: no such file; check the path/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', d], /it is a directory, not a regular file; give the audit log files inside it/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', '/dev/zero'], /\/dev\/zero: it is a character device, not a regular file; give a file, or pipe it to standard input with --from -/);
  const bad = join(d, 'bad.jsonl');
  writeFileSync(bad, `${JSON.stringify(records[0])}\n\n{"time": "2026-12-01T08:00:00Z", "key": 7}\n`);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', bad], /bad.jsonl:3: not an event of sysward's audit log \(it needs key and access: read or write\)/);
  writeFileSync(bad, `${JSON.stringify(records[0])}\nsysward: not json\n`);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', bad], /bad.jsonl:2: not a JSON line \(.*\); give sysward's audit log/);
  writeFileSync(bad, `${JSON.stringify({ ...records[6], count: -3 })}\n`);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', bad], /bad.jsonl:1: a summary line's count must be a whole number/);
  writeFileSync(bad, `${JSON.stringify(records[0])}\n${'x'.repeat(200_000)}\n`);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', bad], /bad.jsonl:2: a line longer than 65536 bytes/);
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', '-'], /standard input:1: not a JSON line/, 'hello\n');
  assert.ok(!existsSync(join(d, 'x.yaml')) && !existsSync(join(d, 'x.test.yaml')), 'nothing written on bad input');
  // An output that exists is kept unless --force.
  writeFileSync(join(d, 'x.test.yaml'), 'mine\n');
  await expect2(['learn', '-o', join(d, 'x.yaml'), '--from', log], /x.test.yaml exists; give another -o FILE, or --force to replace it/);
  assert.equal(readFileSync(join(d, 'x.test.yaml'), 'utf8'), 'mine\n');
  assert.equal((await cli('learn', '-o', join(d, 'x.yaml'), '--from', log, '--force', '-q')).status, 0);
  assert.match(readFileSync(join(d, 'x.test.yaml'), 'utf8'), /^policy: x.yaml$/m);
  // From a command: root only, said before anything runs.
  if (IS_ROOT) await expect2(['learn', '-o', join(d, 'y.yaml'), '--', 'true'], /learn needs root: .*; run it with sudo/);
});

test('learn --from a FIFO is refused at once, writer or not: it never waits', () => {
  const d = dir();
  const fifo = join(d, 'fifo');
  const mk = spawnSync('mkfifo', [fifo]);
  assert.equal(mk.status, 0, 'mkfifo (coreutils)');
  chmodSync(fifo, 0o666);
  const r = sysward(['learn', '-o', join(d, 'x.yaml'), '--from', fifo]);
  assert.equal(r.signal, null, 'ended by itself, not by the test\'s timeout');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /fifo: it is a FIFO \(named pipe\), not a regular file; give a file, or pipe it to standard input with --from -/);
});

test('learn --help, and learn in the command list', () => {
  const h = sysward(['learn', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^usage: sysward learn -o FILE/);
  assert.match(sysward(['--help']).stdout, /^ {2}learn {8}the narrowest policy/m);
});

test('learn --from: a log larger than the heap is streamed (a 24 MB heap reads 37 MB), with progress', () => {
  const d = dir();
  const big = join(d, 'big.jsonl');
  const fd = openSync(big, 'w', 0o644);
  for (let i = 0, chunk = ''; i < 100_000; i++) {
    chunk += `${JSON.stringify(event(new Date(Date.parse('2026-12-01T00:00:00Z') + i * 10).toISOString(), '/big.slice', 'net.core.somaxconn', String(1000 + (i % 3000)), { namespaces: { mnt: 1, net: 2, uts: 3, ipc: 4, user: 5, pid: 6, cgroup: 7 } }))}\n`;
    if (chunk.length > 1 << 20 || i === 99_999) { writeSync(fd, chunk); chunk = ''; }
  }
  closeSync(fd);
  chmodSync(big, 0o644);
  const env = { ...process.env, NODE_OPTIONS: '--max-old-space-size=24' };
  // Read whole, the same log does not fit that heap: the test would catch a reader that did so.
  const whole = spawnSync(process.execPath, ['-e', 'require("fs").readFileSync(process.argv[1], "utf8").split("\\n").map((l) => l && JSON.parse(l))', big], { encoding: 'utf8', env, ...asUser });
  assert.notEqual(whole.status, 0, 'reading the whole log fits a 24 MB heap: make the log larger');
  const r = spawnSync(bin, ['learn', '--from', big, '-o', join(d, 'big.yaml'), '--progress'], { encoding: 'utf8', env, timeout: 120_000, ...asUser });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^sysward learn: read 100000 lines \(\d+\.\d MiB\): 100000 events and 0 summary lines used, 0 not selected$/m);
  assert.match(readFileSync(join(d, 'big.yaml'), 'utf8'), /- key: net.core.somaxconn\n    range: \[1000, 3999\]\n/);
  rmSync(big);
});
