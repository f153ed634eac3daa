// Audit events: decode the program's ring buffer records into what a person reads.
import { AggKey, Ev, EV_VALUE_BUF, REASON_NAMES, VERDICT_NAMES, specialRuleIds } from '../compiler/abi.js';
import { dottedName } from '../../sysctl/names.js';
import { NS_KINDS, type NsKind } from '../compiler/task-layout.js';

export interface GuardEvent {
  /** Wall-clock time of the access (ISO 8601). */
  time: string;
  guard: string;
  verdict: 'allowed' | 'refused' | 'audited' | 'would-refuse';
  reason: string;
  access: 'read' | 'write';
  /** As sysctl(8) writes it, e.g. kernel.core_pattern. */
  key: string;
  /** The value before the access (what a read returns); null when it could not be read. */
  oldValue: string | null;
  /** The value written; null on reads. Truncated values end in "…". */
  newValue: string | null;
  filePos: number;
  /** Thread id (the kernel's pid). */
  pid: number;
  /** Process id (the kernel's tgid): what ps shows. */
  tgid: number;
  uid: number;
  gid: number;
  comm: string;
  cgroupId: string;
  /** Cgroup path (relative to the cgroup v2 mount) or container id, when known. */
  cgroup?: string;
  /** The deciding rule: its index and key pattern, or "default" / "name-too-long". */
  rule: { index: number; key: string };
  /** Which applied version of the guard's policy decided (see apply). */
  generation: number;
  /** Inode numbers of the writer's namespaces (as /proc/PID/ns/* shows them), where the kernel lets the guard read them. */
  namespaces?: Partial<Record<NsKind, number>>;
  /**
   * Set when the writer had left its container's cgroup and the guard followed it (by its mount
   * namespace): the cgroup it was bound from (its container), while `cgroup` is where it is now.
   */
  boundTo?: { cgroupId: string; cgroup?: string };
}

/** What decoding needs of a policy: the guard's name and each rule's key pattern, by index. */
export interface RuleNames { name: string; rules: readonly { key: { text: string } }[] }

/** The generation of a raw event record. */
export const eventGeneration = (rec: Buffer): number => rec.readUInt32LE(Ev.GENERATION);

// ktime_get_ns is CLOCK_MONOTONIC, as process.hrtime: the offset turns it into wall time.
const monoToWallNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

// The decoding of a record, per event under a flood: strings are looked up by their raw bytes in
// small maps (a flood repeats a few keys, commands and values), numbers are read as 32-bit halves
// (no BigInt), and the time string is made once per millisecond.

/** Strings by the raw bytes they were decoded from (latin1: one char a byte); cleared when full. */
class StringCache {
  readonly #m = new Map<string, string>();
  constructor(readonly decode: (b: Buffer, off: number, end: number) => string, readonly max = 1024) {}
  get(b: Buffer, off: number, end: number): string {
    const raw = b.toString('latin1', off, end);
    let s = this.#m.get(raw);
    if (s === undefined) {
      if (this.#m.size >= this.max) this.#m.clear();
      s = this.decode(b, off, end);
      this.#m.set(raw, s);
    }
    return s;
  }
}

/** The end of the NUL-terminated string at off (at most size bytes). */
const strEnd = (b: Buffer, off: number, size: number): number => {
  const lim = off + size;
  let i = off;
  while (i < lim && b[i] !== 0) i++;
  return i;
};
const utf8 = (b: Buffer, off: number, end: number) => b.toString('utf8', off, end);
const chomp = (b: Buffer, off: number, end: number) => b.toString('utf8', off, end).replace(/\n$/, '');
const keyNames = new StringCache((b, off, end) => (end > off ? dottedName(b.toString('utf8', off, end).split('/')) : ''));
const comms = new StringCache(utf8);
const values = new StringCache(chomp);
const truncatedValues = new StringCache((b, off, end) => `${chomp(b, off, end)}…`);

/** A value as the helper returned it: len < 0 is an error (-E2BIG: truncated, -EINVAL: none). */
const value = (b: Buffer, off: number, len: number): string | null => {
  if (len === -7) return truncatedValues.get(b, off, strEnd(b, off, EV_VALUE_BUF));
  if (len < 0) return null;
  return values.get(b, off, strEnd(b, off, Math.min(len, EV_VALUE_BUF)));
};

/** A u64 as 32-bit halves: exact as a Number below 2^53, else through BigInt. */
const u64Str = (lo: number, hi: number): string => (hi < 0x200000 ? String(hi * 0x100000000 + lo) : ((BigInt(hi) << 32n) | BigInt(lo)).toString());

// Wall time in ms of a ktime, exactly (as BigInt division would): ns = hi * 2^32 + lo, and
// 2^32 = 4294 * 10^6 + 967296, so every partial sum stays below 2^53.
const offMs = Number(monoToWallNs / 1_000_000n);
const offRemNs = Number(monoToWallNs % 1_000_000n);
let lastMs = -1;
let lastIso = '';
const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/**
 * toISOString's text, from the UTC fields: the first toISOString of a process costs ~0.7 ms here
 * (sysward explain decodes one event), the fields a twentieth of that. Years past four digits are
 * left to toISOString (it writes them with a sign).
 */
export const isoTime = (ms: number): string => {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (y < 1000 || y > 9999) return d.toISOString();
  return `${y}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z`;
};
const isoAt = (lo: number, hi: number): string => {
  const rem = hi * 967296 + lo + offRemNs;
  const ms = offMs + hi * 4294 + Math.floor(rem / 1_000_000);
  if (ms !== lastMs) { lastMs = ms; lastIso = isoTime(ms); }
  return lastIso;
};

/** The last cgroup id seen, as string and BigInt (a flood comes from one cgroup). */
let lastCg = { lo: -1, hi: -1, id: 0n, str: '' };
const cgroupOf = (lo: number, hi: number) => {
  if (lo !== lastCg.lo || hi !== lastCg.hi) lastCg = { lo, hi, id: (BigInt(hi) << 32n) | BigInt(lo), str: u64Str(lo, hi) };
  return lastCg;
};

const ruleOf = (policy: RuleNames, ruleIdx: number): GuardEvent['rule'] => {
  const rule = policy.rules[ruleIdx];
  if (rule) return { index: ruleIdx, key: rule.key.text };
  const ids = specialRuleIds(policy.rules.length);
  return { index: ruleIdx, key: ruleIdx === ids.DEFAULT ? 'default' : ruleIdx === ids.NAME_TOO_LONG ? 'name-too-long' : `rule ${ruleIdx}` };
};

export function decodeEvent(rec: Buffer, policy: RuleNames, cgroupName?: (id: bigint) => string | undefined): GuardEvent {
  const write = rec[Ev.WRITE] !== 0;
  const cgroup = cgroupOf(rec.readUInt32LE(Ev.CGROUP), rec.readUInt32LE(Ev.CGROUP + 4));
  const cg = cgroupName?.(cgroup.id);
  const e: GuardEvent = {
    time: isoAt(rec.readUInt32LE(Ev.TS), rec.readUInt32LE(Ev.TS + 4)),
    guard: policy.name,
    verdict: VERDICT_NAMES[rec[Ev.VERDICT]!] as GuardEvent['verdict'],
    reason: REASON_NAMES[rec[Ev.REASON]!] ?? 'unknown',
    access: write ? 'write' : 'read',
    key: keyNames.get(rec, Ev.NAME, strEnd(rec, Ev.NAME, 128)),
    oldValue: value(rec, Ev.OLD, rec.readInt32LE(Ev.CUR_LEN)),
    newValue: write ? value(rec, Ev.NEW, rec.readInt32LE(Ev.NEW_LEN)) : null,
    filePos: rec.readUInt32LE(Ev.FILE_POS),
    // bpf_get_current_pid_tgid: tgid (the process id) high, pid (the thread id) low.
    pid: rec.readUInt32LE(Ev.PID_TGID),
    tgid: rec.readUInt32LE(Ev.PID_TGID + 4),
    uid: rec.readUInt32LE(Ev.UID_GID),
    gid: rec.readUInt32LE(Ev.UID_GID + 4),
    comm: comms.get(rec, Ev.COMM, strEnd(rec, Ev.COMM, 16)),
    cgroupId: cgroup.str,
  } as GuardEvent;
  if (cg) e.cgroup = cg;
  e.rule = ruleOf(policy, rec.readUInt32LE(Ev.RULE));
  e.generation = rec.readUInt32LE(Ev.GENERATION);
  if (rec.length >= Ev.SIZE) {
    const ns = namespacesOf(rec);
    if (ns) e.namespaces = ns;
    const lo = rec.readUInt32LE(Ev.BOUND_CGROUP), hi = rec.readUInt32LE(Ev.BOUND_CGROUP + 4);
    if (lo || hi) {
      const bound = (BigInt(hi) << 32n) | BigInt(lo);
      const name = cgroupName?.(bound);
      e.boundTo = { cgroupId: u64Str(lo, hi), ...(name ? { cgroup: name } : {}) };
    }
  }
  return e;
}

/**
 * The namespaces of a record (fields records carry since they were added; older ones are
 * shorter). The last one is shared by the events that repeat it, frozen: a flood comes from one
 * process.
 */
let lastNs: { raw: string; ns: Partial<Record<NsKind, number>> | undefined } = { raw: '', ns: undefined };
function namespacesOf(rec: Buffer): Partial<Record<NsKind, number>> | undefined {
  const raw = rec.toString('latin1', Ev.NS, Ev.NS + NS_KINDS.length * 4);
  if (raw === lastNs.raw) return lastNs.ns;
  const ns: Partial<Record<NsKind, number>> = {};
  let any = false;
  NS_KINDS.forEach((k, i) => { const v = rec.readUInt32LE(Ev.NS + i * 4); if (v) { ns[k] = v; any = true; } });
  lastNs = { raw, ns: any ? Object.freeze(ns) : undefined };
  return lastNs.ns;
}

/** JSON string literals of the strings events repeat (keys, commands, values, names); cleared when full. */
const quoted = new Map<string, string>();
const q = (s: string): string => {
  let j = quoted.get(s);
  if (j === undefined) {
    if (quoted.size >= 4096) quoted.clear();
    j = JSON.stringify(s);
    quoted.set(s, j);
  }
  return j;
};
const qn = (s: string | null) => (s === null ? 'null' : q(s));
let nsJson: { ns: object | undefined; json: string } = { ns: undefined, json: '' };
/** The time changes every millisecond: kept apart from the strings that repeat. */
let timeJson = { time: '', json: '""' };

/**
 * JSON.stringify(e) for an event decodeEvent made, exactly, from cached pieces: the one
 * serialisation of an event under a flood (the audit log). Field order is decodeEvent's.
 */
export function eventJson(e: GuardEvent): string {
  // A verdict the kernel does not send (a record from a newer program): JSON.stringify leaves it out.
  if (e.verdict === undefined) return JSON.stringify(e);
  if (e.time !== timeJson.time) timeJson = { time: e.time, json: JSON.stringify(e.time) };
  let s = `{"time":${timeJson.json},"guard":${q(e.guard)},"verdict":${q(e.verdict)},"reason":${q(e.reason)},"access":${q(e.access)},"key":${q(e.key)},"oldValue":${qn(e.oldValue)},"newValue":${qn(e.newValue)},"filePos":${e.filePos},"pid":${e.pid},"tgid":${e.tgid},"uid":${e.uid},"gid":${e.gid},"comm":${q(e.comm)},"cgroupId":${q(e.cgroupId)}`;
  if (e.cgroup !== undefined) s += `,"cgroup":${q(e.cgroup)}`;
  s += `,"rule":{"index":${e.rule.index},"key":${q(e.rule.key)}},"generation":${e.generation}`;
  if (e.namespaces !== undefined) {
    if (e.namespaces !== nsJson.ns) nsJson = { ns: e.namespaces, json: JSON.stringify(e.namespaces) };
    s += `,"namespaces":${nsJson.json}`;
  }
  if (e.boundTo !== undefined) s += `,"boundTo":${JSON.stringify(e.boundTo)}`;
  return `${s}}`;
}

/** One line for a terminal: `refused write kernel.core_pattern = "|/tmp/x" (was "core") by sh[123] uid 0 in /x: rule 0 kernel.core_pattern`. */
export function formatEvent(e: GuardEvent): string {
  const v = e.access === 'write' ? ` = ${JSON.stringify(e.newValue ?? '')}${e.oldValue !== null ? ` (was ${JSON.stringify(e.oldValue)})` : ''}` : '';
  const why = e.reason === 'rule' ? '' : ` [${e.reason}]`;
  const moved = e.boundTo ? ` (left ${e.boundTo.cgroup ?? `cgroup id ${e.boundTo.cgroupId}`}, followed by its mount namespace)` : '';
  return `${e.time} ${e.guard}: ${e.verdict === 'refused' ? 'refused (EPERM)' : e.verdict} ${e.access} ${e.key}${v} by ${e.comm}[${e.tgid}] uid ${e.uid}${e.cgroup ? ` in ${e.cgroup}` : ''}${moved}: rule ${e.rule.key}${why}`;
}

/**
 * A summary: accesses of one kind (rule, key, cgroup, uid, command, verdict, reason) that were
 * counted but not sent as events (over the per-kind rate, or the ring buffer full), since the
 * last summary of that kind. Events + summaries' counts = what the kernel decided, exactly.
 */
export interface GuardSummary extends Omit<GuardEvent, 'oldValue' | 'newValue' | 'filePos' | 'pid' | 'tgid' | 'gid' | 'namespaces'> {
  type: 'summary';
  /** Accesses not reported as events since the last summary of this kind. */
  count: number;
  /** The period: the last summary of this kind (or its first access), to its latest access. */
  from: string;
  to: string;
}

/**
 * Accesses a guard could not attribute to a kind nor send as an event: every kind slot was taken
 * (abi.ts AGG_MAX) and the ring buffer was full. Counted by the program (the drop counter), never
 * silent: the daemon writes what it counted since its last line.
 */
export interface GuardDropped {
  type: 'dropped';
  time: string;
  guard: string;
  /** Accesses dropped between `from` (the last such line, or when the guard was applied) and `to`. */
  count: number;
  from: string;
  to: string;
  why: string;
}

/** What a guard's summaries are: counts by kind, and what could not be attributed. */
export type GuardReport = GuardSummary | GuardDropped;

/** ktime (CLOCK_MONOTONIC ns) → ISO wall time. */
export const wallTime = (ktimeNs: bigint): string => new Date(Number((ktimeNs + monoToWallNs) / 1_000_000n)).toISOString();

/** The kind of access an agg entry counts, decoded (names of its version's rules, `names`). */
export function decodeAggKind(key: Buffer, names: RuleNames, cgroupName?: (id: bigint) => string | undefined): Omit<GuardSummary, 'type' | 'count' | 'from' | 'to' | 'time'> {
  const cgroupId = key.readBigUInt64LE(AggKey.CGROUP);
  const cg = cgroupName?.(cgroupId);
  const bound = key.readBigUInt64LE(AggKey.BOUND);
  const boundName = bound ? cgroupName?.(bound) : undefined;
  return {
    guard: names.name,
    verdict: VERDICT_NAMES[key.readUInt8(AggKey.VERDICT)] as GuardEvent['verdict'],
    reason: REASON_NAMES[key.readUInt8(AggKey.REASON)] ?? 'unknown',
    access: key.readUInt8(AggKey.WRITE) ? 'write' : 'read',
    key: keyNames.get(key, AggKey.NAME, strEnd(key, AggKey.NAME, 128)),
    uid: key.readUInt32LE(AggKey.UID),
    comm: comms.get(key, AggKey.COMM, strEnd(key, AggKey.COMM, 16)),
    cgroupId: cgroupId.toString(),
    ...(cg ? { cgroup: cg } : {}),
    rule: ruleOf(names, key.readUInt32LE(AggKey.RULE)),
    generation: key.readUInt32LE(AggKey.GENERATION),
    ...(bound ? { boundTo: { cgroupId: bound.toString(), ...(boundName ? { cgroup: boundName } : {}) } } : {}),
  };
}

/** One line for a terminal. */
export function formatSummary(s: GuardReport): string {
  if (s.type === 'dropped') return `${s.to} ${s.guard}: ${s.count} access${s.count === 1 ? '' : 'es'} dropped since ${s.from} (${s.why})`;
  const why = s.reason === 'rule' ? '' : ` [${s.reason}]`;
  return `${s.to} ${s.guard}: ${s.count} more ${s.verdict} ${s.access}${s.count === 1 ? '' : 's'} of ${s.key} by ${s.comm} uid ${s.uid}${s.cgroup ? ` in ${s.cgroup}` : ''} since ${s.from} (summarised: over the event rate): rule ${s.rule.key}${why}`;
}
