// bin/sysward starts the bundle from V8 code caches on Node.js 20 (scripts/bundle.mjs makes them):
// each must be one V8 takes, else every command silently compiles everything again; and one made
// for another build of its file must not be used (V8 itself checks little more than the length).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { repoRoot } from '../helpers/paths.js';

const root = repoRoot();
const bundle = join(root, 'dist', 'bundle');
const nodeCaches = typeof (createRequire(import.meta.url)('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function';
const skip = nodeCaches ? 'Node.js caches compiled code itself here (22.1+): bin/sysward makes no cache of its own' : false;

const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
  .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.cjs') ? [join(dir, e.name)] : []));

test('every bundle file has a code cache made from this build, and V8 takes it', { skip }, () => {
  const all = files(bundle);
  assert.ok(all.some((f) => f.endsWith('policy.cjs')) && all.some((f) => f.endsWith('main.cjs')), all.join(', '));
  for (const file of all) {
    const source = readFileSync(file, 'utf8');
    const cache = readFileSync(`${file}.v8`);
    const n = cache.readUInt32LE(0);
    assert.equal(cache.toString('latin1', 4, 4 + n), source.slice(0, source.indexOf('\n') + 1), `${file}: the cache names another build`);
    assert.match(source.slice(0, n), /^\/\* sysward build [0-9a-f-]{36} \*\//, file);
    const at = (4 + n + 7) & ~7;
    assert.equal((cache.byteOffset + at) % 8, 0, `${file}: V8 would copy data that is not 8-byte aligned`);
    const script = new Script(source, { filename: file, cachedData: cache.subarray(at) });
    assert.equal(script.cachedDataRejected, false, `${file}: V8 refused its cache`);
  }
});

test('a cache made for another build of its file is not used: the command runs from the source', { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sysward-code-cache-'));
  try {
    cpSync(join(root, 'package.json'), join(tmp, 'package.json'));
    cpSync(join(root, 'bin'), join(tmp, 'bin'), { recursive: true, preserveTimestamps: true });
    cpSync(bundle, join(tmp, 'dist', 'bundle'), { recursive: true, preserveTimestamps: true });
    symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'));
    const argv = ['explain', '-f', join(root, 'src', 'guard', 'profiles', 'container-host.yaml'), 'kernel.core_pattern=|/tmp/x'];
    const want = spawnSync(process.execPath, [join(root, 'bin', 'sysward'), ...argv], { encoding: 'utf8' });
    assert.equal(want.status, 1, want.stderr);
    // Another build of explain.cjs, the same length: another build id, and a body V8 would run
    // wrongly from the old cache (the verdict's word changed).
    const file = join(tmp, 'dist', 'bundle', 'commands', 'explain.cjs');
    const source = readFileSync(file, 'utf8');
    const other = source.replace(/^\/\* sysward build [0-9a-f-]{36}/, `/* sysward build ${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`).replace('.verdict.toUpperCase()', '.verdict.toLowerCase()');
    assert.equal(other.length, source.length);
    assert.notEqual(other, source);
    writeFileSync(file, other);
    const r = spawnSync(process.execPath, [join(tmp, 'bin', 'sysward'), ...argv], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, want.stdout.replace(': REFUSED', ': refused'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
