#!/usr/bin/env node
// Runs every dist/test/**/*.test.js with node's test runner (Node 20 has no --test glob), one file
// at a time so kernel tests never share a cgroup or a sysctl. Extra arguments pass through
// (e.g. --test-name-pattern=kernel).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) files.push(p);
  }
})(root);
files.sort();
const extra = process.argv.slice(2);

// Tests change only what they own: as root, the guards pinned and the programs on the root cgroup
// after the run must be those before it (a test that empties a daemon's config directory, say,
// would have it apply the built-in default, which guards the whole host).
async function hostState() {
  if (process.getuid?.() !== 0) return undefined;
  let guards = [];
  try { guards = readdirSync('/sys/fs/bpf/sysward/guards'); } catch { /* none */ }
  let rootPrograms = [];
  try {
    const { queryCgroup } = await import('../dist/src/bpf/link.js');
    const { findCgroup2Mount } = await import('../dist/src/cgroup/hierarchy.js');
    rootPrograms = queryCgroup(findCgroup2Mount(), 'CGROUP_SYSCTL').programIds;
  } catch { /* no cgroup v2 or bpf(2) here: the kernel tests skip too */ }
  return { guards, rootPrograms };
}
const before = await hostState();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...extra, ...files], { stdio: 'inherit' });
const after = await hostState();
if (before && after) {
  const guards = after.guards.filter((g) => !before.guards.includes(g));
  const programs = after.rootPrograms.filter((p) => !before.rootPrograms.includes(p));
  if (guards.length || programs.length) {
    process.stderr.write(`run-tests: the tests left behind${guards.length ? ` guards ${guards.join(', ')} (remove each with \`bin/sysward guard rm NAME\`)` : ''}${programs.length ? `${guards.length ? ' and' : ''} programs ${programs.join(', ')} on the root cgroup` : ''}: a test changed what it did not own\n`);
    process.exit(1);
  }
}
process.exit(r.status ?? 1);
