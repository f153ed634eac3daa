// Externs without a kernel: the .kconfig layout libbpf would choose, values from a kernel
// configuration given as text, and the errors for what cannot be filled in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readObject } from '../../../src/bpf/elf/object.js';
import { kconfigValue, kernelVersionCode, parseKconfig, resolveKernelExterns, type ExternSpec, type KernelFacts } from '../../../src/bpf/elf/externs.js';
import { Btf } from '../../../src/bpf/btf/btf.js';
import { compileFixture, withClang } from './compile.js';

const CONFIG = `
# Automatically generated file; DO NOT EDIT.
CONFIG_HZ=250
CONFIG_NR_CPUS=256
CONFIG_BPF_LSM=y
CONFIG_IPV6=m
CONFIG_SMP=y
CONFIG_BPF_SYSCALL=y
CONFIG_DEFAULT_HOSTNAME="(none)"
# CONFIG_SYSWARD_NOT_SET is not set
`;

test('parseKconfig: set options only ("is not set" is a comment, as for libbpf); KERNEL_VERSION codes', () => {
  const c = parseKconfig(CONFIG);
  assert.deepEqual([...c.entries()], [['CONFIG_HZ', '250'], ['CONFIG_NR_CPUS', '256'], ['CONFIG_BPF_LSM', 'y'], ['CONFIG_IPV6', 'm'], ['CONFIG_SMP', 'y'], ['CONFIG_BPF_SYSCALL', 'y'], ['CONFIG_DEFAULT_HOSTNAME', '"(none)"']]);
  assert.equal(kernelVersionCode('6.18.44-fc-v782'), 0x6122cn);
  assert.equal(kernelVersionCode('5.4.300'), (5n << 16n) + (4n << 8n) + 255n); // the patch level is capped at 255
});

test('an object with externs: kinds, weak flags, the .kconfig map laid out as libbpf does', withClang, () => {
  const o = readObject(compileFixture('externs'));
  const by = Object.fromEntries(o.externs.map((e) => [e.name, e]));
  assert.deepEqual(Object.values(by).map((e) => [e.name, e.kind, e.weak]).sort(), [
    ['CONFIG_BPF_LSM', 'kconfig', false], ['CONFIG_BPF_SYSCALL', 'kconfig', false], ['CONFIG_DEFAULT_HOSTNAME', 'kconfig', false], ['CONFIG_HZ', 'kconfig', false],
    ['CONFIG_IPV6', 'kconfig', false], ['CONFIG_NR_CPUS', 'kconfig', false], ['CONFIG_SMP', 'kconfig', false], ['CONFIG_SYSWARD_NOT_SET', 'kconfig', true], ['CONFIG_SYSWARD_NO_SUCH_OPTION', 'kconfig', true],
    ['LINUX_KERNEL_VERSION', 'kconfig', false], ['__bpf_call_base', 'ksym', false], ['bpf_task_from_pid', 'kfunc', false],
    ['bpf_task_release', 'kfunc', false], ['sysward_no_such_kfunc', 'kfunc', true], ['sysward_no_such_symbol', 'ksym', true],
  ]);
  // libbpf's order (alignment down, then size up, then name), as `bpftool btf dump` showed it for
  // this object loaded by bpftool 7.1; the kernel test compares the bytes with bpftool's each run.
  const offsets = o.externs.filter((e) => e.kconfig).map((e) => [e.name, e.kconfig!.offset]).sort((a, b) => Number(a[1]) - Number(b[1]));
  assert.deepEqual(offsets, [
    ['CONFIG_HZ', 0], ['CONFIG_IPV6', 4], ['CONFIG_NR_CPUS', 8], ['CONFIG_SYSWARD_NO_SUCH_OPTION', 12], ['LINUX_KERNEL_VERSION', 16],
    ['CONFIG_BPF_LSM', 20], ['CONFIG_BPF_SYSCALL', 21], ['CONFIG_SMP', 22], ['CONFIG_SYSWARD_NOT_SET', 23], ['CONFIG_DEFAULT_HOSTNAME', 24],
  ]);
  assert.equal(by.CONFIG_BPF_SYSCALL!.kconfig!.type, 'char', 'clang does not mark char in BTF; any 1-byte integer is one');
  const kc = o.maps.find((m) => m.section === '.kconfig')!;
  assert.deepEqual([kc.valueSize, kc.freeze, kc.name], [40, true, 'externs.kconfig']);
  assert.throws(() => o.setVariable('CONFIG_HZ', 100), /__kconfig extern: the loader sets it/);
  // The BTF for the kernel: no extern linkage left, .ksyms entries are 4-byte ints.
  const btf = o.btf!;
  assert.ok(!btf.types.some((t) => (t.kind === 'VAR' || t.kind === 'FUNC') && t.linkage === 2));
  const ksyms = btf.typeByName('.ksyms', 'DATASEC');
  assert.deepEqual(ksyms.secinfos!.map((s) => [s.offset, s.size]), ksyms.secinfos!.map((_, i) => [i * 4, 4]));
});

test('kconfigValue: each declared type from the configuration text, and clear refusals', withClang, () => {
  const o = readObject(compileFixture('externs'));
  const facts = (text: string): KernelFacts => ({ btf: undefined as unknown as Btf, config: () => parseKconfig(text), kallsyms: () => undefined, hasSymbol: () => false, bpfCookie: () => false });
  const size = o.maps.find((m) => m.section === '.kconfig')!.valueSize;
  const v = kconfigValue(o.externs, size, facts(CONFIG.replace('CONFIG_IPV6=m', 'CONFIG_IPV6=y')));
  assert.equal(v.readUInt32LE(0), 250);
  assert.equal(v.readUInt32LE(4), 1); // TRI_YES
  assert.equal(v.readUInt32LE(8), 256);
  assert.equal(v.readUInt32LE(12), 0); // weak and absent
  assert.equal(v[20], 1);
  assert.equal(String.fromCharCode(v[21]!), 'y', 'a char holds the letter');
  assert.equal(v[22], 1);
  assert.equal(v[23], 0, 'a weak option that is not set reads 0');
  assert.equal(v.toString('latin1', 24, 30), '(none)');
  assert.equal(v[30], 0);
  assert.equal(kconfigValue(o.externs, size, facts(CONFIG)).readUInt32LE(4), 2, 'm is TRI_MODULE');
  assert.equal(kconfigValue(o.externs, size, facts(CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ=0x3e8'))).readUInt32LE(0), 1000);
  // A string longer than the array keeps its terminating NUL.
  const long = kconfigValue(o.externs, size, facts(CONFIG.replace('"(none)"', '"a-much-too-long-host-name"')));
  assert.equal(long.toString('latin1', 24, 40), 'a-much-too-long\0');
  // The bytes between the quotes as written (libbpf does not unescape), a tab included.
  assert.equal(kconfigValue(o.externs, size, facts(CONFIG.replace('"(none)"', '"a\\"b\tc"'))).toString('latin1', 24, 31), 'a\\"b\tc\0');
  const refuse = (text: string, re: RegExp) => assert.throws(() => kconfigValue(o.externs, size, facts(text)), re);
  refuse(CONFIG.replace('CONFIG_BPF_LSM=y', 'CONFIG_BPF_LSM=m'), /CONFIG_BPF_LSM: the option is "m".*char or enum libbpf_tristate/);
  refuse(CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ=y'), /CONFIG_HZ: "y" is a yes\/module\/no value; declare it as bool, char or enum libbpf_tristate/);
  refuse(CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ=n'), /CONFIG_HZ: "n" is a yes\/module\/no value/);
  refuse(CONFIG.replace('CONFIG_IPV6=m', 'CONFIG_IPV6=3'), /CONFIG_IPV6: "3" is a number; declare it as an integer, char or bool/);
  refuse(CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ="fast"'), /CONFIG_HZ: "fast" is a string; declare it as a char array/);
  refuse(CONFIG.replace('CONFIG_SMP=y\n', ''), /CONFIG_SMP: not in the kernel's configuration/);
  refuse(CONFIG.replace('CONFIG_NR_CPUS=256', 'CONFIG_NR_CPUS=99999999999'), /CONFIG_NR_CPUS: 99999999999 does not fit in a signed 4-byte integer/);
  refuse(CONFIG.replace('CONFIG_HZ=250\n', ''), /extern \(kconfig\) CONFIG_HZ: not in the kernel's configuration; declare it __weak/);
  assert.throws(() => kconfigValue(o.externs, size, { ...facts(''), config: () => 'no configuration here' }), /CONFIG_\w+: no configuration here/);
});

test('resolveKernelExterns: missing strong externs are named; weak ones resolve to nothing', withClang, () => {
  const o = readObject(compileFixture('externs'));
  const kernel = Btf.kernel();
  const kallsyms = (n: string) => (n === '__bpf_call_base' ? 0xffffffff81000000n : undefined);
  const facts = { btf: kernel, config: () => new Map<string, string>(), kallsyms, hasSymbol: () => false, bpfCookie: () => false };
  const r = resolveKernelExterns(o.btf!, o.externs, facts);
  assert.deepEqual(r.get('__bpf_call_base'), { kind: 'address', address: 0xffffffff81000000n });
  assert.deepEqual(r.get('bpf_task_from_pid'), { kind: 'btf', id: kernel.idsByName('bpf_task_from_pid', 'FUNC')[0] });
  assert.deepEqual(r.get('sysward_no_such_kfunc'), { kind: 'missing' });
  assert.deepEqual(r.get('sysward_no_such_symbol'), { kind: 'missing' });
  const strong = (e: ExternSpec) => ({ ...e, weak: false });
  assert.throws(() => resolveKernelExterns(o.btf!, o.externs.map(strong), facts),
    /extern sysward_no_such_(symbol: no such symbol in \/proc\/kallsyms|kfunc: the kernel's BTF has no function sysward_no_such_kfunc); declare it __weak/);
  // A kfunc declared with the wrong number of parameters is refused before the verifier sees it.
  const fromPid = o.externs.find((e) => e.name === 'bpf_task_from_pid')!;
  const wrong = { ...fromPid, name: 'bpf_task_release', typeId: o.btf!.type(o.btf!.typeByName('read_externs', 'FUNC').id).type! };
  assert.throws(() => resolveKernelExterns(o.btf!, [wrong], facts), /extern bpf_task_release: declared as .*which does not match the kernel's/);
});

test('an undefined symbol that is no __kconfig or __ksym extern is refused at parse, by name', withClang, () => {
  assert.throws(() => readObject(compileFixture('undefined_extern')), /counter is undefined: neither a __kconfig nor a __ksym extern/);
});
