// Audit events: decode the program's ring buffer records into what a person reads.
import { AggKey, AggVal, Ev, EV_VALUE_BUF, REASON_NAMES, VERDICT_NAMES, specialRuleIds } from '../compiler/abi.js';
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

const text = (b: Buffer, off: number, size: number) => {
  const s = b.subarray(off, off + size);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? size : end).toString('utf8');
};

/** A value as the helper returned it: len < 0 is an error (-E2BIG: truncated, -EINVAL: none). */
const value = (b: Buffer, off: number, len: number): string | null => {
  if (len === -7) return `${text(b, off, EV_VALUE_BUF).replace(/\n$/, '')}…`;
  if (len < 0) return null;
  return text(b, off, Math.min(len, EV_VALUE_BUF)).replace(/\n$/, '');
};

export function decodeEvent(rec: Buffer, policy: RuleNames, cgroupName?: (id: bigint) => string | undefined): GuardEvent {
  const ts = rec.readBigUInt64LE(Ev.TS);
  const pidTgid = rec.readBigUInt64LE(Ev.PID_TGID);
  const uidGid = rec.readBigUInt64LE(Ev.UID_GID);
  const cgroupId = rec.readBigUInt64LE(Ev.CGROUP);
  const ruleIdx = rec.readUInt32LE(Ev.RULE);
  const write = rec.readUInt8(Ev.WRITE) !== 0;
  const ids = specialRuleIds(policy.rules.length);
  const rule = policy.rules[ruleIdx];
  const kernelKey = text(rec, Ev.NAME, 128);
  const cg = cgroupName?.(cgroupId);
  return {
    time: new Date(Number((ts + monoToWallNs) / 1_000_000n)).toISOString(),
    guard: policy.name,
    verdict: VERDICT_NAMES[rec.readUInt8(Ev.VERDICT)] as GuardEvent['verdict'],
    reason: REASON_NAMES[rec.readUInt8(Ev.REASON)] ?? 'unknown',
    access: write ? 'write' : 'read',
    key: kernelKey ? dottedName(kernelKey.split('/')) : '',
    oldValue: value(rec, Ev.OLD, rec.readInt32LE(Ev.CUR_LEN)),
    newValue: write ? value(rec, Ev.NEW, rec.readInt32LE(Ev.NEW_LEN)) : null,
    filePos: rec.readUInt32LE(Ev.FILE_POS),
    // bpf_get_current_pid_tgid: tgid (the process id) high, pid (the thread id) low.
    pid: Number(pidTgid & 0xffffffffn),
    tgid: Number(pidTgid >> 32n),
    uid: Number(uidGid & 0xffffffffn),
    gid: Number(uidGid >> 32n),
    comm: text(rec, Ev.COMM, 16),
    cgroupId: cgroupId.toString(),
    ...(cg ? { cgroup: cg } : {}),
    rule: rule ? { index: ruleIdx, key: rule.key.text } : { index: ruleIdx, key: ruleIdx === ids.DEFAULT ? 'default' : ruleIdx === ids.NAME_TOO_LONG ? 'name-too-long' : `rule ${ruleIdx}` },
    generation: rec.readUInt32LE(Ev.GENERATION),
    ...namespacesOf(rec, cgroupName),
  };
}

/** The fields records carry since the namespaces were added (older records are shorter). */
function namespacesOf(rec: Buffer, cgroupName?: (id: bigint) => string | undefined): Pick<GuardEvent, 'namespaces' | 'boundTo'> {
  if (rec.length < Ev.SIZE) return {};
  const out: Pick<GuardEvent, 'namespaces' | 'boundTo'> = {};
  const ns: Partial<Record<NsKind, number>> = {};
  NS_KINDS.forEach((k, i) => { const v = rec.readUInt32LE(Ev.NS + i * 4); if (v) ns[k] = v; });
  if (Object.keys(ns).length) out.namespaces = ns;
  const bound = rec.readBigUInt64LE(Ev.BOUND_CGROUP);
  if (bound) {
    const name = cgroupName?.(bound);
    out.boundTo = { cgroupId: bound.toString(), ...(name ? { cgroup: name } : {}) };
  }
  return out;
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

/** ktime (CLOCK_MONOTONIC ns) → ISO wall time. */
export const wallTime = (ktimeNs: bigint): string => new Date(Number((ktimeNs + monoToWallNs) / 1_000_000n)).toISOString();

/** The kind of access an agg entry counts, decoded (names of its version's rules, `names`). */
export function decodeAggKind(key: Buffer, names: RuleNames, cgroupName?: (id: bigint) => string | undefined): Omit<GuardSummary, 'type' | 'count' | 'from' | 'to' | 'time'> {
  const ruleIdx = key.readUInt32LE(AggKey.RULE);
  const ids = specialRuleIds(names.rules.length);
  const rule = names.rules[ruleIdx];
  const kernelKey = text(key, AggKey.NAME, 128);
  const cgroupId = key.readBigUInt64LE(AggKey.CGROUP);
  const cg = cgroupName?.(cgroupId);
  const bound = key.readBigUInt64LE(AggKey.BOUND);
  const boundName = bound ? cgroupName?.(bound) : undefined;
  return {
    guard: names.name,
    verdict: VERDICT_NAMES[key.readUInt8(AggKey.VERDICT)] as GuardEvent['verdict'],
    reason: REASON_NAMES[key.readUInt8(AggKey.REASON)] ?? 'unknown',
    access: key.readUInt8(AggKey.WRITE) ? 'write' : 'read',
    key: kernelKey ? dottedName(kernelKey.split('/')) : '',
    uid: key.readUInt32LE(AggKey.UID),
    comm: text(key, AggKey.COMM, 16),
    cgroupId: cgroupId.toString(),
    ...(cg ? { cgroup: cg } : {}),
    rule: rule ? { index: ruleIdx, key: rule.key.text } : { index: ruleIdx, key: ruleIdx === ids.DEFAULT ? 'default' : ruleIdx === ids.NAME_TOO_LONG ? 'name-too-long' : `rule ${ruleIdx}` },
    generation: key.readUInt32LE(AggKey.GENERATION),
    ...(bound ? { boundTo: { cgroupId: bound.toString(), ...(boundName ? { cgroup: boundName } : {}) } } : {}),
  };
}

/** An agg entry's counts, summed over its CPUs (one Buffer per CPU, or all of them end to end). */
export function aggCounts(v: Buffer | readonly Buffer[]): { count: bigint; suppressed: bigint; first: bigint; last: bigint } {
  const cpus: Buffer[] = Array.isArray(v) ? [...v] : [];
  if (!Array.isArray(v)) { const b = v as Buffer; for (let o = 0; o + AggVal.SIZE <= b.length; o += AggVal.SIZE) cpus.push(b.subarray(o, o + AggVal.SIZE)); }
  const out = { count: 0n, suppressed: 0n, first: 0n, last: 0n };
  for (const c of cpus) {
    out.count += c.readBigUInt64LE(AggVal.COUNT);
    out.suppressed += c.readBigUInt64LE(AggVal.SUPPRESSED);
    const first = c.readBigUInt64LE(AggVal.FIRST), last = c.readBigUInt64LE(AggVal.LAST);
    if (first && (!out.first || first < out.first)) out.first = first;
    if (last > out.last) out.last = last;
  }
  return out;
}

/** One line for a terminal. */
export function formatSummary(s: GuardSummary): string {
  const why = s.reason === 'rule' ? '' : ` [${s.reason}]`;
  return `${s.to} ${s.guard}: ${s.count} more ${s.verdict} ${s.access}${s.count === 1 ? '' : 's'} of ${s.key} by ${s.comm} uid ${s.uid}${s.cgroup ? ` in ${s.cgroup}` : ''} since ${s.from} (summarised: over the event rate): rule ${s.rule.key}${why}`;
}
