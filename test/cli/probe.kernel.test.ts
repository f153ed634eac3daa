// The command line as a user runs it: bin/sysward probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { kernel } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });

test('kernel: sysward probe --json reports cgroup-sysctl programs, ring buffers and the cgroup v2 path', kernel(), () => {
  const r = sysward('probe', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.cgroup2.path, findCgroup2Mount());
  assert.equal(report.programTypes.CGROUP_SYSCTL.supported, true);
  assert.equal(report.mapTypes.RINGBUF.supported, true);
  assert.equal(report.sysctlHelpers.sysctl_get_name.supported, true);
  assert.equal(report.cgroupLink.supported, true);
  assert.equal(typeof report.sysctlSetNewValue.supported, 'boolean');
  assert.equal(report.guardSupported, true);
});

test('sysward: usage errors exit 2 with a hint, --help exits 0', () => {
  const bad = sysward('probe', '--frob');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option '--frob'; see `sysward probe --help`/);
  assert.equal(sysward('nosuch').status, 2);
  const help = sysward('probe', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: sysward probe/);
  assert.equal(sysward('--help').status, 0);
});

test('kernel: the set_new_value probe gives the same answer run in the background, and leaves no scratch cgroup', kernel(), async () => {
  const { clearOverrideProbeCache: clearProbeCache, probeSysctlSetNewValue, probeSysctlSetNewValueAsync } = await import('../../src/guard/runtime/override-probe.js');
  const { readdirSync } = await import('node:fs');
  const mount = findCgroup2Mount();
  clearProbeCache();
  const sync = probeSysctlSetNewValue(mount);
  clearProbeCache();
  const background = await probeSysctlSetNewValueAsync(mount);
  assert.deepEqual(background, sync);
  // Kernels from 6.0 have the fix (this machine kind runs 6.18): the helper replaces the written value.
  const { release } = await import('node:os');
  if (Number(release().split('.')[0]) >= 6) assert.equal(sync.supported, true, JSON.stringify(sync));
  assert.deepEqual(readdirSync(mount).filter((d) => d.startsWith('sysward-probe-')), []);
});
