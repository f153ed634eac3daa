// The audit log without a kernel: lines queued and written per batch, rotation by size keeping N
// files, every line either written or counted as failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../src/daemon/audit-log.js';

const dir = mkdtempSync(join(tmpdir(), 'sysward-audit-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { n: number }).n) : []);

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

test('audit log: a device that refuses writes counts every line as failed, none as written', () => {
  const log = new AuditLog({ file: '/dev/full' });
  for (let n = 0; n < 5; n++) log.write({ n });
  log.flush();
  assert.deepEqual([log.written, log.failed], [0, 5]);
  log.close();
});
