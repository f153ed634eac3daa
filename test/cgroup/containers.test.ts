import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCgroup } from '../../src/cgroup/containers.js';

const id = 'a'.repeat(64);

test('container cgroups are recognised by the names each runtime gives them', () => {
  const cases: [string, string | undefined][] = [
    [`/system.slice/docker-${id}.scope`, 'docker'],
    [`/docker/${id}`, 'docker'],
    [`/system.slice/containerd.service/cri-containerd-${id}.scope`, 'containerd'],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/cri-containerd-${id}.scope`, 'kubernetes'],
    [`/kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666/${id}`, 'kubernetes'],
    [`/kubepods.slice/kubepods-pod99.slice/crio-${id}.scope`, 'kubernetes'],
    [`/machine.slice/libpod-${id}.scope`, 'podman'],
    ['/machine.slice/systemd-nspawn@web.service', 'nspawn'],
    ['/lxc.payload.web', 'lxc'],
    // The runtimes' own helpers and ordinary services are not containers.
    [`/machine.slice/libpod-conmon-${id}.scope`, undefined],
    [`/system.slice/crio-conmon-${id}.scope`, undefined],
    ['/system.slice/docker.service', undefined],
    ['/user.slice/user-1000.slice', undefined],
  ];
  for (const [path, runtime] of cases) assert.equal(classifyCgroup(path)?.runtime, runtime, path);
  assert.equal(classifyCgroup(`/system.slice/docker-${id}.scope`)?.id, id);
});
