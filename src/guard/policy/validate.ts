// What the schema cannot say: key names, numbers in range, rules that contradict themselves or
// each other, values the kernel or the compiler cannot hold, scopes that select nothing. Works on
// the plain data even where the schema found problems, looking only at values of the right type
// (the schema reports the others), so one pass reports everything.

import { GUARD_NAME, type Action, type Policy, type Rule, type Scope, type ValueConstraint } from '../model.js';
import { MAX_FIELDS, VALUE_MAX, WILD_REM_BUF } from '../compiler/abi.js';
import { WILDCARD_PREFIX_MAX } from '../compiler/tables.js';
import { maxValueBytes, patternNamespaceOf, suggestDir, suggestKey, vectorFields } from '../../sysctl/keys.js';
import { dottedName, formatPattern, parseKeyPattern, SysctlNameError, type SysctlPattern } from '../../sysctl/names.js';
import type { PolicyProblem } from './errors.js';
import { label } from './issues.js';
import { ACTIONS, MODES, policySchema, ruleSchema } from './schema.js';
import type { Path, YamlSource } from './source.js';

/**
 * The longest value (of `values`, or an override) the guard compares or stores, in bytes without
 * the newline. The compiler's limits (../compiler/abi.ts) are checked here, where a problem can
 * still be shown at its line.
 */
export const MAX_VALUE_BYTES = VALUE_MAX;

export const S64_MIN = -(2n ** 63n);
export const S64_MAX = 2n ** 63n - 1n;

type Mapping = Record<string, unknown>;

const isMapping = (v: unknown): v is Mapping => v !== null && typeof v === 'object' && !Array.isArray(v);
const isAction = (v: unknown): v is Action => typeof v === 'string' && (ACTIONS as readonly string[]).includes(v);

const CONSTRAINTS = ['values', 'range', 'fields', 'lock'] as const;
const RULE_FIELDS = Object.keys(ruleSchema.shape);
const POLICY_FIELDS = Object.keys(policySchema.shape);

// A mapping with a field the schema does not know (reported there, with "did you mean"): a
// missing key or action may be that field misspelt, so saying it is missing would only repeat it.
const hasUnknownField = (m: Mapping, fields: string[]): boolean => Object.keys(m).some((k) => !fields.includes(k));

class Checker {
  readonly problems: PolicyProblem[] = [];
  constructor(private readonly source: YamlSource) {}

  error(path: Path, message: string, part: 'value' | 'key' = 'value'): void {
    this.problems.push(this.source.problem(path, message, part));
  }

  warn(path: Path, message: string, part: 'value' | 'key' = 'value'): void {
    this.problems.push(this.source.problem(path, message, part, 'warning'));
  }

  errorAt(pos: { line: number; column: number }, message: string): void {
    this.problems.push({ file: this.source.file, ...pos, message, severity: 'error' });
  }

  get errors(): number {
    return this.problems.filter((p) => p.severity === 'error').length;
  }

  /** An integer the schema accepted, checked against s64. */
  s64(path: Path, v: unknown): bigint | undefined {
    if (typeof v !== 'bigint') return undefined;
    if (v < S64_MIN || v > S64_MAX) {
      this.error(path, `${label(path)} ${this.source.asWritten(path) ?? v} is outside the signed 64-bit range ${S64_MIN}..${S64_MAX} that the guard compares numbers in; for larger values use values: with the exact strings`);
      return undefined;
    }
    return v;
  }

  /** A [min, max] pair the schema accepted, checked. */
  pair(path: Path, v: unknown, what: string): { min: bigint; max: bigint } | undefined {
    if (!Array.isArray(v) || v.length !== 2) return undefined;
    const min = this.s64([...path, 0], v[0]);
    const max = this.s64([...path, 1], v[1]);
    if (min === undefined || max === undefined) return undefined;
    if (min > max) {
      this.error(path, `${what} [${min}, ${max}] is empty: min ${min} is greater than max ${max}; write [${max}, ${min}]`);
      return undefined;
    }
    return { min, max };
  }
}

/** A value or override as the kernel would see it: one line, no trailing newline, size-checked. */
function checkValue(c: Checker, source: YamlSource, path: Path, what: string, key: SysctlPattern[]): string | undefined {
  let text = source.asWritten(path);
  if (text === undefined) return undefined;
  // The kernel's values end with a newline that the guard ignores; a block scalar (|) has one.
  if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.includes('\n')) {
    c.error(path, `${what} has a line break; a sysctl value is one line`);
    return undefined;
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_VALUE_BYTES) {
    c.error(path, `${what} is ${bytes} bytes; the guard compares values of at most ${MAX_VALUE_BYTES} bytes`);
    return undefined;
  }
  for (const k of exactKeys(key)) {
    const max = maxValueBytes(k.segments);
    if (max !== undefined && bytes > max) {
      c.error(path, `${what} is ${bytes} bytes; ${dottedName(k.segments)} holds at most ${max}`);
      return undefined;
    }
    const fields = vectorFields(k.segments);
    if (fields) {
      const parts = text.trim().split(/\s+/);
      if (parts.length !== fields.length || !parts.every((p) => /^-?\d+$/.test(p))) {
        c.error(path, `${what} "${text}" is not ${fields.length} integers; ${dottedName(k.segments)} is a vector of ${fields.length} (${fields.join(', ')})`);
        return undefined;
      }
    }
  }
  return text;
}

const exactKeys = (keys: SysctlPattern[]): SysctlPattern[] => keys.filter((k) => k.kind === 'exact' && k.wildcard === null);

function checkCgroupPath(c: Checker, path: Path, p: unknown, what: string): string | undefined {
  if (typeof p !== 'string') return undefined;
  if (/[\0-\x1f\x7f]/.test(p)) {
    c.error(path, `${what} "${p}" has a control character; write the cgroup path as /system.slice/name`);
    return undefined;
  }
  const mount = /^\/sys\/fs\/cgroup(\/unified)?(?=\/|$)/.exec(p);
  if (mount) {
    c.error(path, `${what} "${p}" is a file-system path; write it relative to the cgroup v2 mount: ${p.slice(mount[0].length) || '/'}`);
    return undefined;
  }
  if (!p.startsWith('/')) {
    c.error(path, `${what} "${p}" is not absolute; write /${p} (relative to the cgroup v2 mount)`);
    return undefined;
  }
  if (p !== '/' && (p.endsWith('/') || p.includes('//'))) {
    c.error(path, `${what} "${p}" has an empty segment; write ${p.replace(/\/+/g, '/').replace(/(.)\/$/, '$1')}`);
    return undefined;
  }
  if (p.split('/').some((s) => s === '.' || s === '..')) {
    c.error(path, `${what} "${p}" has a . or .. segment; write the cgroup's path from the root`);
    return undefined;
  }
  return p;
}

const under = (p: string, parent: string): boolean => parent === '/' || p === parent || p.startsWith(`${parent}/`);

function checkScope(c: Checker, doc: Mapping): Scope {
  const scope: Scope = { cgroups: [], containers: false, host: false, exempt: [] };
  const raw = doc.scope;
  if (!isMapping(raw)) return scope;
  for (const list of ['cgroups', 'exempt'] as const) {
    const items = raw[list];
    if (!Array.isArray(items)) continue;
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const path = ['scope', list, i];
      const p = checkCgroupPath(c, path, item, `scope.${list}[${i}]`);
      if (p === undefined) return;
      if (seen.has(p)) {
        c.warn(path, `scope.${list}[${i}] repeats ${p} (also scope.${list}[${seen.get(p)}]); remove one`);
        return;
      }
      seen.set(p, i);
      scope[list].push(p);
    });
  }
  if (raw.containers === true) scope.containers = true;
  if (raw.host === true) scope.host = true;
  if (typeof raw.follow === 'boolean') {
    scope.follow = raw.follow;
    if (scope.host && !scope.containers && scope.cgroups.length === 0) c.warn(['scope', 'follow'], 'follow changes nothing on a guard of the host (the root cgroup, where every task is); remove it', 'key');
  }

  const exempt = Array.isArray(raw.exempt) ? raw.exempt : [];
  if (exempt.length > 0 && !scope.host && !scope.containers && scope.cgroups.length === 0) {
    c.error(['scope', 'exempt'], 'exempt has nothing to exempt from; set host: true or containers: true, or list cgroups', 'key');
  } else if (!scope.host && !scope.containers) {
    scope.exempt.forEach((e, i) => {
      if (!scope.cgroups.some((g) => under(e, g))) {
        c.error(['scope', 'exempt', i], `exempt ${e} is not below any of scope.cgroups, so it exempts nothing; remove it, or list the cgroup it belongs to`);
      }
    });
  }
  if (scope.exempt.includes('/') && (scope.host || scope.containers || scope.cgroups.length > 0)) {
    c.error(['scope', 'exempt', exempt.indexOf('/')], 'exempt / exempts every cgroup, so the guard would apply nowhere; exempt narrower cgroups');
  }
  const cgroupsRaw = raw.cgroups;
  const selectsNothing = raw.host !== true && raw.containers !== true &&
    (cgroupsRaw === undefined || (Array.isArray(cgroupsRaw) && cgroupsRaw.length === 0));
  const typesOk = [raw.host, raw.containers].every((v) => v === undefined || typeof v === 'boolean');
  if (selectsNothing && typesOk && exempt.length === 0) {
    c.error(['scope'], 'scope selects no cgroup; set containers: true or host: true, or list cgroups (or leave scope out for a policy used only with sysward run, explain or test)', 'key');
  }
  if (scope.host && scope.cgroups.length > 0) {
    c.warn(['scope', 'cgroups'], 'host: true already covers every cgroup; scope.cgroups adds nothing', 'key');
  }
  return scope;
}

interface Seen { line: number; text: string; rule: number }

function checkRule(c: Checker, source: YamlSource, raw: Mapping, ruleIndex: number, out: Rule[], seen: Map<string, Seen>): void {
  const rp: Path = ['rules', ruleIndex];

  // The keys: `key: one` or `keys: [a, b]`, each its own Rule.
  const keyTexts: { text: string; path: Path }[] = [];
  if (raw.key !== undefined && raw.keys !== undefined) {
    c.error([...rp, 'keys'], 'a rule has key or keys, not both; move the key into keys', 'key');
  } else if (raw.key === undefined && raw.keys === undefined && !hasUnknownField(raw, RULE_FIELDS)) {
    c.error(rp, 'the rule has no key; add key: with a sysctl name (or keys: with several)');
  }
  if (typeof raw.key === 'string') keyTexts.push({ text: raw.key, path: [...rp, 'key'] });
  if (Array.isArray(raw.keys)) raw.keys.forEach((k, j) => typeof k === 'string' && keyTexts.push({ text: k, path: [...rp, 'keys', j] }));

  const patterns: { pattern: SysctlPattern; path: Path }[] = [];
  for (const { text, path } of keyTexts) {
    try {
      const pattern = parseKeyPattern(text);
      if (!fitsWildcardTables(c, pattern, path)) continue;
      patterns.push({ pattern, path });
      warnUnknown(c, pattern, path);
    } catch (e) {
      if (!(e instanceof SysctlNameError)) throw e;
      c.errorAt(source.atChar(path, e.offset), `key ${e.message}`);
    }
  }
  const keys = patterns.map((p) => p.pattern);
  const shown = keyTexts.length === 1 ? keyTexts[0]!.text : 'these keys';

  // What the rule does.
  const action = isAction(raw.action) ? raw.action : undefined;
  const reads = isAction(raw.reads) ? raw.reads : 'allow';
  const present = CONSTRAINTS.filter((k) => raw[k] !== undefined && !(k === 'lock' && raw[k] === false));
  if (present.length > 1) {
    c.error([...rp, present[1]!], `a rule limits values one way: values, range, fields or lock; this one has ${present.join(' and ')}, so keep one`, 'key');
  }
  if (action === 'deny') {
    for (const k of present) {
      c.error([...rp, k], `${k} with action: deny never applies, since deny refuses every write; remove action: deny (allow is implied) or remove ${k}`, 'key');
    }
    if (raw.override !== undefined) {
      c.error([...rp, 'override'], 'override with action: deny never applies, since deny refuses every write; remove one of them', 'key');
    }
  }
  if (raw.override !== undefined && present.length > 0) {
    c.error([...rp, 'override'], `override replaces whatever is written, so ${present[0]} would check a value that is never stored; remove one of them`, 'key');
  }
  if (raw.action === undefined && present.length === 0 && raw.override === undefined && !hasUnknownField(raw, RULE_FIELDS)) {
    c.error(rp, `the rule for ${shown} has no action; add action: allow, deny or audit (or limit the values with values, range, fields or lock)`);
  }

  let reason: string | undefined;
  if (typeof raw.reason === 'string') {
    reason = raw.reason.trim();
    if (reason === '') {
      c.error([...rp, 'reason'], 'reason is empty; write why the rule exists, or remove reason');
    } else if (reason.includes('\n')) {
      c.error([...rp, 'reason'], `reason has ${reason.split('\n').length} lines; write one line (events show it)`);
    }
  }

  // The value constraint.
  let value: ValueConstraint | undefined;
  const vector = exactKeys(keys).map((k) => ({ k, fields: vectorFields(k.segments) })).find((v) => v.fields);
  const stringKey = exactKeys(keys).find((k) => maxValueBytes(k.segments) !== undefined);
  if (raw.range !== undefined) {
    const r = c.pair([...rp, 'range'], raw.range, 'range');
    if (vector) {
      c.error([...rp, 'range'], `range on ${dottedName(vector.k.segments)}, a vector of ${vector.fields!.length} integers (${vector.fields!.join(', ')}); write fields: with one [min, max] per field`, 'key');
    } else if (stringKey) {
      c.error([...rp, 'range'], `range on ${dottedName(stringKey.segments)}, a string sysctl; write values: with the strings allowed`, 'key');
    } else if (r) {
      value = { kind: 'range', ...r };
    }
  }
  if (Array.isArray(raw.fields)) {
    const fields: { min: bigint; max: bigint }[] = [];
    let ok = true;
    raw.fields.forEach((f, i) => {
      const path = [...rp, 'fields', i];
      if (typeof f === 'bigint') {
        const n = c.s64(path, f);
        if (n === undefined) ok = false;
        else fields.push({ min: n, max: n });
      } else {
        const r = c.pair(path, f, `fields[${i}]`);
        if (r) fields.push(r);
        else ok = false;
      }
    });
    if (raw.fields.length > MAX_FIELDS) {
      c.error([...rp, 'fields'], `fields has ${raw.fields.length} entries; the guard checks at most ${MAX_FIELDS} fields`);
      ok = false;
    } else if (vector && raw.fields.length !== vector.fields!.length) {
      c.error([...rp, 'fields'], `fields has ${raw.fields.length} entr${raw.fields.length === 1 ? 'y' : 'ies'}, but ${dottedName(vector.k.segments)} has ${vector.fields!.length} fields (${vector.fields!.join(', ')}); write one [min, max] per field`);
      ok = false;
    } else if (stringKey) {
      c.error([...rp, 'fields'], `fields on ${dottedName(stringKey.segments)}, a string sysctl; write values: with the strings allowed`, 'key');
      ok = false;
    }
    if (ok && fields.length === raw.fields.length && fields.length > 0) value = { kind: 'fields', fields };
  }
  if (Array.isArray(raw.values)) {
    const values: string[] = [];
    const firstAt = new Map<string, number>();
    raw.values.forEach((_, i) => {
      const path = [...rp, 'values', i];
      const v = checkValue(c, source, path, `values[${i}]`, keys);
      if (v === undefined) return;
      if (firstAt.has(v)) {
        c.warn(path, `values[${i}] repeats "${v}" (also values[${firstAt.get(v)}]); remove one`);
        return;
      }
      firstAt.set(v, i);
      values.push(v);
    });
    if (values.length > 0) value = { kind: 'values', values };
  }
  if (raw.lock === true) value = { kind: 'lock' };

  let override: string | undefined;
  if (raw.override !== undefined) {
    override = checkValue(c, source, [...rp, 'override'], 'override', keys);
    if (override === '') {
      c.error([...rp, 'override'], 'override is empty; the kernel needs a value to store, so write one');
      override = undefined;
    }
  }

  // namespace: own — only where the key's value belongs to a namespace, and only where it allows.
  const ownNs = raw.namespace === 'own';
  if (ownNs) {
    if (action === 'deny') {
      c.error([...rp, 'namespace'], 'namespace: own with action: deny never applies, since deny refuses writes from every namespace; remove one of them', 'key');
    }
    for (const { pattern } of patterns) {
      if (patternNamespaceOf(pattern) !== null) continue;
      c.error([...rp, 'namespace'], `namespace: own on ${pattern.text}, which ${pattern.kind === 'subtree' || pattern.wildcard !== null ? 'reaches keys that have' : 'has'} one value for the whole host (not per namespace); remove namespace, or give the rule only per-namespace keys (net.*, kernel.hostname, kernel.domainname, the System V IPC keys, fs.mqueue.*, user.*, kernel.ns_last_pid)`, 'key');
    }
  }

  // One Rule per key; the same key in two rules is an error (which would win?).
  for (const { pattern, path } of patterns) {
    const canonical = formatPattern(pattern, 'kernel');
    const pos = source.at(path);
    const before = seen.get(canonical);
    if (before && before.rule === ruleIndex) {
      c.error(path, `key ${pattern.text} is listed twice in this rule (also as ${before.text}); remove one`);
      continue;
    }
    if (before) {
      const same = before.text === pattern.text ? '' : ` (written ${before.text} there)`;
      c.error(path, `key ${pattern.text} repeats the key of the rule at line ${before.line}${same}; a key has one rule, so merge the two rules at lines ${before.line} and ${pos.line}`);
      continue;
    }
    seen.set(canonical, { line: pos.line, text: pattern.text, rule: ruleIndex });
    const rule: Rule = {
      index: out.length,
      key: pattern,
      action: action ?? 'allow',
      reads,
      source: { file: source.file, ...pos },
    };
    if (value) rule.value = value;
    if (override !== undefined) rule.override = override;
    if (reason !== undefined) rule.reason = reason;
    if (ownNs) rule.namespace = 'own';
    out.push(rule);
  }
}

/** A wildcard pattern's parts fit the compiler's tables (the part before and after the '*'). */
function fitsWildcardTables(c: Checker, p: SysctlPattern, path: Path): boolean {
  if (p.wildcard === null) return true;
  const before = Buffer.byteLength(`${p.segments.slice(0, p.wildcard).join('/')}/`);
  if (before > WILDCARD_PREFIX_MAX) {
    c.error(path, `key ${p.text}: the part before '*' is ${before} bytes; the guard compares at most ${WILDCARD_PREFIX_MAX}`);
    return false;
  }
  const after = Buffer.byteLength(p.segments.slice(p.wildcard + 1).join('/')) + 1;
  if (after > WILD_REM_BUF) {
    c.error(path, `key ${p.text}: the part after '*' is ${after - 1} bytes; the guard compares at most ${WILD_REM_BUF - 1}`);
    return false;
  }
  return true;
}

/**
 * Misspelling checks per policy: a person types a few dozen keys; a generated policy of thousands
 * of unknown keys would spend seconds on suggestions nobody reads.
 */
const MISSPELLING_CHECKS = 200;
const misspellingChecks = new WeakMap<Checker, number>();

/** Keys that are probably misspelt: unknown to the catalogue, but one or two edits from a known key. */
function warnUnknown(c: Checker, p: SysctlPattern, path: Path): void {
  // A wildcard anywhere but an interface segment (net.ipv4.conf.*.x) is not checked.
  if (p.wildcard !== null && p.wildcard !== 3) return;
  const done = misspellingChecks.get(c) ?? 0;
  if (done >= MISSPELLING_CHECKS) return;
  misspellingChecks.set(c, done + 1);
  const suggestion = p.kind === 'exact' ? suggestKey(p.segments) : suggestDir(p.segments);
  if (!suggestion) return;
  const fixed = formatPattern({ segments: suggestion, kind: p.kind }, p.text.includes('/') && !p.text.includes('.') ? 'kernel' : 'dotted');
  c.warn(path, `key ${p.text} is not a sysctl that Linux is known to have; did you mean ${fixed}?`);
}

/**
 * Check the data of a policy document (already read from YAML) and build the model. Returns the
 * policy, or undefined when there were errors; the problems (errors and warnings) are appended.
 */
export function checkPolicy(source: YamlSource, origin: string, problems: PolicyProblem[]): Policy | undefined {
  const c = new Checker(source);
  const doc = source.value;
  if (!isMapping(doc)) {
    problems.push(...c.problems);
    return undefined;
  }
  const name = typeof doc.name === 'string' && GUARD_NAME.test(doc.name) ? doc.name : undefined;
  const mode = typeof doc.mode === 'string' && (MODES as readonly string[]).includes(doc.mode) ? doc.mode as Policy['mode'] : 'enforce';
  const defaults: Policy['defaults'] = { write: 'allow', read: 'allow' };
  if (isAction(doc.default)) defaults.write = doc.default;
  else if (isMapping(doc.default)) {
    if (isAction(doc.default.write)) defaults.write = doc.default.write;
    if (isAction(doc.default.read)) defaults.read = doc.default.read;
  }
  const scope = checkScope(c, doc);

  const rules: Rule[] = [];
  const seen = new Map<string, Seen>();
  if (Array.isArray(doc.rules)) {
    doc.rules.forEach((r, i) => {
      if (isMapping(r)) checkRule(c, source, r, i, rules, seen);
    });
  }
  const noRules = doc.rules === undefined || (Array.isArray(doc.rules) && doc.rules.length === 0);
  const defaultValid = doc.default === undefined || isAction(doc.default) || isMapping(doc.default);
  if (noRules && defaultValid && defaults.write === 'allow' && defaults.read === 'allow' && !hasUnknownField(doc, POLICY_FIELDS)) {
    c.error(doc.rules === undefined ? [] : ['rules'],
      'the policy has no rules and its default allows everything, so it would change nothing; add rules, or set default: deny or default: audit',
      'key');
  }

  // A loop, not push(...): 150,000 spread arguments overflowed the stack, and the token limit
  // still allows 100,000 problems (one per item of a long list).
  for (const p of c.problems) problems.push(p);
  if (c.errors > 0 || name === undefined) return undefined;
  const policy: Policy = { name, mode, defaults, scope, rules, origin };
  if (typeof doc.description === 'string' && doc.description.trim() !== '') policy.description = doc.description.trim();
  return policy;
}
