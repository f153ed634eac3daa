// Guard names given on the command line are checked before they become paths: `guard rm ..` must
// not reach the other guards or other pins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { guardsDir } from '../../src/guard/runtime/status.js';
import { kernel } from '../helpers/env.js';
import { withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });

const tmp = mkdtempSync(join(tmpdir(), 'sysward-non-root-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('kernel: guard names that are paths (.., ../guards, ../../x) exit 2 and remove nothing', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const guard = `sw-test-names-${process.pid}`;
    // Another tool's pins, beside sysward's folder in bpffs.
    const foreign = `/sys/fs/bpf/sw-test-foreign-${process.pid}`;
    try {
      writeFileSync(join(tmp, 'g.yaml'), `name: ${guard}\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), abs)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
      const applied = sysward('guard', 'apply', '-f', join(tmp, 'g.yaml'));
      assert.equal(applied.status, 0, applied.stderr);
      mkdirSync(foreign);
      for (const args of [['guard', 'rm', '..'], ['guard', 'rm', '../guards'], ['guard', 'rm', `../../${foreign.split('/').pop()}`], ['guard', 'rm', `../guards/${guard}`],
        ['guard', 'ls', '../x'], ['events', '../../x'], ['events', '.']]) {
        const r = sysward(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /^sysward \w+: "[^"]+" is not a guard name: names are 1 to 63 lower-case letters, digits and "-", starting with a letter or digit \(as in a policy's name:\); list the guards with `sysward guard ls`\n$/, args.join(' '));
      }
      assert.ok(existsSync(join(guardsDir(), guard, 'prog')), 'the guard is still pinned');
      assert.ok(existsSync(foreign), 'the other tool\'s folder is still there');
      assert.equal(sysward('guard', 'ls', guard).status, 0);
    } finally {
      sysward('guard', 'rm', guard);
      if (existsSync(foreign)) rmdirSync(foreign);
    }
  });
});
