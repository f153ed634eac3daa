// `sysward learn`: what a workload did (events and summary lines of a guard that refuses nothing)
// → the narrowest policy that allows it, and its tests. Pure: no kernel, no files; the command
// (src/cli/commands/learn.ts) feeds it from a guarded run (learn-run.ts) or an audit log
// (learn-log.ts). The output depends only on what was observed, never on the order it came in or
// the time it was learned: the same input gives the same bytes.
import { VALUE_MAX, MAX_FIELDS } from './compiler/abi.js';
import { GUARD_NAME } from './model.js';
import { dangerOf, maxValueBytes, namespaceOf, vectorFields, type SysctlNamespace } from '../sysctl/keys.js';
import type { NsKind } from './compiler/task-layout.js';
import { parseKeyPattern, SysctlNameError } from '../sysctl/names.js';

/** One access, or (count > 1, value unknown) a summary line's count of them. */
export interface Observation {
  access: 'read' | 'write';
  /** As sysctl(8) writes it (events' `key`). */
  key: string;
  /** The written value (events' `newValue`); null: the guard could not read it; undefined: not recorded (a summary line). */
  value?: string | null;
  /** The write's file position (a write at N > 0 continues an earlier one). */
  filePos?: number;
  /** Accesses this stands for: 1 for an event, `count` for a summary line. */
  count: number;
  /** ISO 8601: the access (from, to: a summary line's period). */
  from: string;
  to: string;
  comm?: string;
  /** Inode numbers of the writer's namespaces (events' `namespaces`). */
  namespaces?: Partial<Record<NsKind, number>>;
}

/** Distinct integer values past which a numeric key gets a range (fields for vectors) instead of values. */
export const MANY_NUMBERS = 16;
/** Distinct values kept per key; past it a numeric key still gets its exact range, a string key no value limit. */
export const MAX_VALUES_PER_KEY = 4096;
/** Distinct keys one learning keeps (a policy of more would not load: docs/policy.md, Limits). */
export const MAX_KEYS = 16384;

const S64_MIN = -(2n ** 63n);
const S64_MAX = 2n ** 63n - 1n;

/** Input learn cannot use (too many keys, a key that is not a sysctl name): exit status 2. */
export class LearnInputError extends Error {
  override name = 'LearnInputError';
}

interface Seen { count: number; from: string; to: string }

interface KeyState {
  key: string;
  segments: string[];
  writes: Seen | undefined;
  reads: Seen | undefined;
  /** Written value → how many writes. */
  values: Map<string, number>;
  /** Writes counted in summary lines: their values were not recorded. */
  withoutValue: number;
  /** Writes at file position > 0, by value. */
  partial: Map<string, { count: number; pos: number }>;
  /** Writes whose value cannot go into a policy, and why (the first reason). */
  unexpressible: { count: number; why: string } | undefined;
  /** More than MAX_VALUES_PER_KEY distinct values: `values` stopped growing. */
  tooManyValues: boolean;
  /** Integer fields per value when every value so far is that many decimal integers (1: a scalar); null: not all numbers. */
  nFields: number | null | undefined;
  mins: bigint[];
  maxs: bigint[];
  /** Command names of the writers and of the readers (the first 64 of each). */
  writers: Set<string>;
  readers: Set<string>;
  /** The kind of namespace the key lives in (net.*: network, …), or null for a key of the whole host. */
  nsKind: SysctlNamespace | null;
  /** Writes from a namespace of the writer's own of that kind, from the host's, or not known. */
  fromOwn: number;
  fromHost: number;
}

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;

/** Decimal integers in s64 separated by white space, or undefined (hex, octal, words, overflow). */
function integers(value: string): bigint[] | undefined {
  const parts = value.trim().split(/\s+/);
  if (parts.length === 0 || parts.length > MAX_FIELDS || value.trim() === '') return undefined;
  const out: bigint[] = [];
  for (const p of parts) {
    if (!DECIMAL.test(p)) return undefined;
    const n = BigInt(p);
    if (n < S64_MIN || n > S64_MAX) return undefined;
    out.push(n);
  }
  return out;
}

const earlier = (a: string, b: string) => (a < b ? a : b);
const later = (a: string, b: string) => (a > b ? a : b);
const merge = (s: Seen | undefined, o: Observation): Seen =>
  s ? { count: s.count + o.count, from: earlier(s.from, o.from), to: later(s.to, o.to) } : { count: o.count, from: o.from, to: o.to };

/** Collects observations; `synthesize` turns them into a policy. Memory is bounded by MAX_KEYS × MAX_VALUES_PER_KEY. */
export class Learner {
  readonly #keys = new Map<string, KeyState>();
  /** Accesses seen, by kind. */
  writes = 0;
  reads = 0;
  /**
   * The host's (initial) namespaces, when known for certain (learning from a command on this
   * host): a per-namespace key written only from the writer's own namespace gets `namespace: own`.
   */
  hostNamespaces: Record<NsKind, number> | undefined;

  observe(o: Observation): void {
    if (!(o.count > 0)) return;
    let k = this.#keys.get(o.key);
    if (!k) {
      if (this.#keys.size >= MAX_KEYS) throw new LearnInputError(`more than ${MAX_KEYS} distinct keys: a policy that long would not load; learn from one workload at a time (--container, --cgroup)`);
      let segments: string[];
      try {
        const p = parseKeyPattern(o.key);
        if (p.kind !== 'exact' || p.wildcard !== null) throw new SysctlNameError('a pattern', 0);
        segments = p.segments;
      } catch (e) {
        throw new LearnInputError(`key "${o.key}" is not a sysctl name (${(e as Error).message})`);
      }
      k = { key: o.key, segments, writes: undefined, reads: undefined, values: new Map(), withoutValue: 0, partial: new Map(), unexpressible: undefined, tooManyValues: false, nFields: undefined, mins: [], maxs: [], writers: new Set(), readers: new Set(), nsKind: namespaceOf(segments), fromOwn: 0, fromHost: 0 };
      this.#keys.set(o.key, k);
    }
    const comms = o.access === 'read' ? k.readers : k.writers;
    if (o.comm !== undefined && comms.size < 64) comms.add(o.comm);
    if (o.access === 'read') { k.reads = merge(k.reads, o); this.reads += o.count; return; }
    k.writes = merge(k.writes, o);
    this.writes += o.count;
    const inum = k.nsKind && this.hostNamespaces ? o.namespaces?.[k.nsKind] : undefined;
    if (inum !== undefined) { if (inum === this.hostNamespaces![k.nsKind!]) k.fromHost += o.count; else k.fromOwn += o.count; }
    if (o.value === undefined) { k.withoutValue += o.count; return; }
    // A value the key has taken already passed every check below, which depend on the key and the
    // value alone: count it (a log repeats the same few values).
    if (o.value !== null && !((o.filePos ?? 0) > 0) && k.values.has(o.value)) { k.values.set(o.value, k.values.get(o.value)! + o.count); return; }
    const why = unexpressible(k, o.value);
    if (why !== undefined) {
      k.unexpressible = { count: (k.unexpressible?.count ?? 0) + o.count, why: k.unexpressible?.why ?? why };
      return;
    }
    const value = o.value!;
    if ((o.filePos ?? 0) > 0) {
      const p = k.partial.get(value);
      k.partial.set(value, { count: (p?.count ?? 0) + o.count, pos: p ? Math.min(p.pos, o.filePos!) : o.filePos! });
      return;
    }
    this.#number(k, value);
    if (k.values.has(value)) k.values.set(value, k.values.get(value)! + o.count);
    else if (k.values.size < MAX_VALUES_PER_KEY) k.values.set(value, o.count);
    else k.tooManyValues = true;
  }

  /** Keep each key's per-field bounds while every value is integers (a range stays exact past MAX_VALUES_PER_KEY). */
  #number(k: KeyState, value: string): void {
    if (k.nFields === null) return;
    const ns = integers(value);
    if (!ns || (k.nFields !== undefined && ns.length !== k.nFields)) { k.nFields = null; return; }
    if (k.nFields === undefined) { k.nFields = ns.length; k.mins = [...ns]; k.maxs = [...ns]; return; }
    ns.forEach((n, i) => { if (n < k.mins[i]!) k.mins[i] = n; if (n > k.maxs[i]!) k.maxs[i] = n; });
  }

  get keys(): readonly KeyState[] {
    return [...this.#keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** Why a written value cannot be listed in `values` (the policy parser would refuse it), or undefined. */
function unexpressible(k: KeyState, value: string | null): string | undefined {
  if (value === null) return 'a value the guard could not read';
  const bytes = Buffer.byteLength(value);
  // Events show at most 127 bytes of a value; a longer one ends in "…" (3 bytes).
  if (value.endsWith('…') && bytes - 3 >= VALUE_MAX) return `a value longer than the ${VALUE_MAX} bytes events show (and a policy compares)`;
  if (bytes > VALUE_MAX) return `a value of ${bytes} bytes, longer than the ${VALUE_MAX} a policy compares`;
  const max = maxValueBytes(k.segments);
  if (max !== undefined && bytes > max) return `a value of ${bytes} bytes, longer than the ${max} the key holds`;
  if (value.includes('\n')) return 'a value with a line break';
  const fields = vectorFields(k.segments);
  if (fields) {
    const parts = value.trim().split(/\s+/);
    if (parts.length !== fields.length || !parts.every((p) => /^-?\d+$/.test(p))) return `a value that is not ${fields.length} integers (${fields.join(', ')})`;
  }
  return undefined;
}

export interface LearnOptions {
  /** The policy's name (GUARD_NAME). */
  name: string;
  /** Where the policy will be written: the tests refer to it by its base name. */
  policyFile: string;
  /** Ranges (fields for vectors) for every numeric key, not only those with many values. */
  ranges?: boolean;
  /** Reads were learned too: unseen reads are refused, learned ones allowed. */
  reads?: boolean;
  /** One line each: what was learned from (a command, audit logs and their selection). */
  source: string[];
  /** A scope to write (the cgroup the log was selected by), else none. */
  scopeCgroups?: string[];
}

export type LearnedRule = (
  | { key: string; kind: 'values'; values: string[] }
  | { key: string; kind: 'range'; min: string; max: string }
  | { key: string; kind: 'fields'; fields: [string, string][] }
  | { key: string; kind: 'allow'; why: string }
  | { key: string; kind: 'read-only' }
) & {
  /** Every write came from the writer's own namespace of the key's kind: `namespace: own`. */
  own?: boolean;
};

const NS_WORDS: Record<SysctlNamespace, string> = { net: 'network', uts: 'UTS', ipc: 'IPC', user: 'user', pid: 'PID' };

export interface LearnSummary {
  name: string;
  writes: number;
  reads: number;
  /** Writes counted in summary lines, whose values were not recorded. */
  writesWithoutValue: number;
  keys: {
    key: string; rule: LearnedRule['kind']; namespace?: 'own'; writes: number; reads: number; distinctValues: number;
    writesWithoutValue: number; firstSeen: string; lastSeen: string; commands: string[]; danger?: string;
  }[];
  /** What a reviewer should look at before enforcing. */
  warnings: string[];
}

export interface Learned { policy: string; tests: string; summary: LearnSummary; rules: LearnedRule[] }

/** A policy name from a file name: `web-app.yaml` → `web-app`; `learned` when nothing is left. */
export function nameFromFile(file: string): string {
  const base = file.replace(/^.*\//, '').replace(/(\.test)?\.ya?ml$/i, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return GUARD_NAME.test(base) ? base : 'learned';
}

/**
 * A YAML double-quoted scalar: JSON's escapes are YAML's, and JSON leaves raw what YAML may not
 * hold raw (DEL, the C1 controls, U+FEFF, U+FFFE/F): those are escaped too.
 */
const q = (s: string) => JSON.stringify(s).replace(/[\x7f-\x9f\ufeff\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
/**
 * Text from outside (a command line, a command name: a process may call itself "x\nname: y") as
 * it may stand in a YAML comment: one line, control characters escaped as JSON escapes them.
 */
const inComment = (s: string) => q(s).slice(1, -1).replaceAll('\\"', '"');
/** A key as a plain scalar when it is one (sysctl names nearly always are), else quoted. */
const plain = (s: string) => (/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(s) ? s : q(s));
/** Allowed-write cases a range or fields rule gets at most (its values spread over the list). */
const MAX_CASES_PER_RANGE = 32;
const sample = <T>(xs: T[], n: number): T[] => (xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]!));
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const times = (n: number) => (n === 1 ? 'once' : `${n} times`);
/** A period: one time, or from–to. */
const period = (s: Seen) => (s.from === s.to ? `at ${s.from}` : `from ${s.from} to ${s.to}`);
const by = (comms: Set<string>) => (comms.size ? ` by ${[...comms].sort(byText).map(inComment).join(', ')}` : '');
const byNumber = (a: string, b: string) => { const x = BigInt(a), y = BigInt(b); return x < y ? -1 : x > y ? 1 : 0; };
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function ruleOf(k: KeyState, o: LearnOptions): LearnedRule {
  const r = valueRuleOf(k, o);
  return k.writes && k.nsKind && k.fromOwn === k.writes.count ? { ...r, own: true } : r;
}

function valueRuleOf(k: KeyState, o: LearnOptions): LearnedRule {
  if (!k.writes) return { key: k.key, kind: 'read-only' };
  if (k.unexpressible) return { key: k.key, kind: 'allow', why: `${plural(k.unexpressible.count, 'write')} with ${k.unexpressible.why}` };
  if (k.partial.size) return { key: k.key, kind: 'allow', why: `${plural([...k.partial.values()].reduce((t, p) => t + p.count, 0), 'write')} at a file position past 0 (a value continued over several writes), which a value limit refuses` };
  if (k.values.size === 0) return { key: k.key, kind: 'allow', why: `the values of its ${plural(k.withoutValue, 'write')} were not recorded (summary lines only)` };
  const string = maxValueBytes(k.segments) !== undefined;
  const numeric = typeof k.nFields === 'number' && !string;
  const wide = o.ranges || k.tooManyValues || k.values.size > MANY_NUMBERS;
  if (numeric && wide) {
    const vector = vectorFields(k.segments);
    if (k.nFields === 1 && !vector) return { key: k.key, kind: 'range', min: String(k.mins[0]), max: String(k.maxs[0]) };
    if (k.nFields! >= 2 || vector) return { key: k.key, kind: 'fields', fields: k.mins.map((m, i) => [String(m), String(k.maxs[i])] as [string, string]) };
  }
  if (k.tooManyValues) return { key: k.key, kind: 'allow', why: `more than ${MAX_VALUES_PER_KEY} distinct values, not all integers` };
  const values = [...k.values.keys()];
  return { key: k.key, kind: 'values', values: values.sort(numeric && k.nFields === 1 ? byNumber : byText) };
}

/** The policy and its tests for what `learner` saw. */
export function synthesize(learner: Learner, o: LearnOptions): Learned {
  const keys = learner.keys.filter((k) => k.writes || (o.reads && k.reads));
  const rules = keys.map((k) => ruleOf(k, o));
  const testsFile = testsFileFor(o.policyFile);
  const policyBase = o.policyFile.replace(/^.*\//, '');
  const warnings: string[] = [];
  const all = keys.flatMap((k) => [k.writes, o.reads ? k.reads : undefined]).filter((s): s is Seen => !!s);
  const first = all.reduce((t, s) => (t === '' || s.from < t ? s.from : t), '');
  const last = all.reduce((t, s) => (s.to > t ? s.to : t), '');
  const withoutValue = keys.reduce((t, k) => t + k.withoutValue, 0);

  const p: string[] = [];
  p.push(`# Learned by \`sysward learn\` from ${inComment(o.source[0] ?? 'nothing')}`);
  for (const s of o.source.slice(1)) p.push(`#   ${inComment(s)}`);
  const writtenKeys = keys.filter((k) => k.writes).length;
  const readKeys = keys.filter((k) => k.reads).length;
  p.push(`# ${plural(learner.writes, 'write')} of ${plural(writtenKeys, 'key')}${o.reads ? `, ${plural(learner.reads, 'read')} of ${plural(readKeys, 'key')}` : ''}${first ? `, ${first === last ? `at ${first}` : `from ${first} to ${last}`}` : ''}.`);
  p.push('# Every write not listed here is refused. Review each rule (keep it narrow, add a reason:),');
  p.push(`# check it with \`sysward test ${testsFile.replace(/^.*\//, '')}\`, try it with mode: audit, then enforce (docs/learn.md).`);
  p.push(`name: ${o.name}`);
  p.push(`description: ${q(`Learned from ${o.source.length ? o.source.join('; ') : 'nothing'}`.slice(0, 400))}`);
  p.push('mode: enforce');
  p.push(`default: { write: deny, read: ${o.reads ? 'deny' : 'allow'} }`);
  if (o.scopeCgroups?.length) p.push(`scope: { cgroups: [${o.scopeCgroups.map(q).join(', ')}] }`);
  if (!rules.length) {
    p.push('rules: []');
    warnings.push(o.reads ? 'nothing was written or read: the policy refuses every write and read' : 'nothing was written: the policy refuses every write');
  } else p.push('rules:');

  keys.forEach((k, i) => {
    const r = rules[i]!;
    const notes: string[] = [];
    if (k.writes) {
      const distinct = k.values.size + k.partial.size;
      notes.push(`written ${times(k.writes.count)}${distinct > 1 ? ` (${plural(distinct, 'value')}${k.tooManyValues ? ' or more' : ''})` : ''} ${period(k.writes)}${by(k.writers)}`);
    }
    if (o.reads && k.reads) notes.push(`read ${times(k.reads.count)} ${period(k.reads)}${by(k.readers)}${k.writes ? '' : '; never written'}`);
    if (k.withoutValue && k.values.size) {
      notes.push(`${plural(k.withoutValue, 'write')} of it counted in summary lines without their values: another value may be among them`);
      warnings.push(`${k.key}: ${plural(k.withoutValue, 'write')} counted without their values (summary lines); values not listed would be refused`);
    }
    const danger = k.writes ? dangerOf(k.segments) : undefined;
    if (danger) {
      notes.push(`CAUTION: ${danger.kind === 'escape' ? 'a container-escape key' : danger.kind === 'hardening' ? 'a host hardening key' : 'a key that can take the host down'}: ${danger.reason}`);
      warnings.push(`${k.key}: ${danger.reason}; make sure the workload should write it`);
    }
    if (r.own) notes.push(`only from the writer's own ${NS_WORDS[k.nsKind!]} namespace: namespace: own refuses writes from the host's`);
    if (r.kind === 'allow') {
      notes.push(`values not limited: ${r.why}`);
      warnings.push(`${k.key}: any value allowed: ${r.why}`);
    }
    for (const n of notes) p.push(`  # ${n}`);
    p.push(`  - key: ${plain(k.key)}`);
    switch (r.kind) {
      case 'values':
        p.push('    values:');
        for (const v of r.values) p.push(`      - ${q(v)}${k.values.size > 1 ? `  # ${times(k.values.get(v)!)}` : ''}`);
        break;
      case 'range': p.push(`    range: [${r.min}, ${r.max}]`); break;
      case 'fields': p.push(`    fields: [${r.fields.map(([a, b]) => `[${a}, ${b}]`).join(', ')}]`); break;
      case 'allow': p.push('    action: allow'); break;
      case 'read-only': p.push('    action: deny'); break;
    }
    if (r.own) p.push('    namespace: own');
    if (o.reads && k.reads) p.push('    reads: allow');
  });

  const t: string[] = [];
  t.push(`# Tests of ${policyBase}, learned with it by \`sysward learn\`: every write it saw is allowed,`);
  t.push('# a value or a key it did not see is refused. Run: sysward test ' + testsFile.replace(/^.*\//, ''));
  t.push(`policy: ${policyBase}`);
  t.push('cases:');
  const ruleKeys = new Set(keys.map((k) => k.key));
  const kase = (lines: string[]) => { t.push(`  - ${lines[0]}`); for (const l of lines.slice(1)) t.push(`    ${l}`); };
  keys.forEach((k, i) => {
    const r = rules[i]!;
    const write = (v: string) => `write: ${q(`${k.key}=${v}`)}`;
    for (const v of sample([...k.values.keys()].sort(byText), r.kind === 'range' || r.kind === 'fields' ? MAX_CASES_PER_RANGE : Infinity)) kase([write(v), 'expect: allowed', `rule: ${plain(k.key)}`]);
    for (const [v, pp] of [...k.partial.entries()].sort((a, b) => byText(a[0], b[0]))) kase([write(v), `pos: ${pp.pos}`, 'expect: allowed', `rule: ${plain(k.key)}`]);
    if (o.reads && k.reads) kase([`read: ${k.key}`, 'expect: allowed', `rule: ${plain(k.key)}`]);
    const allowed = [...k.values.keys()].sort(byText)[0];
    if (r.own && allowed !== undefined) kase([write(allowed), `namespaces: { ${k.nsKind}: host }`, 'expect: refused', `rule: ${plain(k.key)}`, 'reason: host-namespace']);
    const unseen = unseenValue(k, r);
    if (r.kind === 'read-only') kase([write('1'), 'expect: refused', `rule: ${plain(k.key)}`]);
    else if (unseen !== undefined) kase([write(unseen), 'expect: refused', `rule: ${plain(k.key)}`, 'reason: value']);
  });
  const unseenKey = ['kernel.core_pattern', 'kernel.modprobe', 'vm.panic_on_oom', 'kernel.sysrq', 'fs.suid_dumpable'].find((k) => !ruleKeys.has(k));
  if (unseenKey) {
    t.push('  # a key it never wrote');
    kase([`write: ${q(`${unseenKey}=${unseenKey === 'kernel.core_pattern' ? '|/tmp/x' : '1'}`)}`, 'expect: refused', 'rule: default']);
    if (o.reads) kase([`read: ${unseenKey}`, 'expect: refused', 'rule: default']);
  }

  const summary: LearnSummary = {
    name: o.name, writes: learner.writes, reads: learner.reads, writesWithoutValue: withoutValue,
    keys: keys.map((k, i) => {
      const seen = [k.writes, o.reads ? k.reads : undefined].filter((s): s is Seen => !!s);
      const danger = k.writes ? dangerOf(k.segments) : undefined;
      return {
        key: k.key, rule: rules[i]!.kind, ...(rules[i]!.own ? { namespace: 'own' as const } : {}), writes: k.writes?.count ?? 0, reads: k.reads?.count ?? 0, distinctValues: k.values.size + k.partial.size,
        writesWithoutValue: k.withoutValue, firstSeen: seen.reduce((t, s) => earlier(t, s.from), seen[0]!.from), lastSeen: seen.reduce((t, s) => later(t, s.to), seen[0]!.to),
        commands: [...new Set([...k.writers, ...(o.reads ? k.readers : [])])].sort(byText), ...(danger ? { danger: danger.reason } : {}),
      };
    }),
    warnings,
  };
  return { policy: `${p.join('\n')}\n`, tests: `${t.join('\n')}\n`, summary, rules };
}

/** A value the rule refuses, for its refused test case; undefined when the rule refuses none. */
function unseenValue(k: KeyState, r: LearnedRule): string | undefined {
  switch (r.kind) {
    case 'range': {
      const max = BigInt(r.max), min = BigInt(r.min);
      return max < S64_MAX ? String(max + 1n) : min > S64_MIN ? String(min - 1n) : undefined;
    }
    case 'fields': {
      const f = r.fields.map(([a]) => BigInt(a));
      const i = r.fields.findIndex(([, b]) => BigInt(b) < S64_MAX);
      if (i < 0) return undefined;
      f[i] = BigInt(r.fields[i]![1]) + 1n;
      return f.join(' ');
    }
    case 'values': {
      const seen = new Set(r.values);
      const candidates: string[] = [];
      if (typeof k.nFields === 'number') {
        // A number (or vector) one past the largest seen: refused for its value, not its form.
        candidates.push(k.maxs.map((m, i) => (i === k.maxs.length - 1 && m < S64_MAX ? m + 1n : k.mins[i]!)).join(' '));
      }
      candidates.push('sysward-unseen', 'x', '0', '1');
      return candidates.find((c) => !seen.has(c));
    }
    default: return undefined;
  }
}

/** `web.yaml` → `web.test.yaml` (beside it). */
export function testsFileFor(policyFile: string): string {
  const m = /\.ya?ml$/i.exec(policyFile);
  return m ? `${policyFile.slice(0, m.index)}.test${m[0]}` : `${policyFile}.test.yaml`;
}
