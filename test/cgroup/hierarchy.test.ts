import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCgroup2Mount, isHybrid, NoCgroupV2Error } from '../../src/cgroup/hierarchy.js';

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
