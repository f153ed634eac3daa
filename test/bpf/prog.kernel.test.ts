// Kernel tests: program load, readable verifier errors, info and statistics, attach / query /
// detach / pin / reopen on a fresh cgroup, and the deny-writes example end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Assembler, R0, R1, R2, decodeInstructions } from '../../src/bpf/asm/index.js';
import { Program, VerifierError, summarizeVerifierLog } from '../../src/bpf/prog.js';
import { attachCgroup, Link, ProgAttachment, queryCgroup } from '../../src/bpf/link.js';
import { DEFAULT_BPFFS, ensureBpffs } from '../../src/bpf/pin.js';
import { enableStats } from '../../src/bpf/sys/bpf.js';
import { AttachFlag } from '../../src/bpf/sys/abi.js';
import { NotExistError, NotSupportedError } from '../../src/bpf/sys/errors.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { runDenyWritesDemo } from '../../examples/deny-sysctl-writes.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

/** The error `f` throws (fails the test when it throws nothing). */
function thrown(f: () => unknown): unknown {
  try { f(); } catch (e) { return e; }
  assert.fail('expected an error');
}

const allow = () => new Assembler().mov(R0, 1).exit().assemble();
const sysctlProgram = (name: string) => Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name, instructions: allow() });

test('kernel: a program the verifier rejects gives a one-line cause, the failing instruction and the log', kernel(), () => {
  const bad = new Assembler().mov(R0, R2).exit().assemble(); // r2 is never written
  const e = thrown(() => Program.load({ type: 'SOCKET_FILTER', instructions: bad }));
  assert.ok(e instanceof VerifierError, String(e));
  assert.equal(e.code, 'EACCES');
  assert.match(e.summary, /R2 !read_ok/);
  assert.deepEqual(e.failingInstruction, { index: 0, text: '(bf) r0 = r2' });
  assert.match(e.message, /^EACCES loading program: R2 !read_ok \(at instruction 0: \(bf\) r0 = r2\)/);
  assert.match(e.log, /processed \d+ insns/);
  assert.equal(e.message.split('\n').length, 2, 'summary line plus where the full log is');
});

test('kernel: a refused return value names the range the verifier wanted', kernel(), () => {
  const e = thrown(() => Program.load({ type: 'CGROUP_SYSCTL', instructions: new Assembler().mov(R0, 7).exit().assemble() }));
  assert.ok(e instanceof VerifierError, String(e));
  assert.match(e.summary, /R0 has (smin=7 smax=7|value \(0x7; 0x0\)) should have been in \[0, 1\]|should have been in/);
});

test('verifier log summary skips the statistics trailer', () => {
  const log = '0: (bf) r0 = r2\nR2 !read_ok\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n';
  assert.deepEqual(summarizeVerifierLog(log), { summary: 'R2 !read_ok', failingInstruction: { index: 0, text: '(bf) r0 = r2' } });
});

test('kernel: info, xlated instructions and run statistics', kernel(), () => {
  using stats = enableStats();
  using p = Program.load({ type: 'SOCKET_FILTER', name: 'sw_info', instructions: allow() });
  const i = p.info();
  assert.equal(i.name, 'sw_info');
  assert.equal(i.typeName, 'SOCKET_FILTER');
  assert.match(i.tag, /^[0-9a-f]{16}$/);
  assert.deepEqual(decodeInstructions(p.xlated()).map((x) => x.code), [0xb7, 0x95]);
  p.testRun({ repeat: 100 });
  const after = p.info();
  assert.equal(after.runCount, 100n);
  assert.ok(after.runTimeNs > 0n);
  stats.close();
});

test('kernel: cgroup link attach, query, pin, reopen, update, detach', kernel(), async () => {
  ensureBpffs();
  const pins = mkdtempSync(join(DEFAULT_BPFFS, 'sysward-test-'));
  try {
    await withFreshCgroup((cg) => {
      using p1 = sysctlProgram('sw_one');
      using p2 = sysctlProgram('sw_two');
      const link = attachCgroup({ cgroup: cg, program: p1, attachType: 'CGROUP_SYSCTL' });
      assert.ok(link instanceof Link);
      assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, [p1.info().id]);
      assert.equal(link.info().programId, p1.info().id);
      assert.equal(link.info().typeName, 'CGROUP');
      link.pin(join(pins, 'link'));
      link.close(); // pinned: stays attached without any fd
      assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, [p1.info().id]);
      using again = Link.openPinned(join(pins, 'link'));
      again.update(p2, p1);
      assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, [p2.info().id]);
      assert.throws(() => again.update(p1, p1), /EPERM replacing the program of a link: .*the link runs another program than the one expected/);
      again.detach();
      assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, []);
    });
  } finally { rmSync(pins, { recursive: true, force: true }); }
});

test('kernel: PROG_ATTACH fallback attaches with ALLOW_MULTI and detaches', kernel(), async () => {
  await withFreshCgroup((cg) => {
    using p = sysctlProgram('sw_legacy');
    const a = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL', forceProgAttach: true });
    assert.ok(a instanceof ProgAttachment);
    const q = queryCgroup(cg, 'CGROUP_SYSCTL');
    assert.deepEqual(q.programIds, [p.info().id]);
    assert.equal(q.attachFlags, AttachFlag.F_ALLOW_MULTI);
    a.detach();
    assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, []);
  });
});

test('kernel: effective query lists the ancestors\' programs', kernel(), async () => {
  await withFreshCgroup((cg) => {
    // Programs above the fresh cgroup (a host running sysward's host guard has one on the root)
    // are effective too, after the nearer ones.
    const above = queryCgroup(cg, 'CGROUP_SYSCTL', { effective: true }).programIds;
    using p = sysctlProgram('sw_parent');
    using link = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL' });
    const child = mkdtempSync(join(cg, 'c-'));
    assert.deepEqual(queryCgroup(child, 'CGROUP_SYSCTL').programIds, []);
    assert.deepEqual(queryCgroup(child, 'CGROUP_SYSCTL', { effective: true }).programIds, [p.info().id, ...above]);
    link.detach();
  });
});

test('kernel: attaching to a cgroup that does not exist names the cause and the fix', kernel(), () => {
  using p = sysctlProgram('sw_missing');
  assert.throws(() => attachCgroup({ cgroup: '/sys/fs/cgroup/definitely-not-here', program: p, attachType: 'CGROUP_SYSCTL' }),
    (e: unknown) => e instanceof NotExistError && /ENOENT opening cgroup .*: the cgroup does not exist; create it or pass an existing path/.test(e.message));
  // Callers match what is missing by class, and the fallback's limits as "not supported".
  assert.throws(() => Link.openPinned('/sys/fs/bpf/sysward-definitely-not-here'), NotExistError);
  assert.throws(() => Link.fromId(0x7ffffff0), NotExistError);
  const cg = mkdtempSync(join(findCgroup2Mount(), 'sysward-test-'));
  try {
    using a = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL', forceProgAttach: true });
    assert.equal(a.kind, 'prog-attach');
    assert.throws(() => a.pin('/sys/fs/bpf/x'), NotSupportedError);
    a.detach();
  } finally { rmdirSync(cg); }
});

test('kernel: example: a write from the guarded cgroup fails with EPERM and the value is unchanged', kernel(), () => {
  const r = runDenyWritesDemo();
  assert.notEqual(r.exitStatus, 0);
  assert.match(r.stderr, /Operation not permitted/);
  assert.equal(r.after, r.before);
  assert.ok(r.before.length > 0, 'reads are allowed');
});

test('kernel: reads pass and writes are refused for a deny-writes program, in the same cgroup', kernel(), async () => {
  await withFreshCgroup((cg) => {
    using p = Program.load({ type: 'CGROUP_SYSCTL', instructions: new Assembler().ldx('u32', R1, R1, 0).mov(R0, 1).jeq(R1, 0, 'out').mov(R0, 0).label('out').exit().assemble() });
    using link = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL' });
    const r = shInCgroup(cg, 'cat /proc/sys/kernel/domainname && /bin/echo x > /proc/sys/kernel/domainname', ['--uts']);
    assert.match(r.stderr, /Operation not permitted/);
    assert.notEqual(r.status, 0);
    link.detach();
  });
});
