// The package's main module (package.json "main") is the toolkit on its own: what docs/toolkit.md
// and docs/elf-btf.md show is importable from it, and an object parses without root or clang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

test('package main exports the toolkit, the ELF/BTF loader and the interpreter', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { main: string };
  const m = await import(join(repoRoot(), pkg.main)) as Record<string, unknown>;
  for (const name of ['BpfMap', 'Program', 'attachCgroup', 'RingBufReader', 'asm', 'features', 'readObject', 'parseObject', 'Collection', 'ElfError', 'Btf', 'decodeValue', 'readMapDecoded', 'dumpXlated', 'vm']) {
    assert.ok(m[name] !== undefined, `${name} is exported`);
  }
  const spec = (m.readObject as (p: string) => { programs: { name: string; type: string }[] })(join(repoRoot(), 'test', 'fixtures', 'elf', 'valid', 'sysctl.bpf.o'));
  assert.deepEqual(spec.programs.map((p) => [p.name, p.type]), [['sysctl_policy', 'CGROUP_SYSCTL']]);
  assert.equal(typeof (m.vm as Record<string, unknown>).runProgram, 'function');
});
