// The daemon's hold on a guard's kernel objects (src/guard/runtime/held.ts): every pin layout.ts
// names is held, and put back after a removal in an order readers can rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { queryCgroup } from '../../src/bpf/link.js';
import { applyGuard, removeGuard } from '../../src/guard/runtime/apply.js';
import { HeldGuard } from '../../src/guard/runtime/held.js';
import { guardPins } from '../../src/guard/runtime/layout.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { kernel } from '../helpers/env.js';
import { privateBpffs, withFreshCgroup } from '../helpers/cgroup.js';

test('kernel: held: a guard\'s whole folder removed is pinned again from what the daemon holds: every pin, the program first, the metadata last', kernel(), async () => {
  const bpffs = privateBpffs();
  try {
    await withFreshCgroup(async (abs) => {
      const name = `sw-test-held-${process.pid}`;
      const r = applyGuard(parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`, 'held.yaml'), { bpffs: bpffs.dir });
      const pins = guardPins(name, bpffs.dir);
      try {
        const before = readdirSync(pins.dir).sort();
        // The follower too, when this kernel lets the guard read the writer's namespaces.
        assert.ok(before.includes('prog') && before.includes('meta') && before.some((f) => f.startsWith('link-')));
        if (r.followId !== undefined) assert.ok(before.includes('follow') && before.includes('bound') && before.includes('follow-link'));
        using held = HeldGuard.open(name, bpffs.dir);
        assert.ok(held.complete);
        rmSync(pins.dir, { recursive: true });
        assert.ok(held.unpinned);
        const restored = held.restorePins();
        assert.deepEqual(readdirSync(pins.dir).sort(), before, 'every pin put back');
        assert.equal(restored[0], 'prog', 'the program first');
        assert.equal(restored.at(-1), 'meta', 'the metadata last: a reader that finds it finds the program');
        assert.equal(restored.length, before.length);
        assert.ok(!held.unpinned);
        assert.deepEqual(queryCgroup(abs, 'CGROUP_SYSCTL').programIds, [r.programId], 'still attached: nothing was detached');
      } finally { removeGuard(name, bpffs.dir); }
    });
  } finally { bpffs.done(); }
});
