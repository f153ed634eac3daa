// Shipping the audit log, run for real with the collector Debian packages (rsyslog 8.2302):
// deploy/logging/rsyslog reads a real daemon's audit log (imfile, across the daemon's rotation),
// or the journal the daemon writes to under systemd (a private systemd-journald in a mount
// namespace of the test's own; the daemon's output connected to it by systemd-cat, as a unit's
// is), and forwards each event, mapped, to a TCP listener of the test. Vector and Fluent Bit are
// not packaged for Debian 12 and are not run here (docs/daemon.md says so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { gates, kernel, needs, pythonExecutable, which } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';
import { repoRoot } from '../helpers/paths.js';
import { stopProcess } from '../helpers/process.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const rsyslog = needs(which('rsyslogd') ? false : 'needs rsyslogd (apt-get install rsyslog)');
const JOURNALD = '/lib/systemd/systemd-journald';
const journald = needs(existsSync(JOURNALD) && which('systemd-cat') && which('journalctl') ? false : 'needs systemd-journald, systemd-cat and journalctl (apt-get install systemd)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deployed = (f: string) => readFileSync(join(repoRoot(), 'deploy/logging/rsyslog', f), 'utf8');

type Json = Record<string, unknown>;

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, tries = 120): Promise<T> {
  for (let i = 0; i < tries; i++) { const v = await f(); if (v !== undefined) return v; await sleep(250); }
  throw new Error(`gave up waiting for ${what}`);
}

const stop = stopProcess;

/** A TCP listener on loopback collecting newline-separated lines (what rsyslog's omfwd sends). */
async function receiver(): Promise<{ server: Server; port: number; lines: string[] }> {
  const lines: string[] = [];
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\n')) >= 0) { if (i > 0) lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, lines };
}

/**
 * rsyslog's configuration: deploy/logging/rsyslog's files with the collector's address and the
 * audit log's path replaced, and a work directory of the test's own.
 */
function rsyslogConfig(dir: string, input: string, port: number, auditLog?: string): string {
  mkdirSync(join(dir, 'work'));
  const main = deployed('sysward.conf').replace('target="logs.example.com" port="6514"', `target="127.0.0.1" port="${port}"`);
  assert.match(main, new RegExp(`port="${port}"`), 'the forward action found in sysward.conf');
  writeFileSync(join(dir, 'sysward.conf'), main);
  let inp = deployed(input);
  if (auditLog) { inp = inp.replace('file="/var/log/sysward/audit.jsonl"', `file="${auditLog}"`); assert.ok(inp.includes(`file="${auditLog}"`)); }
  writeFileSync(join(dir, 'input.conf'), inp);
  writeFileSync(join(dir, 'rsyslog.conf'), [
    `global(workDirectory="${join(dir, 'work')}" maxMessageSize="64k")`,
    `include(file="${join(dir, 'sysward.conf')}")`,
    `include(file="${join(dir, 'input.conf')}")`,
  ].join('\n') + '\n');
  const check = spawnSync('rsyslogd', ['-N1', '-f', join(dir, 'rsyslog.conf')], { encoding: 'utf8' });
  assert.equal(check.status, 0, `rsyslogd -N1:\n${check.stdout}${check.stderr}`);
  return join(dir, 'rsyslog.conf');
}

/** The policy the daemon enforces on the test's cgroup: hostname refused, domainname audited. */
function writePolicy(dir: string, guard: string, abs: string): string {
  const cfg = join(dir, 'policies');
  mkdirSync(cfg);
  writeFileSync(join(cfg, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), abs)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n  - key: kernel.domainname\n    action: audit\n`);
  return cfg;
}

/** Refused and audited writes from the cgroup (its own UTS namespace), and a flood of 300 refused. */
function writes(abs: string): void {
  const py = `import os
def w(key, v):
    fd = os.open('/proc/sys/kernel/' + key, os.O_WRONLY)
    try: os.write(fd, v)
    except PermissionError: pass
    finally: os.close(fd)
w('domainname', b'audited')
for i in range(300): w('hostname', b'x%d' % i)`;
  const r = shInCgroup(abs, `exec "${pythonExecutable()}" -c "$0"`.replace('"$0"', `'${py.replace(/'/g, `'"'"'`)}'`), ['--uts']);
  assert.equal(r.status, 0, r.stderr);
}

/** Each forwarded line is the event as the daemon wrote it, plus the mapped fields. */
function checkMapped(received: string[], events: Json[], host: string): void {
  const got = received.map((l) => JSON.parse(l) as Json);
  const strip = (o: Json) => { const { '@timestamp': _t, host: _h, service: _s, level: _l, ...rest } = o; return rest; };
  const key = (o: Json) => JSON.stringify(o, Object.keys(o).sort());
  assert.deepEqual(got.map((o) => key(strip(o))).sort(), events.map(key).sort(), 'every event forwarded once, its fields unchanged');
  for (const o of got) {
    assert.equal(o['@timestamp'], o.time);
    assert.equal(o.host, host);
    assert.equal(o.service, 'sysward');
    assert.equal(o.level, o.verdict === 'refused' ? 'warning' : o.verdict === 'would-refuse' ? 'notice' : 'info');
  }
  assert.ok(got.some((o) => o.type === 'summary' && o.verdict === 'refused'), 'the flood\'s summary line is forwarded');
  assert.ok(got.some((o) => o.verdict === 'audited' && o.key === 'kernel.domainname'), 'the audited write is forwarded');
}

test('kernel: rsyslog (imfile, mmjsonparse, omfwd) ships the audit log across rotations, every line once, mapped', gates(kernel(), rsyslog), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-ship-'));
    const guard = `sw-test-ship-${process.pid}`;
    const audit = join(dir, 'log', 'audit.jsonl');
    mkdirSync(join(dir, 'log'));
    const rx = await receiver();
    let daemon: ChildProcess | undefined, rs: ChildProcess | undefined;
    let rsLog = '';
    try {
      const conf = rsyslogConfig(dir, 'sysward-input-file.conf', rx.port, audit);
      // rsyslog first, following the file from before it exists; the daemon rotates it every
      // ~6 KB (--events-max-bytes), about once per round of writes below, so lines land in files
      // renamed under rsyslog. (A file made, filled and renamed within one batch of the daemon's,
      // as with a limit of 1 KB, is never seen by imfile: docs/daemon.md.)
      rs = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
      rs.stdout!.on('data', (d) => { rsLog += d; });
      rs.stderr!.on('data', (d) => { rsLog += d; });
      const cfg = writePolicy(dir, guard, abs);
      daemon = spawn(process.execPath, [bin, 'daemon', '--config', cfg, '--listen', 'none', '--events', audit, '--events-max-bytes', '6000', '--events-keep', '100', '--state-dir', join(dir, 'state')], { stdio: 'ignore' });
      await until('the guard in force', () => (listGuards().includes(guard) ? true : undefined));
      await sleep(500);
      for (let round = 0; round < 3; round++) { writes(abs); await sleep(1100); }
      await stop(daemon); // its last summaries are written as it stops
      const files = readdirSync(join(dir, 'log')).filter((f) => f.startsWith('audit.jsonl'));
      assert.ok(files.length >= 3, `the daemon rotated its log: ${files.join(' ')}`);
      const events = files.flatMap((f) => readFileSync(join(dir, 'log', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json));
      assert.ok(events.length >= 30, `${events.length} lines`);
      await until('every line forwarded', () => (rx.lines.length >= events.length ? true : undefined)).catch(() => assert.fail(`${rx.lines.length} of ${events.length} lines forwarded`));
      await sleep(500); // nothing more arrives
      checkMapped(rx.lines, events, hostname());
    } catch (e) {
      throw new Error(`${(e as Error).message}\nrsyslogd:\n${rsLog.slice(-2000)}`, { cause: e });
    } finally {
      await stop(daemon);
      await stop(rs);
      rx.server.close();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('kernel: under systemd (journald): each event is a journal entry of SYSLOG_IDENTIFIER=sysward; rsyslog\'s imjournal ships them mapped', gates(kernel(), rsyslog, journald), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-journal-'));
    const guard = `sw-test-journal-${process.pid}`;
    const rx = await receiver();
    const procs: ChildProcess[] = [];
    try {
      // A mount namespace of the test's own, where a private journald's sockets and files live
      // (this host runs no systemd; a real one's journal is not touched).
      const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
        'for d in /run/systemd /run/log /var/log/journal; do mount -t tmpfs tmpfs "$d" || exit 1; done; echo ready; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
      procs.push(holder);
      await until('the mount namespace', () => new Promise<true | undefined>((r) => { let out = ''; holder.stdout!.on('data', (d) => { out += d; if (out.includes('ready')) r(true); }); setTimeout(() => r(undefined), 2000); }));
      const inNs = (argv: string[], o: Parameters<typeof spawn>[2] = { stdio: 'ignore' }) => { const p = spawn('nsenter', ['-t', String(holder.pid), '-m', '--', ...argv], o); procs.push(p); return p; };
      const inNsSync = (argv: string[]) => spawnSync('nsenter', ['-t', String(holder.pid), '-m', '--', ...argv], { encoding: 'utf8' });
      inNs([JOURNALD]);
      await until('journald\'s stdout socket', () => (inNsSync(['test', '-S', '/run/systemd/journal/stdout']).status === 0 ? true : undefined));

      // The daemon as the unit runs it with --stdout: stdout and stderr connected to the journal
      // under the identifier the unit sets (SyslogIdentifier=sysward).
      const cfg = writePolicy(dir, guard, abs);
      const daemon = inNs(['systemd-cat', '-t', 'sysward', process.execPath, bin, 'daemon', '--config', cfg, '--listen', 'none', '--events', 'none', '--stdout', '--state-dir', join(dir, 'state')]);
      await until('the guard in force', () => (listGuards().includes(guard) ? true : undefined));
      await sleep(500);
      writes(abs);
      await stop(daemon);

      const journal = inNsSync(['journalctl', '-o', 'json', '--no-pager', 'SYSLOG_IDENTIFIER=sysward']);
      assert.equal(journal.status, 0, journal.stderr);
      const entries = journal.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
      const events = entries.filter((e) => String(e.MESSAGE).startsWith('{')).map((e) => JSON.parse(String(e.MESSAGE)) as Json);
      assert.ok(entries.some((e) => /sysward daemon: /.test(String(e.MESSAGE))), 'the daemon\'s own log lines are in the journal too');
      assert.ok(events.filter((e) => e.type === undefined && e.verdict === 'refused' && e.key === 'kernel.hostname').length >= 1);
      const refused = events.filter((e) => e.verdict === 'refused' && e.key === 'kernel.hostname').reduce((a, e) => a + (typeof e.count === 'number' ? e.count : 1), 0);
      assert.equal(refused, 300, 'events + summary counts in the journal = the refused writes');
      const host = String(entries[0]!._HOSTNAME);

      const conf = rsyslogConfig(dir, 'sysward-input-journal.conf', rx.port);
      inNs(['rsyslogd', '-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);
      await until('every event forwarded', () => (rx.lines.length >= events.length ? true : undefined)).catch(() => assert.fail(`${rx.lines.length} of ${events.length} events forwarded`));
      await sleep(500);
      checkMapped(rx.lines, events, host);
    } finally {
      for (const p of procs.reverse()) await stop(p);
      rx.server.close();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
