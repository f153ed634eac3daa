// CO-RE enum-value relocations (bpf_core_enum_value, bpf_core_enum_value_exists) resolved against
// the running kernel's BTF and against a stand-in kernel with duplicate names; the 64-bit patch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Btf, BtfError, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { CoreReloKind } from '../../../src/bpf/btf/ext.js';
import { CORE_POISON_HELPER, essentialName, patchCoreInsn, resolveCoreRelo } from '../../../src/bpf/btf/core.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { gates, needs } from '../../helpers/env.js';
import { compileFixture, withClang } from '../elf/compile.js';
import { bpftoolEnumValue, uapiEnumValues, withBpftool, withGcc } from './oracle.js';

const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
const gate = gates;
const { ENUMVAL_EXISTS, ENUMVAL_VALUE } = CoreReloKind;

/** An object's BTF and the id of its type named `name`. */
function localType(fixture: string, name: string): { btf: Btf; id: number } {
  const btf = readObject(compileFixture(fixture)).btf!;
  const ids = btf.idsByName(name);
  assert.equal(ids.length, 1, `${fixture} has one type ${name}`);
  return { btf, id: ids[0]! };
}

/** ld_imm64 r1, 0: the instruction clang emits for an enum-value relocation. */
const ldImm64 = () => { const b = Buffer.alloc(16); b[0] = 0x18; b[1] = 0x01; return b; };
const imm64 = (b: Buffer) => (BigInt(b.readUInt32LE(12)) << 32n) | BigInt(b.readUInt32LE(4));

test('essential names: the flavor is what follows the last ___ between non-underscores (libbpf)', () => {
  assert.equal(essentialName('task_struct___v2'), 'task_struct');
  assert.equal(essentialName('BPF_FUNC_ktime_get_ns___local'), 'BPF_FUNC_ktime_get_ns');
  assert.equal(essentialName('a___b___c'), 'a___b');
  assert.equal(essentialName('task_struct'), 'task_struct');
  assert.equal(essentialName('x___'), 'x___');
  assert.equal(essentialName('___x'), '___x');
  assert.equal(essentialName('foo____bar'), 'foo____bar', 'four underscores are no separator');
});

test('CO-RE enum values of core_enum.bpf.c against vmlinux: the values of linux/bpf.h and linux/perf_event.h (gcc) and of bpftool\'s dump', gate(withVmlinux, withClang, withGcc, withBpftool), () => {
  const o = readObject(compileFixture('core_enum'));
  const k = Btf.kernel();
  const uapi = uapiEnumValues(['BPF_FUNC_ktime_get_ns', 'BPF_FUNC_get_current_task', 'PERF_CONTEXT_USER']);
  const got = o.programs[0]!.coreRelos
    .filter((r) => r.kind === ENUMVAL_VALUE || r.kind === ENUMVAL_EXISTS)
    .map((r) => {
      const e = o.btf!.type(r.typeId);
      return [`${r.kind === ENUMVAL_VALUE ? 'value' : 'exists'} ${e.values![Number(r.accessString)]!.name}`, resolveCoreRelo(o.btf!, k, r.typeId, r.accessString, r.kind)] as const;
    });
  const byName = new Map(got);
  assert.deepEqual(byName.get('value BPF_FUNC_ktime_get_ns___local'), { found: true, value: uapi.get('BPF_FUNC_ktime_get_ns') });
  assert.deepEqual(byName.get('value BPF_FUNC_get_current_task___local'), { found: true, value: uapi.get('BPF_FUNC_get_current_task') });
  // An enum64 in the kernel: (__u64)-512.
  assert.deepEqual(byName.get('value PERF_CONTEXT_USER___local'), { found: true, value: uapi.get('PERF_CONTEXT_USER') });
  assert.equal(uapi.get('PERF_CONTEXT_USER'), 2n ** 64n - 512n);
  // A signed enum (kernel-internal, so bpftool's dump is the reference): a negative value.
  const dead = bpftoolEnumValue('perf_event_state', 'PERF_EVENT_STATE_DEAD');
  assert.ok(dead < 0n);
  assert.deepEqual(byName.get('value PERF_EVENT_STATE_DEAD___local'), { found: true, value: dead });
  assert.deepEqual(byName.get('exists BPF_FUNC_ktime_get_ns___local'), { found: true, value: 1 });
  const missing = byName.get('exists BPF_FUNC_no_such_helper___local')!;
  assert.equal(missing.found, false);
  assert.equal(missing.value, 0);
  assert.match(missing.reason!, /the kernel's enum bpf_func_id has no enumerator BPF_FUNC_no_such_helper/);
  assert.equal(byName.get('value BPF_FUNC_no_such_helper___local')!.found, false);
});

test('CO-RE enum values: both halves of the 64-bit load are patched; a signed value is sign-extended', () => {
  const insns = ldImm64();
  patchCoreInsn(insns, 0, ENUMVAL_VALUE, { found: true, value: 2n ** 64n - 512n });
  assert.equal(imm64(insns), 0xfffffffffffffe00n);
  assert.equal(insns[8], 0, 'the second half stays a pseudo instruction');
  patchCoreInsn(insns, 0, ENUMVAL_VALUE, { found: true, value: -5n });
  assert.equal(imm64(insns), 0xfffffffffffffffbn);
  patchCoreInsn(insns, 0, ENUMVAL_VALUE, { found: true, value: 0xeffffffcn });
  assert.equal(imm64(insns), 0xeffffffcn);
  patchCoreInsn(insns, 0, ENUMVAL_EXISTS, { found: false, value: 0, reason: 'gone' });
  assert.equal(imm64(insns), 0n);
  // A 32-bit immediate takes what fits: mov64 sign-extends, mov32 zero-extends.
  const mov64 = Buffer.from([0xb7, 0x01, 0, 0, 0, 0, 0, 0]);
  patchCoreInsn(mov64, 0, ENUMVAL_VALUE, { found: true, value: -5n });
  assert.equal(mov64.readInt32LE(4), -5);
  assert.throws(() => patchCoreInsn(mov64, 0, ENUMVAL_VALUE, { found: true, value: 0xeffffffcn }), /does not fit the instruction's 32-bit immediate/);
  // A value is a 64-bit pattern: (__u64)-512 is -512 to a sign-extending immediate.
  patchCoreInsn(mov64, 0, ENUMVAL_VALUE, { found: true, value: 2n ** 64n - 512n });
  assert.equal(mov64.readInt32LE(4), -512);
  const mov32 = Buffer.from([0xb4, 0x01, 0, 0, 0, 0, 0, 0]);
  patchCoreInsn(mov32, 0, ENUMVAL_VALUE, { found: true, value: 0xeffffffcn });
  assert.equal(mov32.readUInt32LE(4), 0xeffffffc);
  // A map load (src_reg BPF_PSEUDO_MAP_FD) is not a CO-RE instruction; a cut-off 64-bit load neither.
  const mapLoad = ldImm64(); mapLoad[1] = 0x11;
  assert.throws(() => patchCoreInsn(mapLoad, 0, ENUMVAL_VALUE, { found: true, value: 1n }), /unexpected form/);
  assert.throws(() => patchCoreInsn(ldImm64().subarray(0, 8), 0, ENUMVAL_VALUE, { found: true, value: 1n }), /cut off/);
});

test('CO-RE enum values: a missing enumerator poisons both halves of the 64-bit load (a lone second half is an unknown opcode even in dead code)', () => {
  const insns = ldImm64();
  patchCoreInsn(insns, 0, ENUMVAL_VALUE, { found: false, value: 0n, reason: 'gone' });
  for (const at of [0, 8]) {
    assert.equal(insns[at], 0x85, 'a call');
    assert.equal(insns.readInt32LE(at + 4), CORE_POISON_HELPER);
  }
});

test('CO-RE enum values: an unsigned enumerator past 2^31 keeps its value on BTF that records signedness (libbpf sign-extends it)', gate(withVmlinux, withClang, withBpftool), () => {
  const { btf, id } = localType('core_local', 'init_ns_ino___local');
  const expected = bpftoolEnumValue('init_ns_ino', 'PID_NS_INIT_INO');
  assert.ok(expected >= 2n ** 31n && expected < 2n ** 32n, `PID_NS_INIT_INO is ${expected}`);
  const r = resolveCoreRelo(btf, Btf.kernel(), id, '0', ENUMVAL_VALUE);
  assert.deepEqual(r, { found: true, value: expected });
  const insns = ldImm64();
  patchCoreInsn(insns, 0, ENUMVAL_VALUE, r);
  assert.equal(imm64(insns), expected, 'the upper half is 0');
});

test('CO-RE enum values in a stand-in kernel with two enums of one name: agreeing candidates resolve, disagreeing ones are ambiguous', gate(withClang), () => {
  const { btf: local, id } = localType('core_local', 'amb___local');
  const target = readObject(compileFixture('core_target')).btf!;
  const resolve = (enumerator: number, kind: number) => resolveCoreRelo(local, target, id, String(enumerator), kind);
  // enum amb___local { AMB_SAME, AMB_DIFFERENT, AMB_ONLY_IN_1, AMB_NOWHERE }
  assert.deepEqual(resolve(0, ENUMVAL_VALUE), { found: true, value: 7n }, 'both say 7');
  assert.throws(() => resolve(1, ENUMVAL_VALUE), (e: Error) => e instanceof BtfError && /enumval_value relocation of enum amb___local is ambiguous: 2 kernel types match and disagree \(type \d+ gives 1, type \d+ gives 2\)/.test(e.message));
  assert.deepEqual(resolve(1, ENUMVAL_EXISTS), { found: true, value: 1 }, 'it exists in both: no ambiguity');
  assert.deepEqual(resolve(2, ENUMVAL_VALUE), { found: true, value: 10n }, 'the one enum that has it');
  const nowhere = resolve(3, ENUMVAL_VALUE);
  assert.equal(nowhere.found, false);
  assert.match(nowhere.reason!, /the kernel's enum amb___1 has no enumerator AMB_NOWHERE; the kernel's enum amb___2 has no enumerator AMB_NOWHERE/);
  assert.deepEqual(resolve(3, ENUMVAL_EXISTS), { ...nowhere, value: 0 });
});

test('CO-RE enum values: a negative enumerator is negative whether or not the BTF records the enum\'s signedness (clang 14 does not)', gate(withClang), () => {
  const { btf: local, id } = localType('core_local', 'neg___local');
  const target = readObject(compileFixture('core_target')).btf!;
  assert.deepEqual(resolveCoreRelo(local, target, id, '0', ENUMVAL_VALUE), { found: true, value: -5n });
});

test('CO-RE enum values: an access string that is not an enumerator index of a named local enum is an error', gate(withClang), () => {
  const { btf: local, id } = localType('core_local', 'amb___local');
  const target = readObject(compileFixture('core_target')).btf!;
  assert.throws(() => resolveCoreRelo(local, target, id, '4', ENUMVAL_VALUE), /"4" is not an enumerator index of local enum amb___local/);
  assert.throws(() => resolveCoreRelo(local, target, id, '0:1', ENUMVAL_VALUE), /not an enumerator index/);
  assert.throws(() => resolveCoreRelo(local, target, id, 'x', ENUMVAL_VALUE), /bad CO-RE access string "x"/);
  const dup = local.idsByName('dup___local')[0]!;
  assert.throws(() => resolveCoreRelo(local, target, dup, '0', ENUMVAL_EXISTS), /not an enumerator index of local struct dup___local/);
  assert.throws(() => resolveCoreRelo(local, target, id, '0', 13), /kind 13 is not known/);
});
