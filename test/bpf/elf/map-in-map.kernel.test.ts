// Maps of maps and tail calls through program arrays, with initial values (__array(values, …)):
// each object loaded by sysward and by bpftool (libbpf), run, and compared: what the slots hold,
// the inner maps' contents, .bss byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { bytes } from '../../../src/bpf/codec.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { Program } from '../../../src/bpf/prog.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { repoRoot } from '../../helpers/paths.js';
import { gates, kernel, needs, which } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';

const gate = gates(kernel(), withClang, needs(!which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false));
const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
const u64 = (n: bigint) => Buffer.from(BigUint64Array.of(n).buffer);
const contents = (m: BpfMap<Buffer, Buffer>) => [...m].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
const pinPath = (what: string) => `/sys/fs/bpf/sysward-test-${what}-${process.pid}`;

/** Maps of one loaded copy by name (libbpf's .bss name is longer than sysward's: match the suffix). */
function mapsById(ids: number[]): { get(suffix: string): BpfMap<Buffer, Buffer>; close(): void } {
  const maps = ids.map((id) => BpfMap.openBytesById(id));
  return {
    get: (suffix) => maps.find((m) => m.info().name === suffix || (suffix.startsWith('.') && m.info().name.endsWith(suffix)))!,
    close: () => { for (const m of maps) m.close(); },
  };
}

/**
 * Seed and run one copy of map_in_map.bpf.o: values at key 1 of the inner maps in outer's slots, a
 * fresh inner map under key 7 of outer_hash (which has no initial values). What the slots and maps
 * hold afterwards.
 */
function runMapInMap(prog: Program, maps: { get(suffix: string): BpfMap<Buffer, Buffer> }) {
  const outer = maps.get('outer');
  const slots = [0, 1, 2].map((i) => { const id = outer.get(u32(i)); return id ? BpfMap.openBytesById(id.readUInt32LE(0)) : undefined; });
  try {
    slots[0]?.set(u32(1), u64(11n));
    slots[2]?.set(u32(1), u64(22n));
    using extra = BpfMap.create({ type: 'ARRAY', key: bytes(4), value: bytes(8), maxEntries: 4 });
    extra.set(u32(0), u64(5n));
    maps.get('outer_hash').set(u32(7), u32(extra.fd));
    assert.equal(prog.testRun({ data: null }).retval, 0);
    const info = (m: BpfMap<Buffer, Buffer>) => { const i = m.info(); return [i.typeName, i.keySize, i.valueSize, i.maxEntries, i.flags]; };
    return {
      outer: info(outer), outerHash: info(maps.get('outer_hash')),
      slots: slots.map((m) => m && { name: m.info().name, contents: contents(m) }),
      extra: contents(extra), bss: Buffer.from(maps.get('.bss').get(u32(0))!),
    };
  } finally { for (const m of slots) m?.close(); }
}

test('kernel: a map of maps with initial values runs as under bpftool: the same slots, inner maps and .bss', gate, () => {
  const obj = compileFixture('map_in_map');
  using ours = Collection.load(readObject(obj));
  assert.equal(ours.btfWarning, undefined);
  const oursMaps = mapsById([...ours.maps.values()].map((m) => m.info().id));
  let mine: ReturnType<typeof runMapInMap>;
  try { mine = runMapInMap(ours.program('use_inner'), oursMaps); } finally { oursMaps.close(); }
  assert.deepEqual(ours.globals('.bss'), { present: [1, 0, 1], seen: [11n, 0n, 22n], hash_found: 1, hash_seen: 5n });
  assert.deepEqual(mine.slots.map((s) => s?.name), ['inner_a', undefined, 'inner_b']);
  assert.deepEqual(ours.entries('inner_a').map((e) => e.value), [100n, 11n, 0n, 0n]);
  assert.deepEqual(ours.entries('inner_b').map((e) => e.value), [300n, 22n, 0n, 0n]);
  assert.deepEqual(mine.extra[0], `00000000=${u64(7777n).toString('hex')}`);

  ensureBpffs();
  const pin = pinPath('map-in-map');
  try {
    execFileSync('bpftool', ['prog', 'load', obj, pin], { stdio: 'pipe' });
    using theirs = Program.openPinned(pin);
    const theirMaps = mapsById(theirs.info().mapIds);
    try {
      assert.deepEqual(runMapInMap(theirs, theirMaps), mine);
    } finally { theirMaps.close(); }
  } finally { rmSync(pin, { force: true }); }
});

/** Run tail_call.bpf.o's entry with the packet's first byte naming the slot: return values, then what the slots and .bss hold. */
function runTailCalls(entry: Program, maps: { get(suffix: string): BpfMap<Buffer, Buffer> }) {
  const retvals = [0, 1, 2].map((slot) => {
    const packet = Buffer.alloc(64);
    packet[0] = slot;
    return entry.testRun({ data: packet }).retval;
  });
  const slots = [...maps.get('jump')].map(([k, v]) => {
    using p = Program.fromId(v.readUInt32LE(0));
    return [k.readUInt32LE(0), p.info().name];
  });
  return { retvals, slots, bss: Buffer.from(maps.get('.bss').get(u32(0))!) };
}

test('kernel: tail calls through a program array with initial values land as under bpftool', gate, () => {
  const obj = compileFixture('tail_call');
  // Only entry asked for: the programs of the array it uses load with it.
  using ours = Collection.load(readObject(obj), { programs: ['entry'] });
  assert.deepEqual([...ours.programs.keys()].sort(), ['callee_a', 'callee_b', 'entry']);
  const oursMaps = mapsById([...ours.maps.values()].map((m) => m.info().id));
  let mine: ReturnType<typeof runTailCalls>;
  try { mine = runTailCalls(ours.program('entry'), oursMaps); } finally { oursMaps.close(); }
  assert.deepEqual(mine.retvals, [2, 3, 1], 'XDP_PASS from callee_a, XDP_TX from callee_b, XDP_DROP falling through the empty slot');
  assert.deepEqual(mine.slots, [[0, 'callee_a'], [1, 'callee_b']]);
  assert.deepEqual(ours.globals('.bss'), { a_ran: 0xa1, b_ran: 0xb2, fell_through: 1, last_slot: 1 });

  ensureBpffs();
  const dir = pinPath('tail-call');
  try {
    // The maps pinned too: the kernel empties a program array once no user space holds it.
    execFileSync('bpftool', ['prog', 'loadall', obj, dir, 'pinmaps', `${dir}-maps`], { stdio: 'pipe' });
    using entry = Program.openPinned(join(dir, 'entry'));
    const theirMaps = mapsById(entry.info().mapIds);
    try {
      assert.deepEqual(runTailCalls(entry, theirMaps), mine);
    } finally { theirMaps.close(); }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-maps`, { recursive: true, force: true });
  }
});

test('kernel: initial values sysward refuses bpftool refuses too; a map of maps without an inner definition fails clearly', gate, () => {
  ensureBpffs();
  for (const c of ['INNER_MISMATCH', 'VALUES_ON_HASH', 'SLOT_NOT_A_MAP', 'SLOT_NOT_A_PROGRAM', 'SLOT_PAST_END', 'NESTED', 'HASH_KEY_SIZE']) {
    const dir = pinPath(`values-${c}`);
    try {
      const r = spawnSync('bpftool', ['prog', 'loadall', compileFixture('map_values_errors', { CASE: c }), dir], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `bpftool loads ${c}:\n${r.stderr}`);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  }
  const spec = readObject(compileFixture('map_values_errors', { CASE: 'NO_INNER_DEFINITION' }));
  assert.throws(() => Collection.load(spec), /map outer: sysward creates ARRAY_OF_MAPS maps from the definition of their inner maps; add __array\(values, struct \{ … \}\)/);
});

test('kernel: bpf load pins a program array with its slots; its tail calls land after the command exits', gate, () => {
  const obj = compileFixture('tail_call');
  ensureBpffs();
  const dir = pinPath('cli-tail-call');
  const packet = join(tmpdir(), `sysward-tail-call-${process.pid}`);
  const sysward = (...args: string[]) => execFileSync(join(repoRoot(), 'bin', 'sysward'), args, { encoding: 'utf8' });
  try {
    const loaded = JSON.parse(sysward('bpf', 'load', obj, '--pin', dir, '--json'));
    const jump = loaded.maps.find((m: { name: string }) => m.name === 'jump');
    assert.deepEqual(jump.slots, [{ index: 0, program: 'callee_a' }, { index: 1, program: 'callee_b' }]);
    assert.equal(jump.pinned, join(dir, 'maps', 'jump'));
    writeFileSync(packet, Buffer.concat([Buffer.of(1), Buffer.alloc(63)]));
    assert.match(sysward('bpf', 'prog', 'run', join(dir, 'entry'), '--data-in', packet), /^Return value: 3,/);
    const bss = loaded.maps.find((m: { name: string }) => m.name.endsWith('.bss'));
    assert.equal(sysward('bpf', 'map', 'dump', bss.pinned), '0: {"a_ran":0,"b_ran":178,"fell_through":0,"last_slot":1}\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(packet, { force: true });
  }
  assert.equal(existsSync(dir), false);
});
