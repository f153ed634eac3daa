// Differential test: random policies and random accesses, compiled once, run on the kernel and in
// sysward's interpreter, and judged by the policy's reference semantics (src/guard/reference.ts).
// Any mismatch is shrunk by fast-check to a minimal policy and access and printed as a reproducer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decide } from '../../src/guard/reference.js';
import { specialRuleIds } from '../../src/guard/compiler/abi.js';
import type { Policy } from '../../src/guard/model.js';
import { policyToJson } from '../../src/guard/model-json.js';
import { kernel } from '../helpers/env.js';
import { accessArb, policyArb, type Access } from './differential/universe.js';
import { runOnKernel, type Observed } from './differential/kernel-engine.js';
import { VmGuard } from '../../src/guard/runtime/vm-guard.js';

const EPERM = 1;

/** What the reference expects to see for one access: errno class, event verdicts and rules. */
export function expected(policy: Policy, a: Access, current: string | null) {
  const d = decide(policy, { key: a.key, write: a.write, value: a.value, filePos: a.filePos, ...(current !== null ? { current } : {}) });
  const ruleIndex = d.rule?.index ?? specialRuleIds(policy.rules.length).DEFAULT;
  const events = d.verdict === 'allowed' ? [] : [`${d.verdict} ${ruleIndex} ${d.reason}`];
  return { refused: d.verdict === 'refused', events };
}

export function describeMismatch(policy: Policy, a: Access, o: Observed, what: string): string {
  return `${what}\npolicy: ${policyToJson(policy)}\naccess: ${JSON.stringify(a)}\ncurrent: ${JSON.stringify(o.current)}\nkernel: errno ${o.errno}, events ${JSON.stringify(o.events.map((e) => `${e.verdict} ${e.rule.index} ${e.reason}`))}`;
}

const RUNS = Number(process.env.SYSWARD_DIFF_RUNS ?? 100);
const ACCESSES = 80;

test(`kernel: differential: the compiled guard on the kernel and in the interpreter agrees with the reference semantics (${RUNS} policies × ${ACCESSES} accesses)`, kernel(), async () => {
  let checked = 0;
  await fc.assert(fc.asyncProperty(policyArb, fc.array(accessArb, { minLength: ACCESSES / 2, maxLength: ACCESSES }), async (policy, accesses) => {
    const observed = await runOnKernel(policy, accesses);
    const vm = new VmGuard(policy);
    accesses.forEach((a, i) => {
      const o = observed[i]!;
      const want = expected(policy, a, o.current);
      const got = o.events.map((e) => `${e.verdict} ${e.rule.index} ${e.reason}`);
      assert.equal(o.errno === EPERM, want.refused, describeMismatch(policy, a, o, `refused: kernel ${o.errno === EPERM}, reference ${want.refused}`));
      assert.deepEqual(got, want.events, describeMismatch(policy, a, o, 'events differ (kernel vs reference)'));
      const v = vm.run({ key: a.key, write: a.write, value: a.value, filePos: a.filePos, current: o.current });
      assert.equal(!v.allowed, want.refused, describeMismatch(policy, a, o, `refused: interpreter ${!v.allowed}, reference ${want.refused}`));
      assert.deepEqual(v.events.map((e) => `${e.verdict} ${e.rule.index} ${e.reason}`), got, describeMismatch(policy, a, o, 'events differ (interpreter vs kernel)'));
      checked++;
    });
  }), { numRuns: RUNS, seed: 20261125 });
  process.stdout.write(`# differential: ${checked} accesses checked\n`);
  assert.ok(checked >= RUNS * 10);
});
