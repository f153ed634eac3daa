// The same 40 cgroup-sysctl cases in the in-process interpreter (src/bpf/vm/) with a simulated
// sysctl world (vm-engine.ts). No root needed. A case the interpreter cannot check is skipped with
// the reason in its name; a case it checks differently from the kernel says how in its name.
// See docs/conformance.md.
import { test } from 'node:test';
import { checkCase, runCase } from './engine.js';
import { VmEngine } from './vm-engine.js';
import { SYSCTL_CASES, caseName } from './sysctl-cases.js';

const engine = new VmEngine();

for (const c of SYSCTL_CASES) {
  const cannot = engine.cannotCheck(c);
  if (cannot !== undefined) {
    test(`${engine.name}: ${caseName(c)} (skipped: ${cannot})`, { skip: cannot }, () => {});
    continue;
  }
  const differently = engine.checksDifferently(c);
  test(`${engine.name}: ${caseName(c)}${differently ? ` (${differently})` : ''}`, async (t) => {
    const outcome = await runCase(engine, c);
    if (outcome.kind === 'load-rejected') t.diagnostic(`refused at ${outcome.stage}: ${outcome.reason}`);
    checkCase(c, outcome);
  });
}
