// The package's main module (package.json "main") is the toolkit on its own: what docs/toolkit.md
// and docs/elf-btf.md show is importable from it, and an object parses without root or clang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
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

test('the package exports map: users reach the toolkit by the package name, and nothing deeper', async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { name: string; main: string; exports: Record<string, string> };
  assert.equal(pkg.exports['.'], `./${pkg.main}`);
  // Resolve as a user's project would: a node_modules/sysward link beside a script.
  const dir = mkdtempSync(join(tmpdir(), 'sysward-exports-'));
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(repoRoot(), join(dir, 'node_modules', pkg.name));
    writeFileSync(join(dir, 'use.mjs'), `const m = await import('sysward');
console.log(typeof m.loadCollection, typeof m.BpfMap, typeof m.vm.loadVmCollection);
await import('sysward/dist/src/guard/runtime/apply.js').then(() => console.log('deep'), (e) => console.log(e.code));\n`);
    const r = spawnSync(process.execPath, [join(dir, 'use.mjs')], { encoding: 'utf8', cwd: dir });
    assert.equal(r.stdout, 'function function function\nERR_PACKAGE_PATH_NOT_EXPORTED\n', r.stderr);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
