// CO-RE enum values and type matches in a loaded program: sysward and bpftool load the same
// object, test-run it, and must leave the same bytes in .bss; the values are the kernel's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile } from '../../../src/bpf/elf/elf.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { CoreReloKind } from '../../../src/bpf/btf/ext.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { gates, kernel } from '../../helpers/env.js';
import { compileFixture, withClang } from './compile.js';
import { bpftoolEnumValue, uapiEnumValues, withBpftool, withGcc } from '../btf/oracle.js';

const gate = gates(kernel(), withClang, withBpftool, withGcc);

/**
 * clang 14 cannot emit TYPE_MATCHES (LLVM 15 added it), so core_enum.bpf.c asks for TYPE_EXISTS
 * there; turn those .BTF.ext records into the TYPE_MATCHES records a newer clang writes. The
 * fixture has no other TYPE_EXISTS. Returns the path of the object both loaders get.
 */
function withTypeMatches(object: string, dir: string): string {
  const bytes = Buffer.from(readFileSync(object));
  const ext = ElfFile.parse(bytes, object).section('.BTF.ext')!;
  const hdrLen = bytes.readUInt32LE(ext.offset + 4);
  let o = ext.offset + hdrLen + bytes.readUInt32LE(ext.offset + 24);
  const end = o + bytes.readUInt32LE(ext.offset + 28);
  const recSize = bytes.readUInt32LE(o);
  for (o += 4; o < end;) {
    const n = bytes.readUInt32LE(o + 4);
    o += 8;
    for (let i = 0; i < n; i++, o += recSize) {
      if (bytes.readUInt32LE(o + 12) === CoreReloKind.TYPE_EXISTS) bytes.writeUInt32LE(CoreReloKind.TYPE_MATCHES, o + 12);
    }
  }
  const out = join(dir, 'core_enum.bpf.o');
  writeFileSync(out, bytes);
  return out;
}

test('kernel: CO-RE enum values and type matches in an XDP program: the kernel\'s values, the same bytes as under bpftool', gate, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-core-enum-'));
  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-core-enum-${process.pid}`;
  try {
    const object = withTypeMatches(compileFixture('core_enum'), dir);
    const spec = readObject(object);
    assert.equal(spec.programs[0]!.coreRelos.filter((r) => r.kind === CoreReloKind.TYPE_MATCHES).length, 13);

    // sysward
    let ours: Buffer;
    let globals: Record<string, unknown>;
    {
      using coll = Collection.load(spec);
      assert.equal(coll.program('core_enum').testRun().retval, 2, 'XDP_PASS');
      ours = Buffer.from(coll.map(spec.maps.find((m) => m.section === '.bss')!.name).get(0 as unknown)!);
      globals = coll.globals('.bss');
    }

    // bpftool (libbpf) with the same object
    execFileSync('bpftool', ['prog', 'load', object, pin], { stdio: 'pipe' });
    const input = join(dir, 'packet');
    writeFileSync(input, Buffer.alloc(64));
    const run = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'run', 'pinned', pin, 'data_in', input], { encoding: 'utf8' }));
    assert.equal(run.retval, 2);
    const [mapId] = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', pin], { encoding: 'utf8' })).map_ids as number[];
    const [entry] = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(mapId)], { encoding: 'utf8' }));
    const theirs = Buffer.from((entry.value as string[]).map((h) => parseInt(h, 16)));
    assert.equal(ours.toString('hex'), theirs.toString('hex'), 'the .bss bytes sysward and bpftool leave');

    const uapi = uapiEnumValues(['BPF_FUNC_ktime_get_ns', 'BPF_FUNC_get_current_task', 'PERF_CONTEXT_USER']);
    assert.deepEqual(globals.results, {
      ktime_get_ns_id: uapi.get('BPF_FUNC_ktime_get_ns'),
      get_current_task_id: uapi.get('BPF_FUNC_get_current_task'),
      perf_context_user: uapi.get('PERF_CONTEXT_USER'),
      perf_event_state_dead: bpftoolEnumValue('perf_event_state', 'PERF_EVENT_STATE_DEAD'),
      no_such_helper_id: 4242n, // the guarded read of a missing enumerator was dead code
      ktime_get_ns_exists: 1,
      no_such_helper_exists: 0,
      task_matches: 1,
      task_long_pid_matches: 0,
      task_no_field_matches: 0,
      list_head_matches: 1,
      file_operations_matches: 1,
      file_operations_few_args_matches: 0,
      in6_addr_matches: 1,
      in6_addr_short_matches: 0,
      map_type_matches: 1,
      func_id_matches: 0,
      perf_callchain_context_matches: 0,
      u32_matches: 1,
      u32_signed_matches: 0,
    });
  } finally {
    rmSync(pin, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
