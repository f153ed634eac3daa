// Specs and the one loader: a guard compiled with no kernel (compileGuard is a pure function of the
// policy), then the same spec loaded into the kernel and into the interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadCollection } from '../../src/bpf/collection.js';
import { loadVmCollection } from '../../src/bpf/vm/collection.js';
import { missingMaps, withMapFds, type CollectionSpec } from '../../src/bpf/spec.js';
import { Assembler, R0, R1, R2, R10 } from '../../src/bpf/asm/index.js';
import { bytes, u32, u64 } from '../../src/bpf/codec.js';
import { readMapDecoded } from '../../src/bpf/btf/maps.js';
import { readObject } from '../../src/bpf/elf/object.js';
import { Program } from '../../src/bpf/prog.js';
import { BpfMap } from '../../src/bpf/map.js';
import { repoRoot } from '../helpers/paths.js';
import { GUARD_PROGRAM, compileGuard } from '../../src/guard/compiler/index.js';
import { loadProfile } from '../../src/guard/profiles/index.js';
import { kernel } from '../helpers/env.js';

test('compileGuard is deterministic and names its maps: no fds, no kernel', () => {
  const p = loadProfile('container-host');
  const a = compileGuard(p, { generation: 7 });
  const b = compileGuard(p, { generation: 7 });
  assert.deepEqual(a.programs[GUARD_PROGRAM]!.program.bytes, b.programs[GUARD_PROGRAM]!.program.bytes);
  const refs = a.programs[GUARD_PROGRAM]!.program.mapReferences;
  assert.ok(refs.length > 0);
  for (const r of refs) assert.equal(typeof r.map, 'string');
  assert.deepEqual(missingMaps(a), []);
  // Every by-name slot is 0 until a loader fills it.
  for (const r of refs) assert.equal(a.programs[GUARD_PROGRAM]!.program.instructions[r.index]!.imm, 0);
  assert.ok((a.maps.exact!.contents ?? []).length > 0, 'maps carry their contents');
});

const counterSpec = (): CollectionSpec => {
  const prog = new Assembler()
    .st('u32', R10, -4, 1).ldMapFd(R1, 'hits').mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'out').mov(R1, 1).atomic('add', 'u64', R0, 0, R1).label('out').mov(R0, 0).exit().assemble();
  return {
    maps: { hits: { type: 'ARRAY', key: u32, value: u64, maxEntries: 2, contents: [[1, 41n]] } },
    programs: { count: { type: 'SOCKET_FILTER', program: prog } },
  };
};

test('a spec referring to a map it does not define is refused by both loaders, naming it', () => {
  const s = counterSpec();
  s.maps = {};
  assert.throws(() => loadVmCollection(s), /refers to map "hits"/);
});

test('the interpreter loads a spec: contents filled, references resolved', () => {
  const c = loadVmCollection(counterSpec());
  const r = c.programs.count!.run({ ctx: { kind: 'bytes', bytes: new Uint8Array(16) } });
  assert.equal(r.returnValue, 0n);
  assert.equal((c.maps.hits as unknown as { get(k: number): bigint }).get(1), 42n);
});

test('kernel: the kernel loads the same spec: contents filled, the program uses the collection\'s map', kernel(), () => {
  using c = loadCollection(counterSpec());
  const info = c.programs.count!.info();
  assert.deepEqual(info.mapIds, [c.maps.hits!.info().id]);
  assert.equal((c.maps.hits as unknown as { get(k: number): bigint }).get(1), 41n);
  assert.equal(withMapFds(counterSpec().programs.count!.program, () => 9)[1]!.imm, 9);
});

test('kernel: a guard spec loads in the kernel and the interpreter from one compile', kernel(), () => {
  const spec = compileGuard(loadProfile('container-host'));
  using c = loadCollection(spec);
  const vm = loadVmCollection(spec);
  assert.equal(c.programs[GUARD_PROGRAM]!.info().mapIds.length, new Set(spec.programs[GUARD_PROGRAM]!.program.mapReferences.map((r) => r.map)).size);
  assert.equal(vm.programs[GUARD_PROGRAM]!.instructions.length, spec.instructionCount);
});

/** Maps typed by a BTF (an object's: `struct counts`), a map of maps and a program array whose slots name the collection's own. */
const typedSpec = (): CollectionSpec => {
  const btf = readObject(join(repoRoot(), 'test', 'fixtures', 'elf', 'valid', 'sysctl.bpf.o')).btf!;
  const id = (name: string) => btf.idsByName(name)[0]!;
  const inner = { type: 'ARRAY', key: u32, value: u64, maxEntries: 2 } as const;
  return {
    name: 'typed', btf,
    maps: {
      typed: { type: 'ARRAY', key: u32, value: bytes(16), maxEntries: 1, btfKeyTypeId: id('__u32'), btfValueTypeId: id('counts') },
      // A 4-byte type for 8-byte values: the kernel refuses it, the map is made untyped.
      refused: { type: 'ARRAY', key: u32, value: u64, maxEntries: 1, btfKeyTypeId: id('__u32'), btfValueTypeId: id('__u32') },
      outer: { type: 'ARRAY_OF_MAPS', key: u32, value: u32, maxEntries: 2, inner, slots: [{ index: 1, kind: 'map', target: 'a' }] },
      a: inner,
      jump: { type: 'PROG_ARRAY', key: u32, value: u32, maxEntries: 1, slots: [{ index: 0, kind: 'program', target: 'seven' }] },
    },
    programs: { seven: { type: 'SOCKET_FILTER', program: new Assembler().mov(R0, 7).exit().assemble() } },
  };
};

test('a slot naming what the collection does not define is refused before anything is made', () => {
  const s = typedSpec();
  s.maps.jump!.slots = [{ index: 0, kind: 'program', target: 'nope' }];
  assert.throws(() => loadCollection(s), /slot 0 of map jump names program nope, which its collection does not define/);
});

test('kernel: maps get the spec\'s BTF types (untyped where the kernel refuses them); slots are filled by name', kernel(), () => {
  using c = loadCollection(typedSpec());
  assert.equal(c.btfWarning, undefined);
  assert.ok(c.btf);
  const decoded = (name: string) => readMapDecoded(c.maps[name]!.info().id);
  assert.deepEqual(decoded('typed').entries, [{ key: 0, value: { refused: 0n, allowed: 0n } }]);
  assert.equal(decoded('refused').typed, false);
  // User space reads a map of maps' and a program array's slots as ids.
  const outer = c.maps.outer as BpfMap<unknown, unknown>;
  assert.equal(outer.get(1), c.maps.a!.info().id);
  assert.equal(outer.get(0), undefined);
  using p = Program.fromId((c.maps.jump as BpfMap<unknown, unknown>).get(0) as number);
  assert.equal(p.info().id, c.programs.seven!.info().id);
});
