// What a policy does with one access, decided by running the compiled program in the interpreter
// (no root, no BPF), checked against the policy's reference semantics.
import { readFileSync } from 'node:fs';
import type { Policy, Rule } from './model.js';
import { decide } from './reference.js';
import { VmGuard } from './runtime/vm-guard.js';
import type { NsKind } from './compiler/task-layout.js';
import type { GuardEvent } from './runtime/events.js';
import { dottedName, kernelName, parseSysctlName } from '../sysctl/names.js';

export interface ExplainAccess {
  /** As the user wrote it: kernel.core_pattern or kernel/core_pattern. */
  name: string;
  /** A write of this value; undefined: a read. */
  value?: string;
  filePos?: number;
  /** The current value; undefined: read it from this host's /proc/sys (null when that fails). */
  current?: string | null;
  /** The writer's namespaces: the host's or its own (default: its own, as a container's). */
  namespaces?: Partial<Record<NsKind, 'host' | 'own'>>;
}

export interface Explanation {
  key: string;
  access: 'read' | 'write';
  value: string | null;
  verdict: 'allowed' | 'refused' | 'audited' | 'would-refuse';
  reason: string;
  /** The deciding rule, or the policy's default. */
  rule: { index: number | null; key: string; action: string; source?: string; reason?: string };
  /** The value the kernel would store instead (override). */
  stored?: string;
  events: GuardEvent[];
  /** Instructions the program ran. */
  instructions: number;
  /** Where the interpreter and the reference semantics disagree (a sysward bug: please report it). */
  disagreement?: string;
}

const describeRule = (policy: Policy, r: Rule | undefined, write: boolean) =>
  r ? { index: r.index, key: r.key.text, action: write ? r.action : r.reads, ...(r.source ? { source: `${r.source.file}:${r.source.line}:${r.source.column}` } : {}), ...(r.reason ? { reason: r.reason } : {}) }
    : { index: null, key: 'default', action: write ? policy.defaults.write : policy.defaults.read };

export function explain(policy: Policy, a: ExplainAccess, guard = new VmGuard(policy)): Explanation {
  const segments = parseSysctlName(a.name);
  const key = kernelName(segments);
  let current = a.current;
  if (current === undefined) { try { current = readFileSync(`/proc/sys/${key}`, 'latin1'); } catch { current = null; } }
  const write = a.value !== undefined;
  const ns = a.namespaces ? { namespaces: a.namespaces } : {};
  const out = guard.run({ key, write, ...(write ? { value: a.value! } : {}), filePos: a.filePos ?? 0, current, ...ns });
  const ref = decide(policy, { key, write, ...(write ? { value: a.value! } : {}), filePos: a.filePos ?? 0, ...(current !== null ? { current } : {}), ...ns });
  const ev = out.events.find((e) => e.reason !== 'override') ?? out.events[0];
  const verdict = ev ? ev.verdict : out.allowed ? 'allowed' : 'refused';
  const rule = ev ? policy.rules[ev.rule.index] : ref.rule;
  const x: Explanation = {
    key: dottedName(segments), access: write ? 'write' : 'read', value: write ? a.value! : null,
    verdict, reason: ev?.reason ?? ref.reason, rule: describeRule(policy, rule, write),
    ...(out.stored !== undefined ? { stored: out.stored } : {}), events: out.events, instructions: out.instructions,
  };
  const refRefused = ref.verdict === 'refused';
  if (refRefused === out.allowed || (ev && ev.verdict !== ref.verdict && ref.verdict !== 'allowed')) {
    x.disagreement = `the reference semantics say ${ref.verdict} (${ref.reason}, rule ${ref.rule?.key.text ?? 'default'})`;
  }
  return x;
}
