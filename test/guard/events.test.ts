// Decoding records without a kernel: the cached decoder and eventJson against what the plain
// decoding gives (BigInt fields, utf8 per event, JSON.stringify), on records that vary every field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEvent, eventJson, isoTime, type RuleNames } from '../../src/guard/runtime/events.js';
import { Ev } from '../../src/guard/compiler/abi.js';

const policy: RuleNames = { name: 'g"1', rules: [{ key: { text: 'kernel.hostname' } }, { key: { text: 'net.*' } }] };
const texts: (string | Buffer)[] = ['kernel/hostname', 'net/ipv4/conf/eth0.100/forwarding', 'a"b\\c\n\u0001', 'x\n', 'é€😀', '', '\n\n', Buffer.from([0xff, 0xfe, 0x41, 0x80]), '\u2028'];
const names = (id: bigint) => (id === 5n ? 'docker:abc"\\' : id % 3n === 0n ? `/sys/${id}` : undefined);

/** A deterministic sequence (reproducible failures). */
let seed = 1;
const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
const put = (b: Buffer, off: number, size: number, s: string | Buffer) => { b.fill(0, off, off + size); Buffer.from(s).copy(b, off, 0, size); };

test('decodeEvent and eventJson: every field as plain decoding gives it, and JSON.stringify exactly', () => {
  for (let i = 0; i < 5000; i++) {
    const r = Buffer.alloc(Ev.SIZE);
    const pick = () => texts[rnd(texts.length)]!;
    put(r, Ev.NAME, 128, pick()); put(r, Ev.COMM, 16, pick()); put(r, Ev.OLD, 128, pick()); put(r, Ev.NEW, 128, pick());
    if (rnd(5) === 0) r.fill(0x61, Ev.OLD, Ev.OLD + 128);
    r.writeInt32LE([-7, -22, 0, 1, 2, 3, 200][rnd(7)]!, Ev.CUR_LEN); r.writeInt32LE([-7, -22, 0, 1, 5, 200][rnd(6)]!, Ev.NEW_LEN);
    r[Ev.WRITE] = rnd(2); r[Ev.VERDICT] = rnd(4); r[Ev.REASON] = rnd(12);
    r.writeUInt32LE(rnd(5), Ev.RULE);
    const cg = [5n, 6n, 9n, 2n ** 60n + 3n, 2n ** 53n + 1n, 0n][rnd(6)]!;
    r.writeBigUInt64LE(cg, Ev.CGROUP);
    const bound = [0n, 5n, 7n, 2n ** 63n + 11n][rnd(4)]!;
    r.writeBigUInt64LE(bound, Ev.BOUND_CGROUP);
    const ts = BigInt(rnd(2 ** 30)) * BigInt(rnd(2 ** 30)) + BigInt(rnd(1e6));
    r.writeBigUInt64LE(ts, Ev.TS);
    r.writeUInt32LE(rnd(2) ? 0xffffffff : rnd(100), Ev.PID_TGID); r.writeUInt32LE(rnd(2) ? 0xffffffff : rnd(100), Ev.PID_TGID + 4);
    r.writeUInt32LE(rnd(2) ? 0xffffffff : rnd(100), Ev.UID_GID); r.writeUInt32LE(rnd(2) ? 0xffffffff : rnd(100), Ev.UID_GID + 4);
    for (let k = 0; k < 7; k++) r.writeUInt32LE(rnd(3) ? 0 : rnd(2 ** 31) * 2 + 1, Ev.NS + 4 * k);
    const rec = i % 7 === 3 ? r.subarray(0, Ev.V1_SIZE) : r;
    const e = decodeEvent(rec, policy, names);
    const text = (off: number, size: number) => { const s = r.subarray(off, off + size); const end = s.indexOf(0); return s.subarray(0, end < 0 ? size : end).toString('utf8'); };
    const value = (off: number, len: number) => (len === -7 ? `${text(off, 128).replace(/\n$/, '')}…` : len < 0 ? null : text(off, Math.min(len, 128)).replace(/\n$/, ''));
    const write = r[Ev.WRITE] !== 0;
    assert.equal(e.oldValue, value(Ev.OLD, r.readInt32LE(Ev.CUR_LEN)));
    assert.equal(e.newValue, write ? value(Ev.NEW, r.readInt32LE(Ev.NEW_LEN)) : null);
    assert.equal(e.comm, text(Ev.COMM, 16));
    assert.equal(e.key.length === 0, text(Ev.NAME, 128).length === 0);
    assert.equal(e.cgroupId, cg.toString());
    assert.equal(e.cgroup, names(cg));
    assert.equal(e.pid, Number(r.readBigUInt64LE(Ev.PID_TGID) & 0xffffffffn));
    assert.equal(e.tgid, Number(r.readBigUInt64LE(Ev.PID_TGID) >> 32n));
    assert.equal(e.gid, Number(r.readBigUInt64LE(Ev.UID_GID) >> 32n));
    // The wall time is ktime plus an offset taken at load: against ktime 0, whole ms apart (0 or 1
    // more, by the offset's sub-ms remainder).
    const step = Date.parse(e.time) - Date.parse(decodeEvent(Buffer.from(r).fill(0, Ev.TS, Ev.TS + 8), policy).time) - Number(ts / 1_000_000n);
    assert.ok(step === 0 || step === 1, `time off by ${step} ms`);
    if (rec.length === Ev.SIZE && bound) assert.deepEqual(e.boundTo, { cgroupId: bound.toString(), ...(names(bound) ? { cgroup: names(bound) } : {}) });
    else assert.equal(e.boundTo, undefined);
    assert.equal(eventJson(e), JSON.stringify(e));
  }
});

test('eventJson follows a rule renamed after decoding (an earlier version\'s rule)', () => {
  const r = Buffer.alloc(Ev.SIZE);
  put(r, Ev.NAME, 128, 'kernel/hostname');
  r.writeUInt32LE(9, Ev.RULE);
  const e = decodeEvent(r, policy);
  e.rule.key = `rule ${e.rule.index} of an earlier version`;
  assert.equal(eventJson(e), JSON.stringify(e));
});

test('event times are written as toISOString writes them', () => {
  // Years 1000 to 9999 from the UTC fields, others (with a sign) by toISOString itself.
  fc.assert(fc.property(fc.integer({ min: -62_198_755_200_000, max: 253_402_300_799_999 }), (ms) => isoTime(ms) === new Date(ms).toISOString()), { numRuns: 20_000 });
  for (const ms of [0, 1, 999, -1, 946_684_799_999, 951_782_400_000, 253_402_300_800_000, -62_198_755_200_001, 8.64e15]) assert.equal(isoTime(ms), new Date(ms).toISOString());
});
