// Callbacks (bpf_loop, bpf_for_each_map_elem) in a clang-built object: loaded by sysward and by
// bpftool, run, and compared; the disassembly names them as bpftool does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { Program } from '../../../src/bpf/prog.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { dumpXlated } from '../../../src/bpf/xlated.js';
import { gates, kernel, needs, which } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';

const gate = gates(kernel(), withClang, needs(!which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false));
const VALUES = [3n, 5n, 7n, 11n];
const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
const u64 = (n: bigint) => Buffer.from(BigUint64Array.of(n).buffer);

test('kernel: bpf_loop and bpf_for_each_map_elem callbacks run as under bpftool, and dump as bpftool dumps them', gate, () => {
  const obj = compileFixture('callbacks');
  using ours = Collection.load(readObject(obj));
  VALUES.forEach((v, i) => ours.map('nums').set(u32(i), u64(v)));
  ours.program('run_callbacks').testRun({ data: null });
  assert.deepEqual(ours.globals('.bss'), { total: 45n, calls: 10n, map_sum: 26n });
  const id = ours.program('run_callbacks').info().id;
  assert.equal(dumpXlated(ours.program('run_callbacks').handle), execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id)], { encoding: 'utf8' }));

  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-callbacks-${process.pid}`;
  try {
    execFileSync('bpftool', ['prog', 'load', obj, pin], { stdio: 'pipe' });
    using theirs = Program.openPinned(pin);
    const maps = theirs.info().mapIds.map((m) => BpfMap.openBytesById(m));
    try {
      const byName = (suffix: string) => maps.find((m) => m.info().name.endsWith(suffix))!;
      VALUES.forEach((v, i) => byName('nums').set(u32(i), u64(v)));
      theirs.testRun({ data: null });
      assert.deepEqual(byName('.bss').get(u32(0)), ours.map('callback.bss').get(0));
      // The maps themselves as libbpf makes them: names ("callback.bss"), types, sizes, flags (mmapable data).
      const shape = (ms: { info(): { name: string; type: number; keySize: number; valueSize: number; maxEntries: number; flags: number } }[]) =>
        ms.map((m) => m.info()).map((i) => `${i.name} ${i.type} ${i.keySize}/${i.valueSize}x${i.maxEntries} flags ${i.flags}`).sort();
      assert.deepEqual(shape([...ours.maps.values()]), shape(maps));
    } finally { for (const m of maps) m.close(); }
  } finally { rmSync(pin, { force: true }); }
});
