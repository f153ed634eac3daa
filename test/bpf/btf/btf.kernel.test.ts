// BTF given to the kernel (BTF_LOAD): bpftool shows source lines and typed values; CO-RE against
// the live kernel; programs attached by BTF id (LSM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { SysError } from '../../../src/bpf/sys/index.js';
import { kernel, needs, pythonExecutable, which } from '../../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../../helpers/cgroup.js';
import { compileFixture, withClang } from '../elf/compile.js';
import { statSync, readFileSync, existsSync, rmSync } from 'node:fs';

const PY = pythonExecutable();

const gate = { ...kernel(), ...(withClang.skip ? withClang : {}) };
const withBpftool = { ...gate, ...(which('bpftool') ? {} : needs('needs bpftool (apt-get install bpftool)')) };
const bpftoolJson = (...args: string[]) => JSON.parse(execFileSync('bpftool', ['--json', ...args], { encoding: 'utf8' }));

test('kernel: programs and maps carry the object BTF: bpftool shows source lines and typed values', withBpftool, () => {
  using coll = Collection.load(readObject(compileFixture('sysctl')));
  assert.equal(coll.btfWarning, undefined);
  const id = coll.program('sysctl_policy').info().id;
  const show = bpftoolJson('prog', 'show', 'id', String(id));
  assert.ok(show.btf_id > 0, 'the program has BTF');
  const xlated = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id)], { encoding: 'utf8' });
  assert.match(xlated, /; if \(!ctx->write\) return 1;/, 'source lines from line_info');
  assert.match(xlated, /int sysctl_policy\(struct bpf_sysctl \* ctx\):/, 'function signature from func_info');
  const stats = coll.map('stats');
  const mapShow = bpftoolJson('map', 'show', 'id', String(stats.info().id));
  assert.equal(mapShow.btf_id, show.btf_id);
  const dump = bpftoolJson('map', 'dump', 'id', String(stats.info().id));
  assert.deepEqual(dump[0].formatted, { key: 0, value: { refused: 0, allowed: 0 } });
  // The same values, decoded by sysward from the object's BTF.
  assert.deepEqual(coll.entries('stats'), [{ key: 0, value: { refused: 0n, allowed: 0n } }]);
});

test('kernel: CO-RE raw_tp program reads current->pid and ->tgid at the kernel\'s offsets', gate, () => {
  const spec = readObject(compileFixture('core'));
  spec.setVariable('target_tgid', process.pid);
  using coll = Collection.load(spec);
  coll.attach('read_task');
  // Any syscall of this process (the main thread: pid == tgid) runs the program.
  for (let i = 0; i < 3; i++) statSync('/');
  coll.links.at(-1)!.close();
  const { seen } = coll.globals('.bss') as { seen: { pid: number; tgid: number; pid_size: number; missing_exists: number; hits: bigint } };
  assert.equal(seen.tgid, process.pid);
  assert.equal(seen.pid, process.pid);
  assert.equal(seen.pid_size, 4);
  assert.equal(seen.missing_exists, 0, 'a field the kernel lacks does not exist');
  assert.ok(seen.hits >= 3n);
});

test('kernel: tp_btf program attached by BTF id reads the task through a BTF pointer', gate, () => {
  const spec = readObject(compileFixture('tp_btf'));
  spec.setVariable('target_tgid', process.pid);
  assert.equal(spec.programs[0]!.expectedAttachType, 'TRACE_RAW_TP');
  using coll = Collection.load(spec);
  const link = coll.attach('on_sys_enter');
  for (let i = 0; i < 3; i++) statSync('/');
  link.close();
  const g = coll.globals('.bss') as { pid: number; tgid: number; hits: bigint };
  assert.equal(g.tgid, process.pid);
  assert.equal(g.pid, process.pid);
  assert.ok(g.hits >= 3n);
});

/** Whether this kernel lets root load LSM programs at all (lockdown or a BPF policy may refuse). */
function lsmRefusal(): string | false {
  if (!existsSync('/sys/kernel/security/lsm')) return 'needs securityfs mounted (mount -t securityfs securityfs /sys/kernel/security)';
  if (!readFileSync('/sys/kernel/security/lsm', 'utf8').split(',').includes('bpf')) return 'the BPF LSM is not active (add lsm=...,bpf to the kernel command line)';
  return false;
}

test('kernel: LSM program refuses AF_UNIX sockets in a fresh cgroup only (or, where the kernel refuses LSM programs, sysward and bpftool both say so)', { ...gate, ...(kernel().skip ? {} : needs(lsmRefusal())) }, async (t) => {
  const object = compileFixture('lsm');
  const spec = readObject(object);
  let coll: Collection;
  try {
    coll = Collection.load(spec);
  } catch (e) {
    if (!(e instanceof SysError && e.code === 'EPERM')) throw e;
    // Some kernels refuse LSM programs even to root before the verifier runs (seen here: lockdown,
    // or a kernel without the ftrace trampolines LSM programs need). The peer must agree.
    const pin = `/sys/fs/bpf/sysward-test-lsm-${process.pid}`;
    const peer = spawnSync('bpftool', ['prog', 'load', object, pin, 'type', 'lsm'], { encoding: 'utf8' });
    rmSync(pin, { force: true });
    assert.notEqual(peer.status, 0, 'bpftool loaded the LSM program that sysward could not');
    assert.match(peer.stderr, /Operation not permitted|permission/i);
    assert.match(e.message, /^EPERM loading LSM program/);
    t.diagnostic(`this kernel refuses LSM programs to root (${e.message.split(';')[0]}), as it does to bpftool`);
    return;
  }
  try {
    await withFreshCgroup((cg) => {
      const id = BigInt(statSync(cg).ino); // a cgroup's id is its inode number on cgroup2
      const scope = coll.map('scope');
      const key = Buffer.alloc(8); key.writeBigUInt64LE(id);
      scope.set(key, Buffer.alloc(4, 1));
      coll.attach('refuse_unix_sockets');
      const py = `exec ${PY} -c "import socket; socket.socket(socket.AF_UNIX); print('created')"`;
      const inside = shInCgroup(cg, py);
      assert.match(inside.stderr, /PermissionError: \[Errno 1\] Operation not permitted/);
      const outside = execFileSync(PY, ['-c', "import socket; socket.socket(socket.AF_UNIX); print('created')"], { encoding: 'utf8' });
      assert.equal(outside.trim(), 'created');
      assert.deepEqual(coll.globals('.bss'), { refused: 1n });
    });
  } finally { coll.close(); }
});
