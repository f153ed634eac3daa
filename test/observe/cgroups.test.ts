// The cgroup tree against the kernel's own answers: bpftool cgroup tree for the attached programs,
// cgroup.procs for processes, the pressure files; and what a non-root user gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Assembler, R0 } from '../../src/bpf/asm/index.js';
import { Program } from '../../src/bpf/prog.js';
import { attachCgroup, detachCgroup, openCgroup } from '../../src/bpf/link.js';
import { AttachFlag, AttachType, progAttach } from '../../src/bpf/sys/index.js';
import { findCgroup2Mount, moveToCgroup } from '../../src/cgroup/hierarchy.js';
import { CGROUP_ATTACH_TYPES, cgroupTree, filterTree, v1Hierarchies } from '../../src/observe/cgroups.js';
import { parsePressure } from '../../src/observe/psi.js';
import { withFreshCgroup } from '../helpers/cgroup.js';
import { IS_ROOT, kernel, needs, which } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const CONTAINER = `docker-${'ab12'.repeat(16)}.scope`;

test('v1 hierarchies of a hybrid host, from the mount table', () => {
  const mounts = 'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\ncgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,xattr,name=systemd 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n';
  assert.deepEqual(v1Hierarchies(mounts), [{ mountPoint: '/sys/fs/cgroup/cpu', controllers: ['cpu'] }, { mountPoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] }]);
  assert.ok(CGROUP_ATTACH_TYPES.includes('CGROUP_SYSCTL') && CGROUP_ATTACH_TYPES.includes('CGROUP_INET_INGRESS'));
  assert.equal(CGROUP_ATTACH_TYPES.indexOf('CGROUP_INET_INGRESS'), 0);
});

const returnOne = () => new Assembler().mov(R0, 1).exit().assemble();

interface BpftoolCgroup { cgroup: string; programs: { id: number; attach_type: string; attach_flags: string; name: string }[] }

test('kernel: programs per cgroup match bpftool cgroup tree; processes, pressure and containers match the kernel\'s files', { ...kernel(), ...needs(which('bpftool') ? false : 'needs bpftool (apt-get install bpftool)') }, async () => {
  await withFreshCgroup(async (top) => {
    const mount = findCgroup2Mount();
    const a = join(top, 'a'), b = join(top, 'b'), c = join(b, 'c'), ctr = join(top, CONTAINER);
    for (const d of [a, b, c, ctr]) mkdirSync(d);
    chmodSync(top, 0o755); // as cgroups normally are (mkdtemp made it 0700): a non-root user may look
    using sysctlProg = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: 'sw_obs_multi', instructions: returnOne() });
    using overrideProg = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: 'sw_obs_override', instructions: returnOne() });
    using deviceProg = Program.load({ type: 'CGROUP_DEVICE', expectedAttachType: 'CGROUP_DEVICE', name: 'sw_obs_excl', instructions: returnOne() });
    using link = attachCgroup({ cgroup: a, program: sysctlProg, attachType: 'CGROUP_SYSCTL' }); // a bpf_link: "multi"
    const fdB = openCgroup(b), fdC = openCgroup(c);
    progAttach(fdB, deviceProg.handle, AttachType.CGROUP_DEVICE, 0);                          // exclusive: ""
    progAttach(fdC, overrideProg.handle, AttachType.CGROUP_SYSCTL, AttachFlag.F_ALLOW_OVERRIDE); // "override"
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      moveToCgroup(a, sleeper.pid!);
      const owners = new Map([[sysctlProg.info().id, 'test-guard']]);
      const tree = cgroupTree(mount, { start: `/${relative(mount, top)}`, owners });
      assert.equal(tree.programsUnavailable, null);
      const byPath = new Map(tree.cgroups.map((n) => [join(mount, n.path), n]));

      // Programs: exactly what bpftool lists, in its order.
      const bt = JSON.parse(execBpftool(top)) as BpftoolCgroup[];
      const theirs = Object.fromEntries(bt.map((x) => [x.cgroup, x.programs.map((p) => ({ id: p.id, attachType: p.attach_type, attachFlags: p.attach_flags, name: p.name }))]));
      const ours = Object.fromEntries(tree.cgroups.filter((n) => n.programs!.length).map((n) => [join(mount, n.path), n.programs!.map((p) => ({ id: p.id, attachType: p.attachType, attachFlags: p.attachFlags, name: p.name }))]));
      assert.deepEqual(ours, theirs);
      assert.deepEqual(ours[a]!.map((p) => p.attachFlags), ['multi']);
      assert.deepEqual(ours[b]!.map((p) => [p.attachType, p.attachFlags]), [['cgroup_device', '']]);
      assert.deepEqual(ours[c]!.map((p) => p.attachFlags), ['override']);
      assert.equal(byPath.get(a)!.programs![0]!.guard, 'test-guard');
      assert.equal(byPath.get(a)!.programs![0]!.type, 'cgroup_sysctl');

      // Processes, controllers, pressure, container id: the kernel's files.
      const na = byPath.get(a)!;
      assert.equal(na.processes, readFileSync(join(a, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length);
      assert.equal(na.processes, 1);
      assert.equal(byPath.get(top)!.populated, true);
      assert.equal(byPath.get(b)!.populated, false);
      assert.deepEqual(na.controllers, readFileSync(join(a, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean));
      for (const r of ['cpu', 'memory', 'io'] as const) {
        const file = parsePressure(readFileSync(join(a, `${r}.pressure`), 'utf8'));
        assert.equal(na.pressure[r]!.some!.avg300, file.some!.avg300, r); // a fresh, idle cgroup: still 0
      }
      assert.deepEqual(byPath.get(ctr)!.container, { runtime: 'docker', id: 'ab12'.repeat(16) });
      assert.equal(byPath.get(c)!.depth, 2);

      // Filters and depth.
      assert.deepEqual(filterTree(tree.cgroups, { bpf: true }).map((x) => [relative(top, join(mount, x.node.path)), x.context]), [['', true], ['a', false], ['b', false], ['b/c', false]]);
      assert.deepEqual(filterTree(tree.cgroups, { containers: true }).map((x) => relative(top, join(mount, x.node.path))), ['', CONTAINER]);
      assert.equal(cgroupTree(mount, { start: `/${relative(mount, top)}`, depth: 1 }).cgroups.length, 4);

      // The command line: the same, as JSON, and a readable tree.
      const j = spawnSync(bin, ['cgroups', `/${relative(mount, top)}`, '--json'], { encoding: 'utf8' });
      assert.equal(j.status, 0, j.stderr);
      const parsed = JSON.parse(j.stdout) as { cgroups: { path: string; programs: { id: number }[] }[] };
      assert.deepEqual(parsed.cgroups.map((n) => n.programs.length), tree.cgroups.map((n) => n.programs!.length));
      const h = spawnSync(bin, ['cgroups', `/${relative(mount, top)}`, '--bpf'], { encoding: 'utf8' });
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, /cgroup_sysctl multi id \d+ sw_obs_multi \(cgroup_sysctl\)/);
      assert.match(h.stdout, /cgroup_device - id \d+ sw_obs_excl/);
      assert.doesNotMatch(h.stdout, new RegExp(CONTAINER));

      // A non-root user: everything but the programs, and a note why.
      if (IS_ROOT && which('setpriv')) {
        const nr = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, bin, 'cgroups', `/${relative(mount, top)}`, '--json'], { encoding: 'utf8' });
        assert.equal(nr.status, 0, nr.stderr);
        assert.match(nr.stderr, /programs not listed: .*needs root/);
        const t = JSON.parse(nr.stdout) as { programsUnavailable: string; cgroups: { path: string; processes: number; programs: null }[] };
        assert.ok(t.cgroups.every((n) => n.programs === null));
        assert.equal(t.cgroups.length, tree.cgroups.length);
        assert.equal(t.cgroups.find((n) => n.path.endsWith('/a'))!.processes, 1);
      }
    } finally {
      sleeper.kill('SIGKILL');
      link.detach();
      detachCgroup(b, deviceProg, 'CGROUP_DEVICE');
      detachCgroup(c, overrideProg, 'CGROUP_SYSCTL');
      fdB.close(); fdC.close();
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

function execBpftool(path: string): string {
  const r = spawnSync('bpftool', ['-j', 'cgroup', 'tree', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
