// Objects that use libbpf's conventions load as bpftool (libbpf) loads them (issue 19): a
// PERF_EVENT_ARRAY without max_entries, BTF-typed maps that hold fds, .text with functions a
// program does not reach, a hidden global subprogram, an iterator, custom and string-literal data
// sections. The same object goes through both; programs, maps and translated instructions compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection, objectToCollectionSpec } from '../../../src/bpf/elf/collection.js';
import { Btf, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { decodeValue } from '../../../src/bpf/btf/decode.js';
import { possibleCpuCount } from '../../../src/bpf/cpus.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { MapFlag } from '../../../src/bpf/sys/index.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { repoRoot } from '../../helpers/paths.js';
import { gates, kernel, needs, pythonExecutable, which } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';

const withBpftool = needs(!which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false);
const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
const PROGRAMS = ['emit', 'count', 'dump_tasks'];

interface MapShow { id: number; name: string; type: string; bytes_key: number; bytes_value: number; max_entries: number; flags: number; btf_id?: number }
const bpftoolJson = <T>(...args: string[]): T => JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' })) as T;
const mapShow = (id: number) => bpftoolJson<MapShow>('map', 'show', 'id', String(id));

/** `bpftool prog dump xlated` of a program with map ids replaced by the maps' names (ids differ between loads). */
function xlated(progId: number): string {
  const text = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(progId)], { encoding: 'utf8' });
  return text.replace(/map\[id:(\d+)\]/g, (_m, id: string) => `map[${mapShow(Number(id)).name}]`);
}

/** What bpftool says of a program and its maps, named by what does not change between loads. */
function describe(progId: number) {
  const p = bpftoolJson<{ name: string; type: string; map_ids?: number[]; btf_id?: number }>('prog', 'show', 'id', String(progId));
  const maps = (p.map_ids ?? []).map(mapShow);
  return {
    program: `${p.name} ${p.type} btf ${p.btf_id !== undefined}`,
    // The local bpftool's libbpf may predate "mappable only with a global variable": flags compare without it.
    maps: maps.map((m) => `${m.name} ${m.type} ${m.bytes_key}/${m.bytes_value}x${m.max_entries} flags ${m.flags & ~MapFlag.F_MMAPABLE} btf ${m.btf_id !== undefined}`).sort(),
    xlated: xlated(progId),
  };
}

test('an object\'s programs get only the .text functions they reach, depth first, with their func_info', gates(withClang), () => {
  const o = readObject(compileFixture('libbpf_compat'));
  const functions = (name: string) => o.program(name).funcInfo.map((f) => o.btf!.type(f.typeId).name);
  // As libbpf appends them: at the first call, and what the callee calls right after it.
  assert.deepEqual(functions('emit'), ['emit', 'fill_pid', 'reached_by_emit', 'deeper']);
  assert.deepEqual(functions('count'), ['count', 'reached_by_count', 'deeper']);
  assert.deepEqual(functions('dump_tasks'), ['dump_tasks']);
  for (const p of o.programs) assert.ok(!functions(p.name).includes('unreached'), p.name);
  // A __hidden global subprogram is static in the BTF the kernel gets, as libbpf makes it.
  assert.equal(o.btf!.type(o.btf!.idsByName('fill_pid', 'FUNC')[0]!).linkage, 0);
  // Global data as libbpf names and flags it.
  const flags = Object.fromEntries(o.maps.filter((m) => m.section).map((m) => [m.name, m.flags]));
  assert.deepEqual(flags, {
    'libbpf_c.rodata': MapFlag.F_RDONLY_PROG | MapFlag.F_MMAPABLE, 'libbpf_c.data': MapFlag.F_MMAPABLE, 'libbpf_c.bss': MapFlag.F_MMAPABLE,
    '.data.statics': 0, '.rodata.str1.1': MapFlag.F_RDONLY_PROG,
  });
});

test('an iterator is loaded with the BTF id of its target (bpf_iter_<target>)', gates(withClang, withVmlinux), () => {
  const spec = objectToCollectionSpec(readObject(compileFixture('libbpf_compat')));
  const p = spec.programs.dump_tasks!;
  assert.deepEqual([p.type, p.expectedAttachType, p.attachBtfId], ['TRACING', 'TRACE_ITER', Btf.kernel().idsByName('bpf_iter_task', 'FUNC')[0]]);
  // Every program holds the object's .rodata maps (PROG_BIND_MAP), as libbpf binds them.
  assert.deepEqual(p.bindMaps, ['libbpf_c.rodata', '.rodata.str1.1']);
});

test('kernel: the object loads as bpftool loads it: the same programs, maps and translated instructions', gates(kernel(), withClang, withBpftool, withVmlinux), () => {
  const obj = compileFixture('libbpf_compat');
  using ours = Collection.load(readObject(obj));
  assert.deepEqual([...ours.programs.keys()].sort(), [...PROGRAMS].sort());
  // Sized to the possible CPUs, untyped where the kernel refuses BTF, typed elsewhere.
  const events = ours.map('events').info();
  assert.equal(events.maxEntries, possibleCpuCount());
  for (const [name, typed] of [['events', false], ['cgroups', false], ['pids', false], ['counts', true]] as const) {
    assert.equal(mapShow(ours.map(name).info().id).btf_id !== undefined, typed, name);
  }
  ensureBpffs();
  const dir = `/sys/fs/bpf/sysward-test-compat-${process.pid}`;
  try {
    execFileSync('bpftool', ['prog', 'loadall', obj, dir], { stdio: 'pipe' });
    for (const name of PROGRAMS) {
      const theirs = describe(bpftoolJson<{ id: number }>('prog', 'show', 'pinned', join(dir, name)).id);
      const mine = describe(ours.program(name).info().id);
      assert.deepEqual(mine, theirs, name);
      // What makes the comparison mean something: subprograms by name, .rodata bound to each.
      assert.ok(mine.maps.some((m) => m.startsWith('libbpf_c.rodata ')), `${name} holds .rodata`);
      assert.ok(!mine.xlated.includes('unreached'), name);
    }
    assert.match(describe(ours.program('emit').info().id).xlated, /call pc\+\d+#bpf_prog_[0-9a-f]{16}_deeper/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('kernel: a char array that starts with NUL and holds other bytes dumps as its bytes, not ""', gates(kernel(), withClang), () => {
  using ours = Collection.load(readObject(compileFixture('libbpf_compat')));
  const label = [0, ...Buffer.from('label'), 0, 0];
  assert.deepEqual(ours.globals('.data'), { label });
  // An all-zero one is still "".
  const btf = ours.spec.btf!;
  const v = ours.spec.variables.get('label')!;
  assert.equal(decodeValue(btf, v.typeId, Buffer.alloc(8)), '');
});

test('kernel: a map without max_entries is refused naming max_entries and the fix', gates(kernel(), withClang), () => {
  const spec = readObject(compileFixture('libbpf_compat', { NO_MAX_ENTRIES: '1' }));
  assert.equal(spec.map('counts').maxEntries, 0);
  assert.throws(() => Collection.load(spec), /EINVAL creating HASH map counts: sysward sent max_entries 0, as the definition declares none; give the map a size: __uint\(max_entries, N\)/);
});

test('kernel: bpf load --attach attaches what it can; what the kernel refuses stays loaded and pinned, named with the reason', gates(kernel(), withClang), () => {
  const obj = compileFixture('attach_partial');
  const dir = `/sys/fs/bpf/sysward-test-attach-${process.pid}`;
  try {
    const r = spawnSync(process.execPath, [join(repoRoot(), 'bin', 'sysward'), 'bpf', 'load', obj, '--pin', dir, '--attach', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    const loaded = JSON.parse(r.stdout) as { programs: { name: string; pinned: string; link?: string; attachError?: string }[] };
    const by = Object.fromEntries(loaded.programs.map((p) => [p.name, p]));
    assert.ok(by.counts_getppid!.link && existsSync(by.counts_getppid!.link), 'the tracepoint is attached, its link pinned');
    assert.equal(by.probes_nothing!.link, undefined);
    assert.match(by.probes_nothing!.attachError!, /sysward\/no_such_event/);
    assert.ok(existsSync(by.probes_nothing!.pinned), 'it stays loaded and pinned');
    assert.match(r.stderr, /not attached: probes_nothing \(tracepoint\/sysward\/no_such_event\): .*; it stays loaded and pinned/);
    // The attached program runs.
    const bss = BpfMap.openPinnedBytes(join(dir, 'maps', 'attach_p_bss'));
    try {
      spawnSync(pythonExecutable(), ['-c', 'import os; os.getppid()']);
      assert.ok(bss.get(Buffer.alloc(4))!.readBigUInt64LE(0) > 0n);
    } finally { bss.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
