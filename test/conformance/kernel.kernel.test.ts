// The 40 cgroup-sysctl selftest cases on the running kernel: fresh cgroup, load (the verifier),
// attach, then a child of the cgroup in private namespaces reads or writes the sysctl. One test per
// case, so a failure names the case. See docs/conformance.md.
import { test } from 'node:test';
import { kernel, needs, which } from '../helpers/env.js';
import { checkCase, runCase } from './engine.js';
import { KernelEngine } from './kernel-engine.js';
import { SYSCTL_CASES, caseName } from './sysctl-cases.js';

const engine = new KernelEngine();
const gate = (): { skip?: string } => {
  const k = kernel();
  if (k.skip) return k;
  return needs(which('python3') && which('unshare') ? false : 'kernel conformance: needs python3 and unshare (util-linux) for the child process');
};

for (const c of SYSCTL_CASES) {
  test(`${engine.name}: ${caseName(c)}`, gate(), async (t) => {
    const outcome = await runCase(engine, c);
    if ('report' in outcome) for (const note of outcome.report.notes) t.diagnostic(note);
    if (c.kernels) t.diagnostic(`kernel differences: ${c.kernels}`);
    checkCase(c, outcome);
  });
}
