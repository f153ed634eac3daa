// `bpf prog dump` of programs with several functions equals `bpftool prog dump xlated`: the
// bpf-to-bpf calls named by the callee's JIT image, each function's BTF signature above it, kfunc
// calls by kernel symbol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { Btf, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { Assembler, R0 } from '../../../src/bpf/asm/index.js';
import { Program } from '../../../src/bpf/prog.js';
import { dumpXlated } from '../../../src/bpf/xlated.js';
import { repoRoot } from '../../helpers/paths.js';
import { kernel, needs, which } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';

const gate = { ...kernel(), ...(withClang.skip ? withClang : {}), ...(which('bpftool') ? {} : needs('needs bpftool (apt-get install bpftool)')) };
const jitOn = () => { try { return readFileSync('/proc/sys/net/core/bpf_jit_enable', 'utf8').trim() !== '0'; } catch { return false; } };
const SYSWARD = join(repoRoot(), 'bin', 'sysward');

const bpftool = (id: number, ...options: string[]) =>
  execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id), ...options], { encoding: 'utf8' });
const sysward = (id: number, ...options: string[]) =>
  execFileSync(process.execPath, [SYSWARD, 'bpf', 'prog', 'dump', String(id), ...options], { encoding: 'utf8' });

test('kernel: bpf prog dump of a program with static and global subprograms equals bpftool prog dump xlated', gate, () => {
  using coll = Collection.load(readObject(compileFixture('subprog')));
  const prog = coll.program('subprog_policy');
  const id = prog.info().id;
  const theirs = bpftool(id);
  assert.equal(sysward(id), theirs);
  // bpftool 7.1 takes one of opcodes and linum at a time.
  assert.equal(sysward(id, '--opcodes'), bpftool(id, 'opcodes'));
  assert.equal(sysward(id, '--linum'), bpftool(id, 'linum'));
  assert.equal(dumpXlated(prog.handle), theirs);

  // What makes the comparison mean something: four functions, three calls named by JIT image.
  const lines = theirs.split('\n');
  if (jitOn()) {
    assert.equal(prog.jitedFunctions().count, 4);
    for (const callee of ['is_write', 'count_write', 'clamp_weight']) {
      assert.ok(lines.some((l) => new RegExp(`\\(85\\) call pc\\+\\d+#bpf_prog_[0-9a-f]{16}_${callee}$`).test(l)), callee);
    }
  }
  for (const signature of [
    'int subprog_policy(struct bpf_sysctl * ctx)', 'int count_write(__u32 weight)',
    '__u64 clamp_weight(__u64 weight, const char * why)', 'int is_write(struct bpf_sysctl * ctx)',
  ]) assert.ok(lines.includes(`${signature}:`), signature);
  assert.ok(lines.includes('; if (weight > 16) return 16; // a cap — source lines are UTF-8'));
});

const kfuncGate = {
  ...kernel(),
  ...(which('bpftool') ? {} : needs('needs bpftool (apt-get install bpftool)')),
  ...(existsSync(VMLINUX_PATH) ? {} : needs(`needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`)),
  ...(jitOn() ? {} : needs('kfunc calls need the JIT: net.core.bpf_jit_enable is 0')),
};

test('kernel: kfunc, helper and bpf-to-bpf calls of a program without BTF are named as bpftool names them', kfuncGate, (t) => {
  const k = Btf.kernel();
  // Linux 6.2: bpf_rcu_read_lock/unlock, kfuncs every program type may call.
  const [lock] = k.idsByName('bpf_rcu_read_lock', 'FUNC');
  const [unlock] = k.idsByName('bpf_rcu_read_unlock', 'FUNC');
  if (lock === undefined || unlock === undefined) {
    const { skip } = needs('needs the bpf_rcu_read_lock kfunc (Linux 6.2)');
    if (skip) { t.skip(skip); return; }
    assert.fail('no bpf_rcu_read_lock in the kernel BTF');
  }
  const insns = new Assembler()
    .callKfunc(lock).callLocal('sub').callKfunc(unlock).mov(R0, 1).exit()
    .label('sub').call('ktime_get_ns').mov(R0, 0).exit()
    .assemble();
  using p = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', instructions: insns });
  const id = p.info().id;
  const theirs = bpftool(id);
  assert.equal(sysward(id), theirs);
  assert.match(theirs, /call bpf_rcu_read_lock#-?\d+\n.*call pc\+3#bpf_prog_[0-9a-f]{16}_F\n.*call bpf_rcu_read_unlock#/);
});
