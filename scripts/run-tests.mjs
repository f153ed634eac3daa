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
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...extra, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
