// Maps of maps and program arrays with initial values (__array(values, …)) read into the spec, no
// kernel: the inner maps' definition, the slots .rel.maps fills, and the errors for what no loader
// can load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElfError } from '../../../src/bpf/elf/elf.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { programsToLoad } from '../../../src/bpf/elf/collection.js';
import { compileFixture, withClang } from './compile.js';

test('maps of maps: the inner definition parsed like a map, slots from .rel.maps, 4-byte fd values', withClang, () => {
  const o = readObject(compileFixture('map_in_map'));
  const btf = o.btf!;
  const outer = o.map('outer');
  assert.deepEqual([outer.type, outer.keySize, outer.valueSize, outer.maxEntries, outer.flags, outer.btfValueTypeId], ['ARRAY_OF_MAPS', 4, 4, 3, 0, 0]);
  const inner = outer.inner!;
  assert.deepEqual([inner.name, inner.type, inner.keySize, inner.valueSize, inner.maxEntries, inner.flags], ['outer.inner', 'ARRAY', 4, 8, 4, 0]);
  assert.deepEqual([btf.typeName(inner.btfKeyTypeId), btf.typeName(inner.btfValueTypeId)], ['__u32', '__u64']);
  assert.deepEqual(outer.slots, [{ index: 0, kind: 'map', target: 'inner_a' }, { index: 2, kind: 'map', target: 'inner_b' }]);
  // No initial values: a template, no slots.
  const hash = o.map('outer_hash');
  assert.deepEqual([hash.type, hash.keySize, hash.valueSize, hash.inner!.name, hash.inner!.maxEntries, hash.slots], ['HASH_OF_MAPS', 4, 4, 'outer_hash.inner', 4, undefined]);
  // The maps in the slots are ordinary maps of the object; the template is not one.
  assert.deepEqual(o.maps.filter((m) => !m.section).map((m) => m.name), ['inner_a', 'inner_b', 'outer', 'outer_hash']);
  assert.equal(o.map('inner_a').inner, undefined);
  assert.deepEqual(o.program('use_inner').relocations.filter((r) => r.kind === 'map').map((r) => 'map' in r && r.map).sort(), ['outer', 'outer', 'outer', 'outer_hash']);
});

test('program arrays: slots name programs; a filtered load keeps the programs its arrays name', withClang, () => {
  const o = readObject(compileFixture('tail_call'));
  const jump = o.map('jump');
  assert.deepEqual([jump.type, jump.keySize, jump.valueSize, jump.maxEntries, jump.inner], ['PROG_ARRAY', 4, 4, 3, undefined]);
  assert.deepEqual(jump.slots, [{ index: 0, kind: 'program', target: 'callee_a' }, { index: 1, kind: 'program', target: 'callee_b' }]);
  assert.deepEqual(o.programs.map((p) => [p.name, p.section]), [['callee_a', 'xdp'], ['callee_b', 'xdp'], ['entry', 'xdp']]);
  assert.deepEqual([...programsToLoad(o, ['entry'])].sort(), ['callee_a', 'callee_b', 'entry'], 'entry uses jump: its programs load too');
  assert.deepEqual([...programsToLoad(o, ['callee_b'])], ['callee_b'], 'callee_b uses no program array');
  assert.deepEqual([...programsToLoad(o, undefined)], ['callee_a', 'callee_b', 'entry']);
});

test('initial values no loader can load: each an ElfError naming the map, the slot and the fix', withClang, () => {
  const cases: [string, RegExp][] = [
    ['INNER_MISMATCH', /slot 1 of ARRAY_OF_MAPS map outer points to map inner_other, which does not match the inner map definition: value size 4, expected 8; max_entries 8, expected 4 \(or set BPF_F_INNER_MAP/],
    ['VALUES_ON_HASH', /map outer: __array\(values, …\) is for maps of maps \(ARRAY_OF_MAPS, HASH_OF_MAPS\) and program arrays \(PROG_ARRAY\), not HASH maps/],
    ['SLOT_NOT_A_MAP', /slot 1 of ARRAY_OF_MAPS map outer points to counter, which is not a map declared in SEC\("\.maps"\)/],
    ['SLOT_NOT_A_PROGRAM', /slot 1 of PROG_ARRAY map jump points to helper, which is not a program \(a global function in a SEC\(\) section; \.text holds subprograms\)/],
    ['SLOT_PAST_END', /slot 3 of PROG_ARRAY map jump is past the map's max_entries \(2\)/],
    ['NESTED', /map outer\.inner: an inner map definition has __array\(values, …\) itself; maps of maps nest one level only/],
    ['HASH_KEY_SIZE', /slot 0 of HASH_OF_MAPS map outer: initial values need 4-byte keys \(the slot index\); the map's key is 8 bytes/],
  ];
  for (const [name, message] of cases) {
    assert.throws(() => readObject(compileFixture('map_values_errors', { CASE: name })), (e: unknown) => {
      assert.ok(e instanceof ElfError, `${name}: ${String(e)}`);
      assert.match(e.message, message, name);
      assert.ok(e.message.startsWith('map_values_errors.bpf.o: '), `${name} names the file`);
      return true;
    });
  }
  // Valid for libbpf (bpf_map__set_inner_map_fd gives the template); refused at load, see the kernel test.
  assert.equal(readObject(compileFixture('map_values_errors', { CASE: 'NO_INNER_DEFINITION' })).map('outer').inner, undefined);
});
