// ELF parsing into a kernel-independent spec: no root, no kernel. The committed object
// test/fixtures/elf/valid/sysctl.bpf.o is clang 14's build of ../sysctl.bpf.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ElfError } from '../../../src/bpf/elf/elf.js';
import { internalMapName, parseObject, readObject } from '../../../src/bpf/elf/object.js';
import { matchSection } from '../../../src/bpf/elf/sections.js';
import { decodeInstructions } from '../../../src/bpf/asm/index.js';
import { ELF_FIXTURES, compileFixture, withClang } from './compile.js';

const VALID = join(ELF_FIXTURES, 'valid', 'sysctl.bpf.o');

test('a cgroup-sysctl object: program, license, BTF maps, global data, relocations', () => {
  const o = readObject(VALID);
  assert.equal(o.license, 'GPL');
  assert.deepEqual(o.programs.map((p) => [p.name, p.section, p.type, p.expectedAttachType]), [['sysctl_policy', 'cgroup/sysctl', 'CGROUP_SYSCTL', 'CGROUP_SYSCTL']]);
  const stats = o.map('stats');
  assert.deepEqual([stats.type, stats.keySize, stats.valueSize, stats.maxEntries], ['ARRAY', 4, 16, 1]);
  assert.equal(o.btf!.typeName(stats.btfValueTypeId), 'struct counts');
  const rodata = o.maps.find((m) => m.section === '.rodata')!;
  assert.equal(rodata.freeze, true);
  assert.equal(rodata.data!.subarray(0, 17).toString(), 'kernel/domainname');
  const bss = o.maps.find((m) => m.section === '.bss')!;
  assert.equal(bss.valueSize, 12);
  assert.deepEqual([...o.variables.keys()].sort(), ['denied_name', 'last_write', 'refused_total']);
  const p = o.programs[0]!;
  assert.deepEqual(p.relocations.map((r) => [r.kind, 'map' in r ? r.map : r.extern]).sort(), [['data', bss.name], ['data', bss.name], ['data', rodata.name], ['map', 'stats']].sort());
  // The static subprogram from .text is linked after the program and the call points at it.
  const insns = decodeInstructions(p.instructions);
  const call = insns.findIndex((i) => i.code === 0x85 && i.src === 1);
  assert.ok(call >= 0, 'a bpf-to-bpf call');
  const target = call + insns[call]!.imm + 1;
  assert.equal(p.funcInfo.length, 2);
  assert.equal(p.funcInfo[1]!.insn, target, 'the call lands on the subprogram func_info names');
  assert.equal(o.btf!.type(p.funcInfo[1]!.typeId).name, 'name_matches');
  assert.ok(p.lineInfo.length > 10);
});

test('setVariable changes .rodata before load; sizes are checked', () => {
  const o = readObject(VALID);
  o.setVariable('denied_name', 'kernel/hostname');
  const rodata = o.maps.find((m) => m.section === '.rodata')!;
  assert.equal(rodata.data!.subarray(0, 16).toString('latin1'), 'kernel/hostname\0');
  assert.throws(() => o.setVariable('denied_name', Buffer.alloc(65)), /64 bytes/);
  assert.throws(() => o.setVariable('nope', 1), /no global variable nope; it has/);
});

test('section names follow libbpf', () => {
  const m = (s: string) => { const r = matchSection(s); return r && [r.def.type, r.def.attachType, r.target]; };
  assert.deepEqual(m('cgroup/sysctl'), ['CGROUP_SYSCTL', 'CGROUP_SYSCTL', '']);
  assert.deepEqual(m('tracepoint/irq/softirq_entry'), ['TRACEPOINT', undefined, 'irq/softirq_entry']);
  assert.deepEqual(m('raw_tp/sys_enter'), ['RAW_TRACEPOINT', undefined, 'sys_enter']);
  assert.deepEqual(m('lsm/file_open'), ['LSM', 'LSM_MAC', 'file_open']);
  assert.deepEqual(m('lsm.s/bprm_committed_creds'), ['LSM', 'LSM_MAC', 'bprm_committed_creds']);
  assert.deepEqual(m('fentry/do_unlinkat'), ['TRACING', 'TRACE_FENTRY', 'do_unlinkat']);
  assert.deepEqual(m('fexit/do_unlinkat'), ['TRACING', 'TRACE_FEXIT', 'do_unlinkat']);
  assert.deepEqual(m('tp_btf/sched_switch'), ['TRACING', 'TRACE_RAW_TP', 'sched_switch']);
  assert.deepEqual(m('kprobe/do_sys_open'), ['KPROBE', undefined, 'do_sys_open']);
  assert.deepEqual(m('cgroup_skb/egress'), ['CGROUP_SKB', 'CGROUP_INET_EGRESS', '']);
  assert.deepEqual(m('xdp'), ['XDP', 'XDP', '']);
  assert.equal(matchSection('cgroup/sysctlx'), undefined);
  assert.equal(matchSection('.text'), undefined);
});

test('malformed objects: each gives its ElfError (corpus in test/fixtures/elf/malformed)', () => {
  const dir = join(ELF_FIXTURES, 'malformed');
  const files = readdirSync(dir).filter((f) => f.endsWith('.o'));
  assert.ok(files.length >= 20, `${files.length} cases`);
  for (const f of files) {
    const expected = readFileSync(join(dir, f.replace(/\.o$/, '.expected')), 'utf8').trim();
    assert.throws(() => parseObject(readFileSync(join(dir, f)), f), (e: unknown) => {
      assert.ok(e instanceof ElfError, `${f}: ${String(e)}`);
      assert.ok(e.message.startsWith(`${f}: `), `${f}: names the file: ${e.message}`);
      assert.ok(e.message.includes(expected), `${f}: "${e.message}" should say "${expected}"`);
      return true;
    }, f);
  }
});

/** xorshift32: the same mutations on every run; SYSWARD_FUZZ_SEED picks others. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000; };
}

/** Truncations and bit flips of `base`: each must parse or throw ElfError, nothing else. */
function fuzz(base: Buffer, what: string, n: number, seed: number): void {
  const rand = rng(seed);
  let parsed = 0;
  for (let i = 0; i < n; i++) {
    let b = Buffer.from(base);
    const mode = i % 4;
    if (mode === 0) b = b.subarray(0, Math.floor(rand() * b.length));
    else {
      const flips = mode === 1 ? 1 : mode === 2 ? 1 + Math.floor(rand() * 16) : 0;
      for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      // mode 3: a random 32-bit field becomes huge or zero, the usual way lengths go wrong
      if (mode === 3) b.writeUInt32LE(rand() < 0.5 ? 0xffffffff : 0, Math.floor(rand() * (b.length - 4)));
    }
    try {
      const o = parseObject(b, 'fuzzed.o');
      parsed++;
      for (const p of o.programs) assert.equal(p.instructions.length % 8, 0);
    } catch (e) {
      if (!(e instanceof ElfError)) assert.fail(`${what}: seed ${seed} case ${i} (mode ${mode}): ${(e as Error).stack}`);
    }
  }
  assert.ok(parsed > 0 && parsed < n, `${what}: ${parsed} of ${n} still parsed`);
}

const FUZZ_SEED = Number(process.env.SYSWARD_FUZZ_SEED ?? 0x5eed);
const FUZZ_RUNS = Number(process.env.SYSWARD_FUZZ_RUNS ?? 3000);

test('fuzz: truncations and byte flips of a valid object throw ElfError or parse, never anything else', () => {
  fuzz(readFileSync(VALID), 'sysctl.bpf.o', FUZZ_RUNS, FUZZ_SEED);
});

test('fuzz: the same for objects with externs, maps of maps, program arrays, callbacks, subprograms and CO-RE', withClang, () => {
  for (const name of ['externs', 'map_in_map', 'tail_call', 'callbacks', 'subprog', 'core_enum', 'uprobe']) {
    fuzz(readFileSync(compileFixture(name)), `${name}.bpf.o`, Math.ceil(FUZZ_RUNS / 4), FUZZ_SEED);
  }
});

test('every test program compiles and parses', withClang, () => {
  for (const name of ['sysctl', 'ringbuf', 'core', 'lsm', 'tp_btf']) {
    const o = readObject(compileFixture(name));
    assert.equal(o.license, 'GPL', name);
    assert.equal(o.programs.length, 1, name);
  }
  const core = readObject(compileFixture('core')).programs[0]!;
  assert.deepEqual(core.coreRelos.map((r) => [r.accessString, r.kind]), [['0:0', 0], ['0:1', 0], ['0:1', 1], ['0:2', 2]]);
  const lsm = readObject(compileFixture('lsm')).programs[0]!;
  assert.deepEqual([lsm.type, lsm.expectedAttachType, lsm.attachTarget], ['LSM', 'LSM_MAC', 'socket_create']);
});

test('global-data maps are named as libbpf names them (8 characters of the object, 7 reserved for the section; custom sections alone)', () => {
  assert.deepEqual(
    [
      ['callbacks.bpf.o', '.bss'], ['externs.bpf.o', '.kconfig'], ['my_object_name.o', '.rodata'], ['my_object_name.o', '.rodata.str1.1'],
      ['a-b.o', '.data'], ['x.bpf.o', '.data.a_long_custom_name'],
    ].map(([o, s]) => internalMapName(o!, s!)),
    ['callback.bss', 'externs.kconfig', 'my_objec.rodata', '.rodata.str1.1', 'a_b.data', '.data.a_long_cu'],
  );
});
