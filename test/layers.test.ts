// Imports point down (docs/design.md): cli → daemon, guard, observe → sysctl, cgroup → bpf → util.
// Checked on the TypeScript sources, so a new upward import fails here, not in review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { repoRoot } from './helpers/paths.js';

/** What each top-level folder of src/ may import besides itself. */
const MAY_IMPORT: Record<string, string[]> = {
  util: [],
  bpf: ['util'],
  cgroup: ['bpf', 'util'],
  sysctl: ['bpf', 'util', 'cgroup'],
  guard: ['sysctl', 'cgroup', 'bpf', 'util', 'package-root.ts'],
  observe: ['sysctl', 'cgroup', 'bpf', 'util'],
  daemon: ['guard', 'observe', 'sysctl', 'cgroup', 'bpf', 'util', 'package-root.ts'],
  cli: ['daemon', 'guard', 'observe', 'sysctl', 'cgroup', 'bpf', 'util', 'package-root.ts'],
};

test('imports point down: no layer of src/ imports one above it', () => {
  const src = join(repoRoot(), 'src');
  const bad: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      if (!e.name.endsWith('.ts')) continue;
      const from = relative(src, p).split('/')[0]!;
      if (!(from in MAY_IMPORT)) continue;
      for (const m of readFileSync(p, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
        const spec = m[1] ?? m[2]!;
        const to = relative(src, resolve(dirname(p), spec)).split('/')[0]!.replace(/\.js$/, '.ts');
        if (to !== from && !MAY_IMPORT[from]!.includes(to)) bad.push(`${relative(src, p)} imports ${spec} (${from} → ${to})`);
      }
    }
  };
  walk(src);
  assert.deepEqual(bad, []);
});
