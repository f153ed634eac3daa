// The audit log without a kernel: lines queued and written per batch, rotation by size keeping N
// files, every line either written or counted as failed; and what operators do to it: logrotate's
// rename, deletion, SIGUSR1, copytruncate, a full disk, a flood rotating through every kept file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync,
  readlinkSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../src/daemon/audit-log.js';
import { IS_ROOT, needs } from '../helpers/env.js';

const dir = mkdtempSync(join(tmpdir(), 'sysward-audit-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
/** The `n` of each line of a file; every line must parse, so a torn line fails the test. */
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n) : []);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
/** The log's own descriptors, as the files they are open on. */
const openOn = (f: string) => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`).startsWith(f); } catch { return false; } });

test('audit log: lines reach the file at flush (or close), counted as written then', () => {
  const f = join(dir, 'a.jsonl');
  const log = new AuditLog({ file: f });
  for (let n = 0; n < 3; n++) log.write({ n });
  assert.deepEqual([lines(f), log.written], [[], 0], 'queued, not written yet');
  log.flush();
  assert.deepEqual([lines(f), log.written, log.failed], [[0, 1, 2], 3, 0]);
  log.write({ n: 3 });
  log.close();
  assert.deepEqual(lines(f), [0, 1, 2, 3], 'close flushes');
});

test('audit log: 64 KiB queued flush on their own', () => {
  const f = join(dir, 'b.jsonl');
  const log = new AuditLog({ file: f });
  const pad = 'x'.repeat(1000);
  for (let n = 0; n < 70; n++) log.write({ n, pad });
  assert.ok(lines(f).length >= 60, `flushed without being asked: ${lines(f).length} lines`);
  log.close();
  assert.equal(lines(f).length, 70);
});

test('audit log: rotation by size keeps the newest lines in FILE, FILE.1 … FILE.keep, none over maxBytes', () => {
  const f = join(dir, 'c.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 200, keep: 2 });
  for (let n = 0; n < 40; n++) { log.write({ n, event: 'refused' }); if (n % 7 === 0) log.flush(); }
  log.close();
  for (const g of [f, `${f}.1`, `${f}.2`]) assert.ok(statSync(g).size <= 200, `${g}: ${statSync(g).size} bytes`);
  assert.equal(existsSync(`${f}.3`), false);
  const kept = [...lines(`${f}.2`), ...lines(`${f}.1`), ...lines(f)];
  assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 40 - kept.length + i), 'the newest, in order, none missing');
  assert.equal(log.written, 40);
});

test('audit log: maxBytes 0 never rotates (logrotate does)', () => {
  const f = join(dir, 'norotate.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 0 });
  for (let n = 0; n < 50; n++) { log.write({ n }); log.flush(); }
  log.close();
  assert.deepEqual([lines(f), existsSync(`${f}.1`)], [range(0, 50), false]);
});

test('audit log: a device that refuses writes counts every line as failed, none as written', () => {
  const said: string[] = [];
  const log = new AuditLog({ file: '/dev/full', log: (l) => said.push(l) });
  for (let n = 0; n < 5; n++) log.write({ n });
  log.flush();
  assert.deepEqual([log.written, log.failed], [0, 5]);
  assert.match(log.problem ?? '', /cannot write \/dev\/full: ENOSPC/);
  assert.equal(said.length, 1);
  log.close();
});


test('audit log: renamed (logrotate create), writing goes on in a new file, through later size rotations, every line counted', () => {
  const f = join(dir, 'mv.jsonl');
  const said: string[] = [];
  const log = new AuditLog({ file: f, maxBytes: 300, keep: 50, log: (l) => said.push(l) });
  for (let n = 0; n < 10; n++) log.write({ n });
  log.flush();
  renameSync(f, `${f}-1`);
  // The rename used to make the next size rotation fail (ENOENT) and every later line with it.
  for (let n = 10; n < 200; n++) { log.write({ n }); if (n % 10 === 9) log.flush(); }
  log.close();
  assert.deepEqual(lines(`${f}-1`), range(0, 10), 'the renamed file keeps what was written before');
  const rotated = readdirSync(dir).filter((x) => x.startsWith('mv.jsonl.')).map((x) => Number(x.slice('mv.jsonl.'.length))).sort((a, b) => b - a);
  assert.ok(rotated.length > 3, 'rotated by size after the rename');
  assert.deepEqual([...rotated.flatMap((i) => lines(`${f}.${i}`)), ...lines(f)], range(10, 200), 'every later line, in order');
  assert.deepEqual([log.written, log.failed, log.problem], [200, 0, undefined]);
  assert.deepEqual(said, [`${f} was renamed, deleted or replaced: opening it anew`]);
});

test('audit log: deleted, the next flush writes a new file and lets the deleted one go', () => {
  const f = join(dir, 'rm.jsonl');
  const log = new AuditLog({ file: f, log: () => {} });
  log.write({ n: 0 });
  log.flush();
  rmSync(f);
  log.write({ n: 1 });
  log.flush();
  assert.deepEqual(lines(f), [1]);
  assert.equal(openOn(`${f} (deleted)`).length, 0, 'no descriptor left on the deleted file (its space is freed)');
  log.close();
  assert.deepEqual([log.written, log.failed], [2, 0]);
});

test('audit log: reopen() (SIGUSR1) lets the renamed file go at once and makes FILE anew', () => {
  const f = join(dir, 'usr1.jsonl');
  const log = new AuditLog({ file: f });
  log.write({ n: 0 });
  log.flush();
  renameSync(f, `${f}-1`);
  log.write({ n: 1 });
  log.reopen();
  assert.equal(openOn(`${f}-1`).length, 0, 'the renamed file is closed');
  assert.ok(existsSync(f), 'FILE exists again before any event (tail -F, logrotate create)');
  log.close();
  assert.deepEqual([lines(`${f}-1`), lines(f)], [[0], [1]], 'a line queued before the signal goes to the new file');
  assert.deepEqual([log.written, log.failed], [2, 0]);
  assert.deepEqual(openOn(f), [], 'close releases it');
  log.reopen();
  assert.deepEqual(openOn(f), [], 'a closed log does not open again');
});

test('audit log: copytruncate, the log follows the truncation: lines at the start, no hole, no early rotation', () => {
  const f = join(dir, 'ct.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 1000, keep: 1 });
  const pad = 'x'.repeat(80);
  for (let n = 0; n < 9; n++) log.write({ n, pad });
  log.flush();
  assert.ok(statSync(f).size > 850, 'three more lines would pass maxBytes');
  copyFileSync(f, `${f}-1`);
  truncateSync(f, 0);
  for (let n = 9; n < 12; n++) log.write({ n, pad });
  log.flush();
  assert.equal(readFileSync(f, 'utf8').includes('\0'), false, 'written at the end of the truncated file, not at the old offset');
  assert.deepEqual(lines(f), [9, 10, 11]);
  assert.equal(existsSync(`${f}.1`), false, 'the size counted from the truncation: no rotation yet');
  assert.deepEqual(lines(`${f}-1`), range(0, 9));
  log.close();
  assert.deepEqual([log.written, log.failed], [12, 0]);
});

test('audit log: a descriptor the log let go of, taken by someone else, is never written to nor closed by it', () => {
  const f = join(dir, 'fd.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 400, keep: 2, log: () => {} });
  const others: { fd: number; path: string; ino: number }[] = [];
  for (let round = 0; round < 30; round++) {
    for (let n = 0; n < 5; n++) log.write({ n: round * 5 + n, pad: 'x'.repeat(40) });
    log.flush();
    // Each of an operator's moves, then a descriptor opened right after (the lowest free number:
    // one the log just gave up, if it gave one up).
    if (round % 3 === 0) renameSync(f, `${f}-${round}`); else if (round % 3 === 1) rmSync(f); else log.reopen();
    const path = join(dir, `other-${round}`);
    const fd = openSync(path, 'w+');
    others.push({ fd, path, ino: fstatSync(fd).ino });
  }
  log.close();
  log.close();
  for (const o of others) {
    assert.equal(fstatSync(o.fd).ino, o.ino, `descriptor ${o.fd} still open on its own file`);
    assert.equal(readFileSync(o.path, 'utf8'), '', `nothing written to ${o.path}`);
    closeSync(o.fd);
  }
  assert.deepEqual([log.written, log.failed], [150, 0]);
});

test('audit log: cannot be opened, it says so, counts every line as failed and writes once it can', () => {
  const blocker = join(dir, 'blocker');
  writeFileSync(blocker, '');
  const f = join(blocker, 'audit.jsonl');
  const said: string[] = [];
  const log = new AuditLog({ file: f, log: (l) => said.push(l) });
  assert.match(log.problem ?? '', /cannot write .*blocker\/audit\.jsonl: EEXIST/, 'the constructor does not throw: the daemon still guards');
  for (let n = 0; n < 3; n++) { log.write({ n }); log.flush(); }
  rmSync(blocker);
  log.write({ n: 3 });
  log.close();
  assert.deepEqual([lines(f), log.written, log.failed, log.problem], [[3], 1, 3, undefined]);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[1]!, /is written again; 3 event\(s\) could not be written meanwhile/);
});

test('audit log: a rotation the filesystem refuses writes on past maxBytes, says so once, and rotates once it can', () => {
  const f = join(dir, 'norot.jsonl');
  mkdirSync(join(`${f}.1`, 'in-the-way'), { recursive: true });
  const said: string[] = [];
  const log = new AuditLog({ file: f, maxBytes: 100, keep: 1, keepFirstMs: 0, log: (l) => said.push(l) });
  for (let n = 0; n < 20; n++) { log.write({ n }); log.flush(); }
  assert.deepEqual([lines(f), log.failed, log.problem], [range(0, 20), 0, undefined], 'nothing lost');
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, /cannot rotate .*norot\.jsonl \(writing on past 100 bytes\)/);
  rmSync(`${f}.1`, { recursive: true });
  log.write({ n: 20 });
  log.close();
  assert.deepEqual([lines(`${f}.1`), lines(f)], [range(0, 20), [20]]);
});

test('audit log: a full disk (64 KiB tmpfs) leaves whole lines only, counts exactly, says so once, and writing resumes when space returns', needs(IS_ROOT ? false : 'needs root to mount a tmpfs'), () => {
  const mnt = mkdtempSync(join(tmpdir(), 'sysward-full-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  let log: AuditLog | undefined;
  try {
    // Space to give back later.
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(16 * 1024));
    const f = join(mnt, 'audit.jsonl');
    const said: string[] = [];
    const audit = new AuditLog({ file: f, log: (l) => said.push(l) });
    log = audit;
    // 97-byte lines in batches of 7: writes cross page boundaries, so the disk fills mid-line.
    let n = 0;
    const batch = () => { for (let i = 0; i < 7; i++) audit.write({ n: n++, pad: 'p'.repeat(80) }); audit.flush(); };
    while (audit.failed === 0 && n < 10_000) batch();
    for (let i = 0; i < 50; i++) batch();
    assert.match(audit.problem ?? '', /ENOSPC/);
    assert.equal(audit.written + audit.failed, n, 'every line counted, once');
    const full = lines(f);
    assert.equal(full.length, audit.written, 'the file holds exactly the lines counted as written');
    assert.ok(readFileSync(f, 'utf8').endsWith('\n'), 'no partial line at the end');
    assert.equal(said.length, 1, said.join('\n'));
    const lostWhileFull = audit.failed;
    rmSync(join(mnt, 'filler'));
    const resumedAt = n;
    for (let i = 0; i < 10; i++) batch();
    audit.close();
    const all = lines(f);
    assert.deepEqual(all, [...full, ...range(resumedAt, n)], 'whole lines only, in order; writing resumed with space');
    assert.deepEqual([audit.written, audit.failed, audit.problem], [all.length, lostWhileFull, undefined]);
    assert.equal(audit.written + audit.failed, n);
    assert.equal(said.length, 2, said.join('\n'));
    assert.match(said[1]!, new RegExp(`is written again; ${lostWhileFull} event\\(s\\) could not be written meanwhile`));
  } finally {
    // Closed first, or the mount stays busy; lazily unmounted if something still holds it.
    try { log?.close(); } catch { /* the assertion that failed matters more */ }
    if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

/** Make every file of the log look last written two hours ago. */
const age = (f: string) => {
  const then = new Date(Date.now() - 2 * 3600_000);
  for (const x of readdirSync(dir)) if (x === f.slice(dir.length + 1) || x.startsWith(`${f.slice(dir.length + 1)}.`)) utimesSync(join(dir, x), then, then);
};

test('audit log: rotations far apart drop the oldest file as usual: no FILE.first', () => {
  const f = join(dir, 'calm.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 200, keep: 2 });
  for (let n = 0; n < 60; n++) { log.write({ n }); log.flush(); age(f); }
  log.close();
  assert.equal(existsSync(`${f}.first`), false);
  assert.equal(existsSync(`${f}.3`), false);
});

test('audit log: a flood keeps the file it began in as FILE.first; the next flood replaces it; a restart mid-flood keeps it', () => {
  const f = join(dir, 'flood.jsonl');
  const quiet = new AuditLog({ file: f, maxBytes: 200, keep: 2 });
  for (let n = 0; n < 5; n++) { quiet.write({ n }); quiet.flush(); }
  quiet.close();
  age(f);
  // The first flood: lines 5…199 within a second.
  const log = new AuditLog({ file: f, maxBytes: 200, keep: 2 });
  for (let n = 5; n < 200; n++) { log.write({ n }); log.flush(); }
  const first = lines(`${f}.first`);
  assert.ok(first.includes(0) && first.includes(5), `FILE.first holds what came before the flood and its start: ${first}`);
  const kept = [...lines(`${f}.2`), ...lines(`${f}.1`), ...lines(f)];
  assert.deepEqual(kept, range(200 - kept.length, 200), 'the newest as usual');
  assert.equal(log.written, 195);
  log.close();
  // A restart mid-flood: FILE.first is taken to be this flood's, and stays.
  const again = new AuditLog({ file: f, maxBytes: 200, keep: 2 });
  for (let n = 200; n < 300; n++) { again.write({ n }); again.flush(); }
  assert.deepEqual(lines(`${f}.first`), first);
  // Calm, then a second flood: its own first file replaces the first flood's.
  age(f);
  for (let n = 300; n < 500; n++) { again.write({ n }); again.flush(); }
  again.close();
  const second = lines(`${f}.first`);
  assert.ok(second.includes(300) && !second.includes(0), `FILE.first is the second flood's: ${second}`);
});

test('audit log: keep-first off (keepFirstMs 0): a flood keeps only the newest files', () => {
  const f = join(dir, 'nofirst.jsonl');
  const log = new AuditLog({ file: f, maxBytes: 200, keep: 2, keepFirstMs: 0 });
  for (let n = 0; n < 200; n++) { log.write({ n }); log.flush(); }
  log.close();
  assert.equal(existsSync(`${f}.first`), false);
});
