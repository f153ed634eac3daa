// Events queued before a re-apply name the rules of the version that produced them (each event
// carries its generation; the pinned metadata remembers recent versions), for `sysward events`
// as for the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyGuard, listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));

test('kernel: events queued before a re-apply are named by the policy version that refused them', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const guard = `sw-test-gen-${process.pid}`;
    const cg = `/${relative(findCgroup2Mount(), abs)}`;
    const policy = (keys: string[]) => parsePolicy(`name: ${guard}\ndefault: allow\nscope: { cgroups: [${cg}] }\nrules:\n${keys.map((k) => `  - key: ${k}\n    action: deny\n`).join('')}`, 'p.yaml');
    const refuse = (key: string) => shInCgroup(abs, `echo x > /proc/sys/kernel/${key}`, ['--uts']);
    try {
      applyGuard(policy(['kernel.hostname']));
      refuse('hostname');
      // Rule 0 now means another key; three more versions, so the first is 3 re-applies back.
      applyGuard(policy(['kernel.domainname', 'kernel.hostname']));
      refuse('hostname');
      applyGuard(policy(['vm.swappiness', 'kernel.domainname', 'kernel.hostname']));
      applyGuard(policy(['vm.overcommit_memory', 'vm.swappiness', 'kernel.domainname', 'kernel.hostname']));
      const r = spawnSync(bin, ['events', '--json', guard], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; rule: { index: number; key: string } });
      assert.deepEqual(events.map((e) => [e.key, e.rule.index, e.rule.key]), [['kernel.hostname', 0, 'kernel.hostname'], ['kernel.hostname', 1, 'kernel.hostname']]);
    } finally {
      if (listGuards().includes(guard)) removeGuard(guard);
    }
  });
});
