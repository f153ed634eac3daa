// An object file made into the one loader's CollectionSpec (objectToCollectionSpec): plain data,
// made without creating anything in a kernel; what the running kernel decides (CO-RE) comes from
// the BTF given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { CoreReloKind } from '../../../src/bpf/btf/ext.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { objectToCollectionSpec } from '../../../src/bpf/elf/collection.js';
import { missingMaps, missingSlotTargets, withMapFds } from '../../../src/bpf/spec.js';
import { MapFlag } from '../../../src/bpf/sys/abi.js';
import { gates, kernel, needs, which } from '../../helpers/env.js';
import { ELF_FIXTURES, compileFixture, withClang } from './compile.js';

const withStrace = needs(which('strace') ? false : 'needs strace (apt-get install strace)');
const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
const SYSCTL = join(ELF_FIXTURES, 'valid', 'sysctl.bpf.o');

test('an object as a spec: BTF-typed maps, global data as contents, programs naming maps and value addresses', () => {
  const o = readObject(SYSCTL);
  const s = objectToCollectionSpec(o);
  assert.equal(s.name, 'sysctl.bpf.o');
  assert.equal(s.btf, o.btf);
  const btf = o.btf!;
  assert.deepEqual(Object.keys(s.maps), ['stats', 'sysctl.rodata', 'sysctl.bss']);
  const stats = s.maps.stats!;
  assert.deepEqual([stats.type, stats.key.sizeBytes, stats.value.sizeBytes, stats.maxEntries, stats.contents, stats.optionalFlags], ['ARRAY', 4, 16, 1, undefined, undefined]);
  assert.deepEqual([btf.typeName(stats.btfKeyTypeId!), btf.typeName(stats.btfValueTypeId!)], ['__u32', 'struct counts']);
  const rodata = s.maps['sysctl.rodata']!;
  assert.equal(rodata.flags, MapFlag.F_RDONLY_PROG | MapFlag.F_MMAPABLE);
  assert.equal(rodata.optionalFlags, MapFlag.F_MMAPABLE, 'global data works where arrays are not mappable');
  assert.equal(rodata.freeze, true);
  assert.equal(rodata.btfKeyTypeId, undefined);
  assert.equal(btf.type(rodata.btfValueTypeId!).name, '.rodata');
  const [[key, value]] = rodata.contents as [[number, Buffer]];
  assert.equal(key, 0);
  assert.equal(value.toString('latin1', 0, value.indexOf(0)), 'kernel/domainname');
  assert.equal(s.maps['sysctl.bss']!.freeze, undefined);

  assert.deepEqual(Object.keys(s.programs), ['sysctl_policy']);
  const p = s.programs.sysctl_policy!;
  assert.deepEqual([p.type, p.expectedAttachType, p.name, p.license, p.attachBtfId, p.flags], ['CGROUP_SYSCTL', 'CGROUP_SYSCTL', 'sysctl_policy', 'GPL', undefined, undefined]);
  const v = (name: string) => o.variables.get(name)!;
  assert.deepEqual(p.program.mapReferences.map((r) => [r.map, r.kind, r.valueOffset]), [
    ['stats', 'fd', 0],
    ['sysctl.bss', 'value', v('last_write').offset],
    ['sysctl.bss', 'value', v('refused_total').offset],
    ['sysctl.rodata', 'value', v('denied_name').offset],
  ]);
  assert.deepEqual(p.funcInfo!.map((f) => btf.type(f.typeId).name), ['sysctl_policy', 'name_matches']);
  assert.ok(p.lineInfo!.length > 0);
  assert.match(p.verifierLog!.what!, /CGROUP_SYSCTL program sysctl_policy \(SEC\("cgroup\/sysctl"\)\)/);
  assert.deepEqual([missingMaps(s), missingSlotTargets(s)], [[], []]);
  // The loader's fds go in as each reference says: the map, or an address in its value.
  const fds: Record<string, number> = { stats: 7, 'sysctl.bss': 8, 'sysctl.rodata': 9 };
  const insns = withMapFds(p.program, (m) => fds[m]!);
  for (const r of p.program.mapReferences) {
    assert.deepEqual([insns[r.index]!.src, insns[r.index]!.imm, insns[r.index + 1]!.imm], [r.kind === 'value' ? 2 : 1, fds[r.map as string], r.valueOffset]);
  }
});

test('CO-RE is resolved against the kernel BTF given, not the running kernel\'s', withClang, () => {
  const o = readObject(compileFixture('core'));
  const p = o.program('read_task');
  // A stand-in kernel: the object's own task_struct (tgid at 0, pid at 4, and the field vmlinux lacks).
  const s = objectToCollectionSpec(o, { kernelBtf: o.btf! });
  const patched = (kind: number, access: string) => s.programs.read_task!.program.instructions[p.coreRelos.find((r) => r.kind === kind && r.accessString === access)!.insn]!.imm;
  assert.deepEqual([patched(CoreReloKind.FIELD_BYTE_OFFSET, '0:0'), patched(CoreReloKind.FIELD_BYTE_OFFSET, '0:1'), patched(CoreReloKind.FIELD_BYTE_SIZE, '0:1'), patched(CoreReloKind.FIELD_EXISTS, '0:2')], [0, 4, 4, 1]);
  assert.deepEqual(s.programs.read_task!.program.mapReferences.map((r) => [r.map, r.kind]), p.relocations.map((r) => ['map' in r && r.map, r.kind === 'map' ? 'fd' : 'value']));
});

test('maps of maps and program arrays: inner map specs and slots; a program left out leaves its slot out', withClang, () => {
  const mim = objectToCollectionSpec(readObject(compileFixture('map_in_map')));
  const outer = mim.maps.outer!;
  assert.deepEqual([outer.inner!.type, outer.inner!.key.sizeBytes, outer.inner!.value.sizeBytes, outer.inner!.maxEntries], ['ARRAY', 4, 8, 4]);
  assert.deepEqual(outer.slots, [{ index: 0, kind: 'map', target: 'inner_a' }, { index: 2, kind: 'map', target: 'inner_b' }]);
  assert.equal(outer.btfValueTypeId, undefined);

  const tail = readObject(compileFixture('tail_call'));
  const entry = objectToCollectionSpec(tail, { programs: ['entry'] });
  assert.deepEqual(Object.keys(entry.programs), ['callee_a', 'callee_b', 'entry']);
  assert.deepEqual(entry.maps.jump!.slots, [{ index: 0, kind: 'program', target: 'callee_a' }, { index: 1, kind: 'program', target: 'callee_b' }]);
  const only = objectToCollectionSpec(tail, { programs: ['callee_b'] });
  assert.deepEqual(Object.keys(only.programs), ['callee_b']);
  assert.deepEqual(only.maps.jump!.slots, [{ index: 1, kind: 'program', target: 'callee_b' }], 'no slot names a program that does not load');
  assert.deepEqual(missingSlotTargets(only), []);
});

test('kernel: making specs calls no bpf(2) nor perf_event_open (strace sees none until the control map)', gates(kernel(), withClang, withStrace, withVmlinux), () => {
  // Externs (kallsyms addresses: root), CO-RE and attach targets against vmlinux, maps of maps, program arrays.
  const objects = [SYSCTL, ...['externs', 'core', 'tp_btf', 'map_in_map', 'tail_call'].map((n) => compileFixture(n))];
  const dir = mkdtempSync(join(tmpdir(), 'sysward-spec-strace-'));
  try {
    const url = (rel: string) => JSON.stringify(new URL(rel, import.meta.url).href);
    const script = join(dir, 'child.mjs');
    writeFileSync(script, `
const { readObject } = await import(${url('../../../src/bpf/elf/object.js')});
const { objectToCollectionSpec } = await import(${url('../../../src/bpf/elf/collection.js')});
const { BpfMap } = await import(${url('../../../src/bpf/map.js')});
const { u32 } = await import(${url('../../../src/bpf/codec.js')});
const made = ${JSON.stringify(objects)}.map((o) => Object.keys(objectToCollectionSpec(readObject(o)).programs).length);
process.kill(process.pid, 0); // the marker: what follows is the control
BpfMap.create({ type: 'ARRAY', key: u32, value: u32, maxEntries: 1 }).close();
console.log(made.join(' '));
`);
    const log = join(dir, 'strace.log');
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=bpf,perf_event_open,kill', '-e', 'signal=none', '-o', log, process.execPath, script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.trim().split(' ').every((n) => Number(n) > 0), r.stdout);
    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l.trim());
    const marker = lines.findIndex((l) => / kill\(\d+, 0\)/.test(l));
    assert.ok(marker >= 0, lines.join('\n'));
    assert.deepEqual(lines.slice(0, marker).filter((l) => /\b(bpf|perf_event_open)\(/.test(l)), []);
    assert.ok(lines.slice(marker).some((l) => /\bbpf\(BPF_MAP_CREATE/.test(l)), 'strace sees the control map created');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
