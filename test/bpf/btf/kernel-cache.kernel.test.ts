// The running kernel's BTF read through its per-boot cache (Btf.loadKernel) answers every lookup
// as the BTF parsed from sysfs does: the cache holds a copy and an index, never other answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { essentialName } from '../../../src/bpf/btf/core.js';
import { gates, kernel, needs } from '../../helpers/env.js';

const withVmlinux = needs(existsSync(VMLINUX_PATH) ? false : `needs ${VMLINUX_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)`);

test('kernel: the cached kernel BTF finds the same types by name and prefix as the BTF read from sysfs', gates(kernel(), withVmlinux), () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'sysward-btf-cache-')), 'btf');
  try {
    const plain = Btf.parse(readFileSync(VMLINUX_PATH), VMLINUX_PATH);
    const first = Btf.loadKernel(dir); // reads sysfs, writes the cache
    const [file] = readdirSync(dir);
    assert.ok(file?.startsWith('vmlinux-'), 'the cache file is written');
    assert.equal(statSync(join(dir, file!)).mode & 0o077, 0, 'root-only');
    const cached = Btf.loadKernel(dir);
    assert.deepEqual([first.indexed, cached.indexed], [false, true]);
    assert.equal(cached.typeCount, plain.typeCount);
    const names = ['task_struct', 'bpf_iter_task', 'btf_trace_sched_switch', 'int', 'u32', 'bpf_lsm_file_open', 'trace_event_raw_sys_enter', 'no_such_type_sysward', 'bpf_map_ops'];
    for (const n of names) {
      assert.deepEqual(cached.idsByName(n), plain.idsByName(n), n);
      assert.deepEqual(first.idsByName(n), plain.idsByName(n), n);
      assert.deepEqual(cached.idsByName(n, 'STRUCT'), plain.idsByName(n, 'STRUCT'), `${n} STRUCT`);
    }
    for (const prefix of ['task_', 'bpf_iter_', 'trace_event_raw_sys_e', 'zzz_sysward']) {
      const want = plain.types.filter((t) => t.id && t.name.startsWith(prefix)).map((t) => t.id);
      assert.deepEqual(cached.idsWithNamePrefix(prefix), want, prefix);
      assert.deepEqual(first.idsWithNamePrefix(prefix), want, prefix);
    }
    assert.ok(cached.idsWithNamePrefix('task_').length > 10, 'prefixes that match many names');
    // Types themselves, anywhere in the id range.
    for (const id of [1, 2, Math.floor(plain.typeCount / 2), plain.typeCount - 1]) assert.deepEqual(cached.type(id), plain.type(id));
    const ts = plain.typeByName('task_struct', 'STRUCT');
    assert.deepEqual(cached.type(ts.id).members, ts.members);
    assert.equal(essentialName('task_struct___v2'), 'task_struct');
  } finally { rmSync(dir, { recursive: true, force: true }); rmSync(join(dir, '..'), { recursive: true, force: true }); }
});
