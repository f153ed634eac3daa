// Every bad policy of the corpus, given to `guard apply` of a guard that is in force: exit 2, the
// precise error, and the guard untouched (same program, still refusing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { main } from '../../src/cli/main.js';
import { captureOutput } from '../../src/cli/output.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { queryCgroup } from '../../src/bpf/link.js';
import { repoRoot } from '../helpers/paths.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

/** Run the CLI in-process, capturing stderr. */
async function cli(...argv: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const err = process.stderr.write.bind(process.stderr);
  captureOutput(() => {});
  process.stderr.write = ((s: string) => { stderr += s; return true; }) as typeof process.stderr.write;
  try { return { status: await main(argv), stderr }; } finally { captureOutput(undefined); process.stderr.write = err; }
}

test('kernel: each bad policy of the corpus is refused with its error, and the guard in force stays', kernel(), async () => {
  const dir = join(repoRoot(), 'test/fixtures/policies/bad');
  const tmp = mkdtempSync(join(tmpdir(), 'sysward-bad-'));
  const guard = `sw-test-bad-${process.pid}`;
  await withFreshCgroup(async (abs) => {
    const cg = `/${relative(findCgroup2Mount(), abs)}`;
    const good = join(tmp, 'good.yaml');
    writeFileSync(good, `name: ${guard}\ndefault: allow\nscope: { cgroups: [${cg}] }\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    try {
      assert.equal((await cli('guard', 'apply', '-f', good)).status, 0);
      const before = queryCgroup(abs, 'CGROUP_SYSCTL').programIds;
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      assert.ok(files.length >= 30, `${files.length} bad policies`);
      for (const f of files) {
        const expected = readFileSync(join(dir, f.replace(/\.yaml$/, '.expected')), 'utf8').trim().split('\n');
        // Each is applied under the guard's name (unless the name is what is wrong with it), so a
        // policy that got through would replace the guard in force.
        const original = readFileSync(join(dir, f), 'utf8');
        const text = expected.some((l) => /\bname\b/.test(l)) ? original : original.replace(/^name: .*$/m, `name: ${guard}`);
        const path = join(tmp, f);
        writeFileSync(path, text);
        const r = await cli('guard', 'apply', '-f', path);
        assert.equal(r.status, 2, `${f}: exit status`);
        // The same problems at the same places as the parser's own test expects.
        const got = r.stderr.replace(/^sysward guard: /, '').trim().split('\n').map((l) => l.replace(`${path}:`, `${f}:`));
        assert.deepEqual(got.map((l) => l.split(': ')[0]), expected.map((l) => l.split(': ')[0].replace(/^.*\//, '')), `${f}: ${r.stderr}`);
        assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, before, `${f}: the guard in force changed`);
      }
      assert.match(shInCgroup(abs, '/bin/echo x 2>&1 > /proc/sys/kernel/hostname', ['--uts']).stdout, /Operation not permitted/);
    } finally {
      await cli('guard', 'rm', guard);
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
