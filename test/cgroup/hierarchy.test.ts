import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount, isHybrid, nearCgroup, NoCgroupV2Error } from '../../src/cgroup/hierarchy.js';

const unified = 'sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n';
const hybrid = 'tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n';
const legacy = 'tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n';

test('the cgroup v2 mount is found on unified and hybrid hosts', () => {
  assert.equal(findCgroup2Mount(unified), '/sys/fs/cgroup');
  assert.equal(isHybrid(unified), false);
  assert.equal(findCgroup2Mount(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(isHybrid(hybrid), true);
  assert.equal(findCgroup2Mount('cgroup2 /mnt/cg2 cgroup2 rw 0 0\n'), '/mnt/cg2');
});

test('a host without cgroup v2 gets an error that says how to get one', () => {
  assert.throws(() => findCgroup2Mount(legacy), (e: unknown) => e instanceof NoCgroupV2Error && /mount -t cgroup2/.test(e.message));
});

test('a scope path one typo away from a cgroup that exists is matched to it; nothing is guessed otherwise', () => {
  const mount = mkdtempSync(join(tmpdir(), 'sysward-near-'));
  try {
    for (const d of ['system.slice/nginx.service', 'system.slice/sshd.service', 'kubepods.slice/burstable/pod1']) mkdirSync(join(mount, d), { recursive: true });
    assert.equal(nearCgroup(mount, '/system.slice/ngnix.service'), '/system.slice/nginx.service');
    assert.equal(nearCgroup(mount, '/sytem.slice/nginx.service'), '/system.slice/nginx.service');
    assert.equal(nearCgroup(mount, 'kubepods.slice/burstabel/pod1'), '/kubepods.slice/burstable/pod1');
    // Too far from anything, or the corrected path does not exist either: no guess.
    assert.equal(nearCgroup(mount, '/system.slice/postgresql.service'), undefined);
    assert.equal(nearCgroup(mount, '/sytem.slice/nginx.service/child'), undefined);
    assert.equal(nearCgroup(mount, '/system.slice/nginx.service'), undefined);
    // Beside a node's worth of pods, nothing is compared (each comparison is an edit distance).
    for (let i = 0; i < 1001; i++) mkdirSync(join(mount, 'kubepods.slice', `pod-${i}`));
    assert.equal(nearCgroup(mount, '/kubepods.slice/burstabel/pod1'), undefined);
  } finally { rmSync(mount, { recursive: true, force: true }); }
});
