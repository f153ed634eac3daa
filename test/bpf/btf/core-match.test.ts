// CO-RE type relocations (bpf_core_type_matches, _exists, _size, bpf_core_type_id_kernel) and how
// candidates are chosen: libbpf's rules, against the running kernel's BTF and a stand-in kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Btf, BtfError, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { CoreReloKind } from '../../../src/bpf/btf/ext.js';
import { patchCoreInsn, resolveCoreRelo } from '../../../src/bpf/btf/core.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { gates, needs } from '../../helpers/env.js';
import { compileFixture, withClang } from '../elf/compile.js';
import { bpftoolTypeIds, withBpftool } from './oracle.js';

const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
const gate = gates;
const K = CoreReloKind;

const local = () => readObject(compileFixture('core_local')).btf!;
const target = () => readObject(compileFixture('core_target')).btf!;
const idOf = (btf: Btf, name: string) => { const ids = btf.idsByName(name); assert.equal(ids.length, 1, name); return ids[0]!; };

test('TYPE_MATCHES against vmlinux: libbpf\'s rules, not just a type of that name', gate(withVmlinux, withClang), () => {
  // The local types of the kernel test's fixture; clang 14 cannot emit these relocations, so ask directly.
  const btf = readObject(compileFixture('core_enum')).btf!;
  const k = Btf.kernel();
  const matches = (name: string) => resolveCoreRelo(btf, k, idOf(btf, name), '0', K.TYPE_MATCHES);
  const cases: [string, 0 | 1, RegExp?][] = [
    ['task_struct___match', 1],
    ['task_struct___long_pid', 0, /struct task_struct \(type \d+\) does not match the local one: member pid: long is int in the kernel/],
    ['task_struct___no_field', 0, /member no_such_field: the kernel's struct task_struct has no member no_such_field/],
    ['list_head___match', 1],
    ['file_operations___match', 1],
    ['file_operations___few_args', 0, /member open: a function of 1 parameters has 2 in the kernel/],
    ['in6_addr___match', 1],
    ['in6_addr___short', 0, /member in6_u: member u6_addr32: an array of 2 is an array of 4 in the kernel/],
    ['bpf_map_type___match', 1],
    ['bpf_func_id___local', 0, /the kernel's enum bpf_func_id has no enumerator BPF_FUNC_no_such_helper/],
    ['perf_callchain_context___local', 0, /enum perf_callchain_context___local is 4 bytes, 8 in the kernel/],
    ['u32___match', 1],
    ['u32___signed', 0, /typedef u32 \(type \d+\) does not match the local one: int is unsigned int in the kernel/],
  ];
  for (const [name, expected, reason] of cases) {
    const r = matches(name);
    assert.equal(r.value, expected, `${name}: ${r.reason}`);
    assert.equal(r.found, expected === 1);
    if (reason) assert.match(r.reason!, reason, name);
  }
  // What the old rule said (a type of that name exists) is still what TYPE_EXISTS says.
  assert.deepEqual(resolveCoreRelo(btf, k, idOf(btf, 'task_struct___long_pid'), '0', K.TYPE_EXISTS), { found: true, value: 1 });
});

test('TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES against a typedef vmlinux may define twice (bpftool\'s dump says how often)', gate(withVmlinux, withClang, withBpftool), () => {
  const btf = local();
  const k = Btf.kernel();
  const id = idOf(btf, 'u8___local');
  const u8s = bpftoolTypeIds('TYPEDEF', 'u8');
  assert.ok(u8s.length >= 1);
  const r = (kind: number) => resolveCoreRelo(btf, k, id, '0', kind);
  assert.deepEqual(r(K.TYPE_EXISTS), { found: true, value: 1 });
  assert.deepEqual(r(K.TYPE_SIZE), { found: true, value: 1 });
  assert.deepEqual(r(K.TYPE_MATCHES), { found: true, value: 1 });
  if (u8s.length === 1) assert.deepEqual(r(K.TYPE_ID_TARGET), { found: true, value: u8s[0] });
  // Every copy is compatible and each has its own id: libbpf calls that ambiguous, and so does sysward.
  else assert.throws(() => r(K.TYPE_ID_TARGET), new RegExp(`type_id_target relocation of typedef u8___local is ambiguous: ${u8s.length} kernel types match and disagree .*: the kernel defines typedef u8 more than once`));
});

test('type relocations in a stand-in kernel: compatible kinds only; candidates that disagree are ambiguous', gate(withClang, withBpftool), () => {
  const l = local();
  const t = target();
  const r = (name: string, kind: number) => resolveCoreRelo(l, t, idOf(l, name), '0', kind);
  // struct dup___1 (8 bytes) and struct dup___2 (16 bytes) are both struct dup.
  assert.deepEqual(r('dup___local', K.TYPE_EXISTS), { found: true, value: 1 });
  assert.throws(() => r('dup___local', K.TYPE_SIZE), /type_size relocation of struct dup___local is ambiguous: 2 kernel types match and disagree \(type \d+ gives 8, type \d+ gives 16\)/);
  // TYPE_MATCHES picks the one that matches (dup___2 has no member a).
  assert.deepEqual(r('dup___local', K.TYPE_MATCHES), { found: true, value: 1 });
  // Identical copies agree on the size but not on the id.
  assert.deepEqual(r('same___local', K.TYPE_SIZE), { found: true, value: 8 });
  assert.throws(() => r('same___local', K.TYPE_ID_TARGET), /ambiguous/);
  // The one struct flags: its id as bpftool numbers it.
  const flags = bpftoolTypeIds('STRUCT', 'flags', compileFixture('core_target'));
  assert.equal(flags.length, 1);
  assert.deepEqual(r('flags___local', K.TYPE_ID_TARGET), { found: true, value: flags[0] });
  // A union is not a struct of the same name: nothing found, and type relocations give 0.
  for (const kind of [K.TYPE_EXISTS, K.TYPE_SIZE, K.TYPE_ID_TARGET, K.TYPE_MATCHES]) {
    const missing = r('one___local', kind);
    assert.deepEqual(missing, { found: false, value: 0, reason: 'the kernel has no union one' });
    const mov = Buffer.from([0xb7, 0x01, 0, 0, 9, 0, 0, 0]);
    patchCoreInsn(mov, 0, kind, missing);
    assert.deepEqual([...mov], [0xb7, 0x01, 0, 0, 0, 0, 0, 0], 'patched to 0, not poisoned');
  }
  assert.equal(bpftoolTypeIds('UNION', 'one', compileFixture('core_target')).length, 0);
  assert.equal(bpftoolTypeIds('STRUCT', 'one', compileFixture('core_target')).length, 1);
  assert.throws(() => resolveCoreRelo(l, t, idOf(l, 'dup___local'), '0:1', K.TYPE_EXISTS), /access string "0:1" \(type relocations have "0"\)/);
});

test('field relocations in a stand-in kernel: a field at two offsets is ambiguous, one the other copy lacks is not', gate(withClang), () => {
  const l = local();
  const t = target();
  const dup = idOf(l, 'dup___local');
  // struct dup___local { int a; int b; }: access "0:1" is ->b, "0:0" is ->a.
  assert.throws(() => resolveCoreRelo(l, t, dup, '0:1', K.FIELD_BYTE_OFFSET), (e: Error) => e instanceof BtfError && /field_byte_offset relocation of struct dup___local is ambiguous: .*bit offset/.test(e.message));
  assert.throws(() => resolveCoreRelo(l, t, dup, '0:1', K.FIELD_EXISTS), /ambiguous/, 'libbpf compares offsets for existence too');
  assert.deepEqual(resolveCoreRelo(l, t, dup, '0:0', K.FIELD_BYTE_OFFSET), { found: true, value: 0 });
  assert.deepEqual(resolveCoreRelo(l, t, idOf(l, 'same___local'), '0:0', K.FIELD_BYTE_OFFSET), { found: true, value: 4 }, 'both copies keep b at 4');
  assert.throws(() => resolveCoreRelo(l, t, dup, '0:2', K.FIELD_BYTE_OFFSET), /index 2 is past the 2 members of struct dup___local/);
  // Candidates are found by name: an anonymous local type has none, and libbpf refuses it.
  const anon = l.types.find((x) => x.kind === 'STRUCT' && !x.name)!;
  assert.throws(() => resolveCoreRelo(l, t, anon.id, '0:0', K.FIELD_BYTE_OFFSET), /anonymous struct .*give the type a name/);
});

test('bitfield relocations: the offset, size and shifts read the kernel\'s bits back (BPF_CORE_READ_BITFIELD)', gate(withClang), () => {
  const l = local();
  const t = target();
  const id = idOf(l, 'flags___local');
  // struct flags { unsigned low : 3, mid : 10, high : 19; } holding low = 5, mid = 0x2a5, high = 0x5a5a5.
  const fields = { low: 5n, mid: 0x2a5n, high: 0x5a5a5n };
  const word = Buffer.alloc(8);
  word.writeUInt32LE(Number(fields.low | (fields.mid << 3n) | (fields.high << 13n)));
  for (const [i, name] of ['low', 'mid', 'high'].entries()) {
    const v = (kind: number) => Number(resolveCoreRelo(l, t, id, `0:${i}`, kind).value);
    const [off, size, lshift, rshift] = [K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64].map(v) as [number, number, number, number];
    let x = 0n;
    for (let b = size - 1; b >= 0; b--) x = (x << 8n) | BigInt(word[off + b]!);
    x = BigInt.asUintN(64, x << BigInt(lshift)) >> BigInt(rshift);
    assert.equal(x, fields[name as keyof typeof fields], `${name}: ${size} bytes at ${off}, << ${lshift} >> ${rshift}`);
    assert.equal(v(K.FIELD_SIGNED), 0);
    // libbpf loads the bitfield's whole aligned unsigned int.
    assert.deepEqual([off, size], [0, 4]);
  }
});

test('patching: a memory offset must fit 16 bits', () => {
  const ldx = Buffer.from([0x61, 0x21, 0, 0, 0, 0, 0, 0]);
  patchCoreInsn(ldx, 0, K.FIELD_BYTE_OFFSET, { found: true, value: 32767 });
  assert.equal(ldx.readInt16LE(2), 32767);
  assert.throws(() => patchCoreInsn(ldx, 0, K.FIELD_BYTE_OFFSET, { found: true, value: 32768 }), /offset 32768 does not fit/);
  assert.throws(() => patchCoreInsn(ldx, 0, K.FIELD_BYTE_SIZE, { found: true, value: 4 }), /only a field offset can patch a memory access/);
});
