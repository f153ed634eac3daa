// Policy unit tests (`sysward test FILE`): a policy or profile and cases with the verdicts they
// must get, run in the interpreter (no root). The format is documented in docs/policy.md.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import type { Policy } from './model.js';
import { explain, type Explanation } from './explain.js';
import { VmGuard } from './runtime/vm-guard.js';
import { NS_KINDS, type NsKind } from './compiler/task-layout.js';

const VERDICTS = ['allowed', 'refused', 'audited', 'would-refuse'] as const;
type ExpectedVerdict = (typeof VERDICTS)[number];

export interface PolicyTestCase {
  /** 1-based position in the file. */
  n: number;
  line: number;
  name: string;
  value?: string;
  filePos: number;
  current?: string;
  expect: ExpectedVerdict;
  rule?: string;
  reason?: string;
  /** The writer's namespaces shared with the host (`namespaces: { net: host }`); the rest its own. */
  namespaces?: Partial<Record<NsKind, 'host' | 'own'>>;
  description: string;
}

export interface PolicyTestFile { file: string; policyRef: { policy?: string; profile?: string }; cases: PolicyTestCase[] }

/** A policy test file that is not well formed: exit status 2. */
export class PolicyTestError extends Error { override name = 'PolicyTestError'; }

export function readPolicyTests(file: string): PolicyTestFile {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new PolicyTestError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file; check the path' : (e as Error).message}`); }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const at = (n: Node | null | undefined) => { const p = lc.linePos(n?.range?.[0] ?? 0); return `${file}:${p.line}:${p.col}`; };
  if (doc.errors.length) throw new PolicyTestError(`${file}:${doc.errors[0]!.linePos?.[0]?.line ?? 1}: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root = doc.contents;
  if (!isMap(root)) throw new PolicyTestError(`${file}:1:1: a policy test file is a mapping with policy: (or profile:) and cases:`);
  const allowedTop = new Set(['policy', 'profile', 'cases', 'description']);
  for (const item of root.items) {
    const k = String((item.key as { value?: unknown })?.value);
    if (!allowedTop.has(k)) throw new PolicyTestError(`${at(item.key as Node)}: unknown key "${k}"; use policy, profile, cases, description`);
  }
  const policy = root.get('policy') as string | undefined;
  const profile = root.get('profile') as string | undefined;
  if (!!policy === !!profile) throw new PolicyTestError(`${at(root)}: give either policy: FILE or profile: NAME`);
  const casesNode = root.get('cases', true);
  if (!isSeq(casesNode) || casesNode.items.length === 0) throw new PolicyTestError(`${at(casesNode as Node ?? root)}: cases: must be a list of cases, each with read: or write: and expect:`);
  const cases = casesNode.items.map((node, i): PolicyTestCase => {
    if (!isMap(node)) throw new PolicyTestError(`${at(node as Node)}: case ${i + 1} must be a mapping (read: or write:, expect:)`);
    const known = new Set(['read', 'write', 'expect', 'rule', 'reason', 'pos', 'current', 'namespaces', 'description']);
    for (const item of node.items) {
      const k = String((item.key as { value?: unknown })?.value);
      if (!known.has(k)) throw new PolicyTestError(`${at(item.key as Node)}: unknown key "${k}" in case ${i + 1}; use read, write, expect, rule, reason, pos, current, namespaces`);
    }
    const read = node.get('read') as string | undefined;
    const write = node.get('write') as string | undefined;
    if (!!read === !!write) throw new PolicyTestError(`${at(node)}: case ${i + 1} needs either read: NAME or write: NAME=VALUE`);
    if (write !== undefined && !String(write).includes('=')) throw new PolicyTestError(`${at(node.get('write', true) as Node)}: write: takes NAME=VALUE`);
    const expect = String(node.get('expect') ?? '');
    if (!(VERDICTS as readonly string[]).includes(expect)) throw new PolicyTestError(`${at((node.get('expect', true) as Node) ?? node)}: expect: "${expect}" is not one of ${VERDICTS.join(', ')}`);
    const pos = node.get('pos');
    if (pos !== undefined && (!Number.isInteger(pos) || (pos as number) < 0)) throw new PolicyTestError(`${at(node.get('pos', true) as Node)}: pos: takes a file position, a whole number`);
    const spec = String(write ?? read);
    const eq = spec.indexOf('=');
    const current = node.get('current');
    const nsNode = node.get('namespaces', true);
    let namespaces: PolicyTestCase['namespaces'];
    if (nsNode !== undefined) {
      if (!isMap(nsNode)) throw new PolicyTestError(`${at(nsNode as Node)}: namespaces: takes a mapping such as { net: host }`);
      namespaces = {};
      for (const item of nsNode.items) {
        const k = String((item.key as { value?: unknown })?.value);
        const v = String((item.value as { value?: unknown })?.value);
        if (!(NS_KINDS as readonly string[]).includes(k)) throw new PolicyTestError(`${at(item.key as Node)}: namespaces: "${k}" is not a namespace; use ${NS_KINDS.join(', ')}`);
        if (v !== 'host' && v !== 'own') throw new PolicyTestError(`${at(item.value as Node)}: namespaces: ${k}: give host or own`);
        namespaces[k as NsKind] = v;
      }
    }
    return {
      n: i + 1, line: lc.linePos(node.range?.[0] ?? 0).line,
      name: write !== undefined ? spec.slice(0, eq) : spec,
      ...(write !== undefined ? { value: spec.slice(eq + 1) } : {}),
      filePos: (pos as number | undefined) ?? 0,
      ...(current !== undefined ? { current: String(current) } : {}),
      expect: expect as ExpectedVerdict,
      ...(node.get('rule') !== undefined ? { rule: String(node.get('rule')) } : {}),
      ...(node.get('reason') !== undefined ? { reason: String(node.get('reason')) } : {}),
      ...(namespaces ? { namespaces } : {}),
      description: String(node.get('description') ?? `${write !== undefined ? 'write' : 'read'} ${spec}`),
    };
  });
  return { file, policyRef: { ...(policy ? { policy: resolve(dirname(file), String(policy)) } : {}), ...(profile ? { profile: String(profile) } : {}) }, cases };
}

export interface CaseResult { c: PolicyTestCase; ok: boolean; got: Explanation; problems: string[] }

export function runPolicyTests(policy: Policy, cases: PolicyTestCase[]): CaseResult[] {
  const guard = new VmGuard(policy);
  return cases.map((c) => {
    // Without current:, the key's value is unknown to the test (it does not read this host).
    const got = explain(policy, { name: c.name, ...(c.value !== undefined ? { value: c.value } : {}), filePos: c.filePos, current: c.current ?? null, ...(c.namespaces ? { namespaces: c.namespaces } : {}) }, guard);
    const problems: string[] = [];
    if (got.verdict !== c.expect) problems.push(`expected ${c.expect}, got ${got.verdict}${got.reason !== 'rule' ? ` (${got.reason})` : ''}`);
    if (c.rule !== undefined && got.rule.key !== c.rule) problems.push(`expected rule ${c.rule}, decided by ${got.rule.key}`);
    if (c.reason !== undefined && got.reason !== c.reason) problems.push(`expected reason ${c.reason}, got ${got.reason}`);
    if (got.disagreement) problems.push(`internal disagreement: ${got.disagreement}`);
    return { c, ok: problems.length === 0, got, problems };
  });
}
