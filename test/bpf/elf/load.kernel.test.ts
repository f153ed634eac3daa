// Objects built by clang, loaded through sysward, behaving as when bpftool loads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { RingBufReader } from '../../../src/bpf/ringbuf.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { queryCgroup } from '../../../src/bpf/link.js';
import { kernel, needs, pythonExecutable, which } from '../../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../../helpers/cgroup.js';
import { compileFixture, withClang } from './compile.js';

const PY = pythonExecutable();

const gate = { ...kernel(), ...(withClang.skip ? withClang : {}) };
const withBpftool = needs(!which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false);

// kernel/domainname is per UTS namespace: the children write their own copy.
// python3 prints the errno (the shell's echo says only "I/O error").
const write = (name: string, value: string) =>
  `${PY} -c "import os; os.write(os.open('/proc/sys/kernel/${name}', os.O_WRONLY), b'${value}\\n')"; echo "status $?"`;
const WRITE_DOMAINNAME = write('domainname', 'sysward-test');
const WRITE_HOSTNAME = write('hostname', 'sysward-host');

test('kernel: cgroup-sysctl object refuses the write it names, in its cgroup only, with counters in .bss and a BTF map', gate, async () => {
  const spec = readObject(compileFixture('sysctl'));
  using coll = Collection.load(spec);
  assert.equal(coll.btfWarning, undefined, 'the object BTF loaded');
  await withFreshCgroup((cg) => {
    coll.attach('sysctl_policy', { cgroup: cg });
    assert.deepEqual(queryCgroup(cg, 'CGROUP_SYSCTL').programIds, [coll.program('sysctl_policy').info().id]);
    const refused = shInCgroup(cg, WRITE_DOMAINNAME, ['--uts']);
    assert.match(refused.stdout, /status 1/);
    assert.match(refused.stderr, /PermissionError: \[Errno 1\] Operation not permitted/);
    assert.match(shInCgroup(cg, WRITE_HOSTNAME, ['--uts']).stdout, /status 0/);
    assert.deepEqual(coll.globals('.bss'), { refused_total: 1n, last_write: 1 });
    assert.deepEqual(coll.entries('stats'), [{ key: 0, value: { refused: 1n, allowed: 1n } }]);
    assert.deepEqual(coll.globals('.rodata'), { denied_name: 'kernel/domainname' });
  });
});

test('kernel: .rodata set before load changes what the program refuses; the map is frozen', gate, async () => {
  const spec = readObject(compileFixture('sysctl'));
  spec.setVariable('denied_name', 'kernel/hostname');
  using coll = Collection.load(spec);
  const rodata = coll.map(spec.maps.find((m) => m.section === '.rodata')!.name);
  assert.throws(() => rodata.set(0, Buffer.alloc(64)), /EPERM/);
  await withFreshCgroup((cg) => {
    coll.attach('sysctl_policy', { cgroup: cg });
    assert.match(shInCgroup(cg, WRITE_DOMAINNAME, ['--uts']).stdout, /status 0/);
    assert.match(shInCgroup(cg, WRITE_HOSTNAME, ['--uts']).stdout, /status 1/);
  });
});

test('kernel: the same object loaded by bpftool refuses exactly the same', { ...gate, ...(withBpftool.skip ? withBpftool : {}) }, async () => {
  const obj = compileFixture('sysctl');
  const results: Record<string, string[]> = {};
  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-elf-${process.pid}`;
  for (const loader of ['sysward', 'bpftool']) {
    await withFreshCgroup((cg) => {
      let coll: Collection | undefined;
      try {
        if (loader === 'sysward') {
          coll = Collection.load(readObject(obj));
          coll.attach('sysctl_policy', { cgroup: cg });
        } else {
          execFileSync('bpftool', ['prog', 'load', obj, pin, 'type', 'cgroup/sysctl'], { stdio: 'pipe' });
          execFileSync('bpftool', ['cgroup', 'attach', cg, 'sysctl', 'pinned', pin, 'multi'], { stdio: 'pipe' });
        }
        results[loader] = [WRITE_DOMAINNAME, WRITE_HOSTNAME, 'cat /proc/sys/kernel/domainname >/dev/null; echo "status $?"'].map((s) => {
          const r = shInCgroup(cg, s, ['--uts']);
          return `${r.stdout.trim()} ${r.stderr.trim().split('\n').at(-1)}`;
        });
      } finally {
        coll?.close();
        rmSync(pin, { force: true });
      }
    });
  }
  assert.deepEqual(results.sysward, results.bpftool);
  assert.match(results.sysward![0]!, /status 1 .*Operation not permitted/);
});

test('kernel: ring-buffer producer from an object, read by RingBufReader', gate, async () => {
  const spec = readObject(compileFixture('ringbuf'));
  using coll = Collection.load(spec);
  const reader = new RingBufReader(coll.ringBuf('events'));
  try {
    await withFreshCgroup((cg) => {
      coll.attach('sysctl_events', { cgroup: cg });
      // One read(2) from a process whose pid we learn: one record.
      const r = shInCgroup(cg, `exec ${PY} -c "import os; os.read(os.open('/proc/sys/kernel/hostname', os.O_RDONLY), 256); print(os.getpid())"`);
      const pid = Number(r.stdout.trim());
      const records: unknown[] = [];
      // struct event { u32 pid; u32 write; char name[32]; }
      reader.drain((rec) => records.push({ pid: rec.readUInt32LE(0), write: rec.readUInt32LE(4), name: rec.toString('latin1', 8, rec.indexOf(0, 8)) }));
      assert.deepEqual(records, [{ pid, write: 0, name: 'kernel/hostname' }]);
    });
  } finally { await reader.close(); }
});

test('kernel: pinned maps and programs outlive the collection', gate, () => {
  ensureBpffs();
  const dir = `/sys/fs/bpf/sysward-test-elf-pins-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  try {
    {
      using coll = Collection.load(readObject(compileFixture('sysctl')));
      coll.program('sysctl_policy').pin(join(dir, 'sysctl_policy'));
      coll.map('stats').pin(join(dir, 'stats'));
    }
    assert.ok(readFileSync(`/proc/self/mounts`, 'utf8').includes('bpf'));
    const out = execFileSync('bpftool', ['map', 'dump', 'pinned', join(dir, 'stats')], { encoding: 'utf8' });
    // bpftool shows the value with its BTF field names: the map carries the object's BTF.
    assert.match(out, /"refused": 0/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('kernel: a tracepoint program (tracepoint/sched/sched_process_exec) attached through a perf event counts execs', gate, () => {
  using coll = Collection.load(readObject(compileFixture('tracepoint')));
  const link = coll.attach('count_execs');
  for (let i = 0; i < 5; i++) execFileSync('/bin/true');
  const counted = (coll.globals('.bss') as { execs: bigint }).execs;
  link.close();
  for (let i = 0; i < 3; i++) execFileSync('/bin/true');
  const after = (coll.globals('.bss') as { execs: bigint }).execs;
  assert.ok(counted >= 5n, `counted ${counted} execs`);
  assert.equal(after, counted, 'detached: no more counts');
});
