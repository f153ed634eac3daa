// BTF: the kernel's (readable without root) and objects'; value decoding; CO-RE resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BtfError, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { decodeValue } from '../../../src/bpf/btf/decode.js';
import { CoreReloKind } from '../../../src/bpf/btf/ext.js';
import { resolveCoreRelo, patchCoreInsn, CORE_POISON_HELPER } from '../../../src/bpf/btf/core.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { needs } from '../../helpers/env.js';
import { ELF_FIXTURES, compileFixture, withClang } from '../elf/compile.js';

const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);
const sysctlObject = () => readObject(join(ELF_FIXTURES, 'valid', 'sysctl.bpf.o'));

test('vmlinux BTF: types by name, sizes, members', withVmlinux, () => {
  const k = Btf.kernel();
  assert.ok(k.types.length > 10000);
  const task = k.typeByName('task_struct', 'STRUCT');
  assert.ok(task.size! > 1000);
  const pid = task.members!.find((m) => m.name === 'pid')!;
  assert.equal(k.typeName(pid.type), 'pid_t');
  assert.equal(k.sizeOf(pid.type), 4);
  assert.equal(k.resolve(pid.type).kind, 'INT');
  assert.ok(k.idsByName('bpf_lsm_socket_create', 'FUNC').length === 1, 'LSM hooks are functions named bpf_lsm_<hook>');
  assert.equal(k.typeName(task.members!.find((m) => m.name === 'comm')!.type), 'char[16]');
  assert.throws(() => k.typeByName('no_such_type_sysward'), BtfError);
});

test('object BTF: map value types and decoding into objects', () => {
  const o = sysctlObject();
  const btf = o.btf!;
  const counts = btf.typeByName('counts', 'STRUCT');
  assert.deepEqual(counts.members!.map((m) => [m.name, m.bitOffset, btf.typeName(m.type)]), [['refused', 0, '__u64'], ['allowed', 64, '__u64']]);
  const v = Buffer.alloc(16);
  v.writeBigUInt64LE(3n, 0);
  v.writeBigUInt64LE(5n, 8);
  assert.deepEqual(decodeValue(btf, counts.id, v), { refused: 3n, allowed: 5n });
  // Global data: the DATASEC of .rodata decodes to its variables.
  const rodata = o.maps.find((m) => m.section === '.rodata')!;
  assert.deepEqual(decodeValue(btf, rodata.btfValueTypeId, rodata.data!), { denied_name: 'kernel/domainname' });
  // DATASEC sizes and offsets were filled in from the ELF sections for BTF_LOAD.
  const bss = btf.type(o.maps.find((m) => m.section === '.bss')!.btfValueTypeId);
  assert.equal(bss.size, 12);
  assert.deepEqual(bss.secinfos!.map((s) => [btf.type(s.type).name, s.offset]).sort(), [['last_write', 8], ['refused_total', 0]]);
});

test('decoding: signed ints, bools, enums, bitfields, arrays, nested and anonymous members', () => {
  // Hand-made BTF: int(4, signed) / struct s { int a; unsigned b:3, c:5; enum e k; int arr[2]; union { int u; }; }
  const strings = ['', 'int', 's', 'a', 'b', 'c', 'e', 'ONE', 'TWO', 'k', 'arr', 'u', 'unsigned int'];
  const off = (s: string) => strings.slice(0, strings.indexOf(s)).reduce((n, x) => n + x.length + 1, 0);
  const types: number[] = [];
  const rec = (...w: number[]) => types.push(...w);
  rec(off('int'), 1 << 24, 4, (1 << 24) | 32); // 1: int
  rec(off('unsigned int'), 1 << 24, 4, 32); // 2: unsigned int
  rec(off('e'), (6 << 24) | 2, 4, off('ONE'), 1, off('TWO'), 2); // 3: enum e
  rec(0, 3 << 24, 0, 1, 2, 2); // 4: int[2]
  rec(0, (5 << 24) | 1, 4, off('u'), 1, 0); // 5: union { int u; }
  rec(off('s'), (4 << 24) | (1 << 31) | 6, 24, off('a'), 1, 0, off('b'), 2, (3 << 24) | 32, off('c'), 2, (5 << 24) | 35, off('k'), 3, 64, off('arr'), 4, 96, 0, 5, 160); // 6
  const typeBytes = Buffer.alloc(types.length * 4);
  types.forEach((w, i) => typeBytes.writeUInt32LE(w >>> 0, i * 4));
  const strBytes = Buffer.from(strings.join('\0') + '\0');
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0); hdr[2] = 1; hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(typeBytes.length, 12); hdr.writeUInt32LE(typeBytes.length, 16); hdr.writeUInt32LE(strBytes.length, 20);
  const btf = Btf.parse(Buffer.concat([hdr, typeBytes, strBytes]));
  const v = Buffer.alloc(24);
  v.writeInt32LE(-7, 0);
  v[4] = 5 | (17 << 3); // b = 5, c = 17
  v.writeUInt32LE(2, 8);
  v.writeInt32LE(10, 12); v.writeInt32LE(-20, 16);
  v.writeInt32LE(99, 20);
  assert.deepEqual(decodeValue(btf, 6, v), { a: -7, b: 5, c: 17, k: 'TWO', arr: [10, -20], u: 99 });
  assert.equal(btf.typeName(4), 'int[2]');
});

test('malformed BTF is a BtfError', () => {
  const good = sysctlObject().btf!.bytes;
  for (const [what, f] of [
    ['truncated', (b: Buffer) => b.subarray(0, 30)],
    ['bad magic', (b: Buffer) => { b.writeUInt16LE(1, 0); return b; }],
    ['string section past the end', (b: Buffer) => { b.writeUInt32LE(1 << 30, 20); return b; }],
  ] as const) {
    assert.throws(() => Btf.parse(f(Buffer.from(good))), BtfError, what);
  }
});

test('CO-RE: task_struct fields resolved against vmlinux by name', { ...withVmlinux, ...(withClang.skip ? withClang : {}) }, () => {
  const o = readObject(compileFixture('core'));
  const k = Btf.kernel();
  const task = k.typeByName('task_struct', 'STRUCT');
  const kernelOffset = (name: string) => task.members!.find((m) => m.name === name)!.bitOffset / 8;
  const local = o.btf!;
  const [tgidOff, pidOff, pidSize, missing] = o.programs[0]!.coreRelos.map((r) => resolveCoreRelo(local, k, r.typeId, r.accessString, r.kind));
  assert.deepEqual(tgidOff, { found: true, value: kernelOffset('tgid') });
  assert.deepEqual(pidOff, { found: true, value: kernelOffset('pid') });
  assert.deepEqual(pidSize, { found: true, value: 4 });
  assert.equal(missing!.found, false);
  assert.match(missing!.reason!, /has no field no_such_field_in_the_kernel/);
  // Patching: an exists relocation becomes 0; a needed missing field poisons the instruction.
  const insns = Buffer.alloc(16);
  insns[0] = 0xb7; // mov r0, imm
  patchCoreInsn(insns, 0, CoreReloKind.FIELD_EXISTS, missing!);
  assert.equal(insns.readInt32LE(4), 0);
  patchCoreInsn(insns, 1, CoreReloKind.FIELD_BYTE_OFFSET, missing!);
  assert.equal(insns[8], 0x85);
  assert.equal(insns.readInt32LE(12), CORE_POISON_HELPER);
});
