// Externs filled in from the running kernel, checked against the kernel's own files and against
// the same object loaded by bpftool (libbpf).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { Program, VerifierError } from '../../../src/bpf/prog.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { kernel, needs, which } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';

function kernelConfig(): string | undefined {
  try { return readFileSync(`/boot/config-${release()}`, 'utf8'); } catch { /* next */ }
  try { return gunzipSync(readFileSync('/proc/config.gz')).toString(); } catch { return undefined; }
}
const config = kernelConfig();
const gate = { ...kernel(), ...(withClang.skip ? withClang : {}), ...needs(!config ? 'needs the kernel configuration (/proc/config.gz or /boot/config-*)' : false) };
const withBpftool = needs(!which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false);
const option = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(config ?? '')?.[1];

test('kernel: __kconfig, untyped __ksym and kfunc externs resolve to what the kernel says', gate, () => {
  using coll = Collection.load(readObject(compileFixture('externs')));
  assert.equal(coll.btfWarning, undefined, 'the sanitized BTF loads');
  assert.equal(coll.program('read_externs').testRun({ data: null }).retval, 0);
  const seen = (coll.globals('.bss') as { seen: Record<string, unknown> }).seen;
  const [a, b, c] = release().split(/[.-]/).map(Number) as [number, number, number];
  const kallsyms = readFileSync('/proc/kallsyms', 'utf8');
  const callBase = BigInt(`0x${/^([0-9a-f]+) \w __bpf_call_base$/m.exec(kallsyms)![1]}`);
  const tri = (v: string | undefined) => (v === 'y' ? 1 : v === 'm' ? 2 : 0);
  assert.deepEqual(seen, {
    hz: Number(option('CONFIG_HZ')),
    nr_cpus: Number(option('CONFIG_NR_CPUS')),
    lsm: option('CONFIG_BPF_LSM') === 'y' ? 1 : 0,
    ipv6: tri(option('CONFIG_IPV6')),
    version: (a << 16) + (b << 8) + Math.min(c, 255),
    missing_config: 0,
    smp: option('CONFIG_SMP') === 'y' ? 1 : 0,
    bpf_syscall: option('CONFIG_BPF_SYSCALL')!.charCodeAt(0),
    not_set: 0,
    hostname: JSON.parse(option('CONFIG_DEFAULT_HOSTNAME') ?? '""').slice(0, 15),
    lookup_addr: callBase,
    missing_addr: 0n,
    self_pid: process.pid,
    self_comm: readFileSync('/proc/self/comm', 'utf8').trim().slice(0, 15),
    has_release_kfunc: 1,
    has_missing_kfunc: 0,
  });
  // The frozen .kconfig map, decoded by its BTF.
  assert.equal((coll.globals('.kconfig') as Record<string, unknown>).CONFIG_HZ, Number(option('CONFIG_HZ')));
  const kc = coll.map('externs.kconfig');
  assert.throws(() => kc.set(0, Buffer.alloc(40)), /EPERM/);
});

test('kernel: bpftool (libbpf) fills the same .kconfig bytes, and its program sees the same values', { ...gate, ...(withBpftool.skip ? withBpftool : {}) }, () => {
  const obj = compileFixture('externs');
  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-externs-${process.pid}`;
  try {
    execFileSync('bpftool', ['prog', 'load', obj, pin], { stdio: 'pipe' });
    using theirs = Program.openPinned(pin);
    theirs.testRun({ data: null });
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', pin], { encoding: 'utf8' })) as { map_ids: number[] };
    const valueOf = (suffix: string) => {
      for (const id of info.map_ids) {
        using m = BpfMap.openBytesById(id);
        if (m.info().name.endsWith(suffix)) return Buffer.from(m.get(Buffer.alloc(4))!);
      }
      throw new Error(`bpftool's program has no ${suffix} map`);
    };
    using ours = Collection.load(readObject(obj));
    ours.program('read_externs').testRun({ data: null });
    assert.deepEqual(ours.map('externs.kconfig').get(0)!, valueOf('.kconfig'));
    assert.deepEqual(ours.map('externs.bss').get(0)!, valueOf('.bss'));
  } finally { rmSync(pin, { force: true }); }
});

test('kernel: a typed __ksym goes to the verifier by BTF id (it finds the symbol or names it, as for bpftool)', { ...gate, ...(withBpftool.skip ? withBpftool : {}) }, () => {
  const obj = compileFixture('ksym_typed');
  let ours: string;
  try {
    using coll = Collection.load(readObject(obj));
    coll.program('read_runqueue').testRun({ data: null });
    ours = `rq_cpu ${(coll.globals('.bss') as { rq_cpu: number }).rq_cpu}`;
  } catch (e) {
    if (!(e instanceof VerifierError)) throw e;
    ours = e.log.split('\n').find((l) => /kernel symbol/.test(l)) ?? e.message;
  }
  const pin = `/sys/fs/bpf/sysward-test-ksym-${process.pid}`;
  const r = spawnSync('bpftool', ['prog', 'load', obj, pin], { encoding: 'utf8' });
  let theirs: string;
  if (r.status === 0) {
    try {
      using p = Program.openPinned(pin);
      p.testRun({ data: null });
      const id = (JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', pin], { encoding: 'utf8' })) as { map_ids: number[] }).map_ids[0]!;
      using m = BpfMap.openBytesById(id);
      theirs = `rq_cpu ${m.get(Buffer.alloc(4))!.readInt32LE(0)}`;
    } finally { rmSync(pin, { force: true }); }
  } else {
    theirs = r.stderr.split('\n').find((l) => /kernel symbol/.test(l)) ?? r.stderr;
  }
  assert.equal(ours, theirs);
  // With CONFIG_KALLSYMS_ALL the program reads CPU 1's runqueue (none on a 1-CPU machine); without it the kernel names the symbol.
  assert.match(ours, /^rq_cpu (1|-2)$|failed to find the address for kernel symbol 'runqueues'/);
});

test('kernel: a reachable call to a missing __weak kfunc is refused, naming the kfunc', gate, () => {
  const spec = readObject(compileFixture('externs', { UNGUARDED_CALL: '1' }));
  assert.throws(() => Collection.load(spec), (e: unknown) => {
    assert.ok(e instanceof VerifierError, String(e));
    assert.match(e.message, /a call to kfunc sysward_no_such_kfunc, which this kernel lacks: guard it with bpf_ksym_exists\(sysward_no_such_kfunc\)/);
    return true;
  });
});
