// Guard tables → the eBPF program, written with the toolkit's assembler. The program's cost does
// not depend on the number of rules: one hash lookup for exact keys, one LPM lookup for subtrees,
// and one block per distinct wildcard prefix (not per rule). See docs/guard.md ("The program")
// and docs/design.md.
import { Assembler, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, type AssembledProgram, type MapLike } from '../../bpf/asm/index.js';
import {
  AGG_MAX, AggHeader, AggKey, AggSlot, AggVal, Bind, ConfigIndex, ConstraintCode, CounterKind, Ev, MAX_FIELDS, NAME_BUF, NsCode, Reason, Rec, Scratch, VALUE_BUF, VALUE_MAX,
  Verdict, WILD_REM_BUF, WILDCARD_SEGMENT_MAX, ActionCode, dropsCounterIndex,
} from './abi.js';
import type { GuardTables } from './tables.js';
import { NS_KINDS, NSPROXY_MEMBER, type NsKind, type TaskLayout } from './task-layout.js';

/** The program's maps: by name in a spec (compile.ts), or as objects. */
export interface GuardMaps {
  scratch: MapRef; exact: MapRef; subtree: MapRef; wild: MapRef; values: MapRef;
  config: MapRef; counters: MapRef; events: MapRef; exempt: MapRef;
  /** The follower's: mount namespace inode → the cgroup it was bound from (struct binding, abi.ts). */
  bound?: MapRef;
  /** Accounting by kind (abi.ts): kind → slot, the slots' counts, the freed slots. All or none. */
  agg?: MapRef; aggv?: MapRef; aggfree?: MapRef;
}

/** What the program needs to read the writer's namespaces: this kernel's offsets, the host's namespaces. */
export interface NamespaceFacts {
  layout: TaskLayout;
  /** Inode numbers of the host's (initial) namespaces, as /proc/PID/ns/* shows them. */
  host: Record<NsKind, number>;
}
type MapRef = MapLike | string;

export interface ProgramOptions {
  mode: 'enforce' | 'audit';
  /** Depths (root = 0) of the exempt cgroups; the exempt map holds their ids. */
  exemptLevels?: number[];
  /** Written into every event, so a reader can tell which policy (rule numbering) produced it. */
  generation?: number;
  /**
   * Read the writer's namespaces (into events, and for `namespace: own` rules). Without them the
   * events carry none and `namespace: own` is not checked (a kernel without BTF or the helpers).
   */
  namespaces?: NamespaceFacts;
  /**
   * Events each kind of access (rule, key, cgroup, uid, command, verdict, reason) sends at full
   * detail per second; the rest are counted in the `agg` map, which the daemon turns into summary
   * lines. 0: every access sends an event (the interpreter's single accesses, the differential
   * tests), still counted. Needs maps.agg.
   */
  eventsPerSecond?: number;
  /** Slots of the aggv map past its header (default AGG_MAX). */
  aggKinds?: number;
  /**
   * The follower: the copy attached at the root cgroup. It decides only for tasks whose mount
   * namespace is in the `bound` map and that are no longer below the cgroup they were bound from
   * (there the copy attached to that cgroup decides); every other task passes untouched.
   */
  follow?: boolean;
}

// Stack slots (offsets from r10).
const KEY = -4; // u32 map key for array lookups
const REASON = -16; // u64 reason code of the pending verdict
const NUM = -24; // u64 strtol result
const LEN = -32; // u64 length of the written value (newline stripped)
const CGID = -40; // u64 ancestor cgroup id being checked for exemption
const RAWLEN = -48; // u64 length of the written value as written
const BOUND = -56; // u64 the follower's: cgroup id the writer's mount namespace is bound to (else 0)
const MNTKEY = -64; // u64 the follower's: the writer's mount namespace as the bound map keys it
const AGGV = -72; // the aggv value of the access being reported (a spilled map value pointer)
const NOW = -80; // u64 ktime of the access being reported
const SLOT = -96; // struct agg_slot of the access being reported (u32 slot; u32 pad; u64 tag)
const VERD = -104; // u64 the verdict being reported (the report block's argument, and where it returns to)

export function generateGuardProgram(t: GuardTables, maps: GuardMaps, o: ProgramOptions): AssembledProgram {
  const a = new Assembler();
  let n = 0;
  const uniq = (s: string) => `${s}_${n++}`;
  const refuseRet = o.mode === 'enforce' ? 0 : 1;

  /** r0 = map[idx] (array map, u32 key); jumps to `onNull` when absent. Clobbers r1-r5. */
  const arrayLookup = (map: MapRef, idx: number | typeof R1, onNull: string) => {
    if (typeof idx === 'number') a.st('u32', R10, KEY, idx); else a.stx('u32', R10, KEY, idx);
    a.ldMapFd(R1, map).mov(R2, R10).add(R2, KEY).call('map_lookup_elem').jeq(R0, 0, onNull);
  };
  /** counters[rule * 3 + kind] += 1, rule from the record in r8. */
  const count = (kind: number) => {
    const skip = uniq('count_skip');
    a.ldx('u32', R1, R8, Rec.ID).mul(R1, 3).add(R1, kind);
    arrayLookup(maps.counters, R1, skip);
    a.mov(R1, 1).atomic('add', 'u64', R0, 0, R1).label(skip);
  };
  /**
   * Reserve an event, fill it, submit. A full buffer is never waited on: `onFull` counts it (the
   * access's agg entry, or the drop counter when it has none).
   */
  const sendEvent = (onFull: () => void) => {
    const full = uniq('emit_full'), done = uniq('emit_done');
    a.ldMapFd(R1, maps.events).mov(R2, Ev.SIZE).mov(R3, 0).call('ringbuf_reserve').jeq(R0, 0, full);
    a.mov(R9, R0);
    a.call('ktime_get_ns').stx('u64', R9, Ev.TS, R0);
    a.call('get_current_pid_tgid').stx('u64', R9, Ev.PID_TGID, R0);
    a.call('get_current_uid_gid').stx('u64', R9, Ev.UID_GID, R0);
    a.call('get_current_cgroup_id').stx('u64', R9, Ev.CGROUP, R0);
    a.ldx('u32', R1, R8, Rec.ID).stx('u32', R9, Ev.RULE, R1);
    a.ldx('u64', R1, R10, VERD).stx('u8', R9, Ev.VERDICT, R1);
    a.ldx('u32', R1, R6, 0).stx('u8', R9, Ev.WRITE, R1);
    a.ldx('u64', R1, R10, REASON).stx('u8', R9, Ev.REASON, R1);
    a.st('u8', R9, Ev.REASON + 1, 0);
    a.ldx('u32', R1, R6, 4).stx('u32', R9, Ev.FILE_POS, R1);
    a.st('u32', R9, Ev.GENERATION, (o.generation ?? 0) | 0);
    a.mov(R1, R9).add(R1, Ev.COMM).mov(R2, 16).call('get_current_comm');
    a.mov(R1, R6).mov(R2, R9).add(R2, Ev.NAME).mov(R3, NAME_BUF).mov(R4, 0).call('sysctl_get_name');
    a.mov(R1, R6).mov(R2, R9).add(R2, Ev.OLD).mov(R3, 128).call('sysctl_get_current_value').stx('u32', R9, Ev.CUR_LEN, R0);
    a.mov(R1, R6).mov(R2, R9).add(R2, Ev.NEW).mov(R3, 128).call('sysctl_get_new_value').stx('u32', R9, Ev.NEW_LEN, R0);
    emitNamespaces();
    a.ldx('u64', R1, R10, BOUND).stx('u64', R9, Ev.BOUND_CGROUP, R1);
    a.mov(R1, R9).mov(R2, 0).call('ringbuf_submit').ja(done);
    a.label(full);
    onFull();
    a.label(done);
  };
  const countDrop = (done: string) => () => {
    arrayLookup(maps.counters, dropsCounterIndex(t.nRules), done);
    a.mov(R1, 1).atomic('add', 'u64', R0, 0, R1);
  };
  /**
   * Report an access: counted in its kind's slot (found through the CPU's memo of the kind it
   * reported last, else the agg hash; made on first sight), sent as an event while the kind is
   * under its rate, else counted as suppressed. Without a slot (AGG_MAX kinds live) it is sent as
   * before, and a full ring buffer is a counted drop: nothing goes unaccounted. abi.ts has the maps.
   */
  /**
   * Report an access with `verdict`: one block for every site (it is the program's largest), entered
   * with the verdict on the stack and left by jumping back to the site's continuation, which the
   * verdict tells (each verdict is reported from one site).
   */
  const returns = new Map<number, string>();
  const emit = (verdict: number) => {
    const back = `report_return_${verdict}`;
    if (returns.has(verdict)) throw new Error(`verdict ${verdict} reported from two sites`);
    returns.set(verdict, back);
    // Through a register: kernels before 6.3 do not track a constant stored from an immediate, and
    // would then follow every return from the block (and refuse the program).
    a.mov(R1, verdict).stx('u64', R10, VERD, R1).ja('report');
    a.label(back);
  };
  const reportBlock = () => {
    const done = 'report_done';
    a.label('report');
    if (!maps.agg || !maps.aggv || !maps.aggfree) sendEvent(countDrop(done));
    else reportByKind(done, maps.agg, maps.aggv, maps.aggfree);
    a.label(done);
    const list = [...returns];
    a.ldx('u64', R1, R10, VERD);
    for (const [v, back] of list.slice(0, -1)) a.jeq(R1, v, back);
    if (list.length) a.ja(list[list.length - 1]![1]);
  };
  const reportByKind = (done: string, agg: MapRef, aggv: MapRef, aggfree: MapRef) => {
    const unattributed = uniq('unattributed'), miss = uniq('memo_miss'), known = uniq('agg_known'), popped = uniq('slot_popped'), relookup = uniq('agg_relookup');
    const remember = uniq('remember'), found = uniq('slot_found'), suppress = uniq('suppress'), send = uniq('send'), firstSet = uniq('first_set');
    const K = Scratch.AGG_KEY, M = Scratch.MEMO_KEY;
    a.st('u32', R7, K + AggKey.GENERATION, (o.generation ?? 0) | 0);
    a.ldx('u32', R1, R8, Rec.ID).stx('u32', R7, K + AggKey.RULE, R1);
    a.ldx('u64', R1, R10, VERD).stx('u8', R7, K + AggKey.VERDICT, R1);
    a.ldx('u64', R1, R10, REASON).stx('u8', R7, K + AggKey.REASON, R1);
    a.ldx('u32', R1, R6, 0).stx('u8', R7, K + AggKey.WRITE, R1);
    a.st('u8', R7, K + AggKey.WRITE + 1, 0);
    a.call('get_current_uid_gid').stx('u32', R7, K + AggKey.UID, R0);
    a.call('get_current_cgroup_id').stx('u64', R7, K + AggKey.CGROUP, R0);
    a.ldx('u64', R1, R10, BOUND).stx('u64', R7, K + AggKey.BOUND, R1);
    a.mov(R1, R7).add(R1, K + AggKey.COMM).mov(R2, 16).call('get_current_comm');
    // The kind this CPU reported last? The key's fields, then the name where the lookups left it
    // (copied into the key only on a miss). A fresh memo has tag 0, which no slot's owner has.
    for (let w = 0; w < AggKey.NAME; w += 8) a.ldx('u64', R1, R7, K + w).ldx('u64', R2, R7, M + w).jne(R1, R2, miss);
    // The same rule, and an exact one: the same name (the name is compared for the others).
    const sameName = uniq('same_name');
    a.ldx('u8', R1, R8, Rec.EXACT).jne(R1, 0, sameName);
    for (let w = 0; w < NAME_BUF; w += 8) a.ldx('u64', R1, R7, Scratch.NAME + w).ldx('u64', R2, R7, M + AggKey.NAME + w).jne(R1, R2, miss);
    a.label(sameName);
    a.ldx('u64', R1, R7, Scratch.MEMO_TAG).jeq(R1, 0, miss);
    a.ldx('u32', R1, R7, Scratch.MEMO_SLOT);
    arrayLookup(aggv, R1, miss);
    a.ldx('u64', R1, R7, Scratch.MEMO_TAG).ldx('u64', R2, R0, AggVal.TAG).jeq(R1, R2, found);
    a.label(miss);
    // The name as the lookups saw it (NUL-padded; a name too long to read is what fitted).
    for (let w = 0; w < NAME_BUF; w += 8) a.ldx('u64', R1, R7, Scratch.NAME + w).stx('u64', R7, K + AggKey.NAME + w, R1);
    a.ldMapFd(R1, agg).mov(R2, R7).add(R2, K).call('map_lookup_elem').jne(R0, 0, known);
    // First sight: a freed slot, else a fresh one; a fresh tag; the slot zeroed, then published.
    a.st('u64', R10, SLOT, 0).st('u64', R10, SLOT + 8, 0);
    a.ldMapFd(R1, aggfree).mov(R2, R10).add(R2, SLOT).call('map_pop_elem').jeq(R0, 0, popped);
    arrayLookup(aggv, 0, unattributed);
    a.mov(R1, 1).atomicFetch('add', 'u64', R0, AggHeader.LAST_SLOT, R1).add(R1, 1).jgt(R1, o.aggKinds ?? AGG_MAX, unattributed);
    a.stx('u32', R10, SLOT + AggSlot.SLOT, R1);
    a.label(popped);
    arrayLookup(aggv, 0, unattributed);
    a.mov(R1, 1).atomicFetch('add', 'u64', R0, AggHeader.LAST_TAG, R1).add(R1, 1).stx('u64', R10, SLOT + AggSlot.TAG, R1);
    a.ldx('u32', R1, R10, SLOT + AggSlot.SLOT).jeq(R1, 0, unattributed);
    arrayLookup(aggv, R1, unattributed);
    for (let w = 0; w < AggVal.TAG; w += 8) a.st('u64', R0, w, 0);
    a.ldx('u64', R1, R10, SLOT + AggSlot.TAG).stx('u64', R0, AggVal.TAG, R1);
    a.ldMapFd(R1, agg).mov(R2, R7).add(R2, K).mov(R3, R10).add(R3, SLOT).mov(R4, 1 /* BPF_NOEXIST */).call('map_update_elem').jeq(R0, 0, remember);
    // Another CPU published the kind first (or the hash is full): the slot goes back.
    a.ldx('u32', R1, R10, SLOT + AggSlot.SLOT);
    arrayLookup(aggv, R1, relookup);
    a.st('u64', R0, AggVal.TAG, 0);
    a.ldMapFd(R1, aggfree).mov(R2, R10).add(R2, SLOT).mov(R3, 0).call('map_push_elem');
    a.label(relookup);
    a.ldMapFd(R1, agg).mov(R2, R7).add(R2, K).call('map_lookup_elem').jeq(R0, 0, unattributed);
    a.label(known);
    a.ldx('u32', R1, R0, AggSlot.SLOT).stx('u32', R10, SLOT + AggSlot.SLOT, R1);
    a.ldx('u64', R1, R0, AggSlot.TAG).stx('u64', R10, SLOT + AggSlot.TAG, R1);
    a.label(remember);
    // A preemptible kernel runs the program with migration, not preemption, disabled: another task
    // on this CPU may rewrite the memo while this one does. The tag is cleared first, the rewriter
    // named, and the tag written last only by the task still named: an interleaved memo's tag is
    // not its slot's, so it misses rather than counting one kind in another's slot.
    const notMine = uniq('memo_not_mine');
    a.st('u64', R7, Scratch.MEMO_TAG, 0);
    a.call('get_current_pid_tgid').stx('u64', R7, Scratch.MEMO_OWNER, R0);
    for (let w = 0; w < AggKey.SIZE; w += 8) a.ldx('u64', R1, R7, K + w).stx('u64', R7, M + w, R1);
    a.ldx('u32', R1, R10, SLOT + AggSlot.SLOT).stx('u32', R7, Scratch.MEMO_SLOT, R1);
    a.call('get_current_pid_tgid').ldx('u64', R1, R7, Scratch.MEMO_OWNER).jne(R0, R1, notMine);
    a.ldx('u64', R2, R10, SLOT + AggSlot.TAG).stx('u64', R7, Scratch.MEMO_TAG, R2);
    a.label(notMine);
    a.ldx('u32', R1, R10, SLOT + AggSlot.SLOT);
    arrayLookup(aggv, R1, unattributed);
    // Freed and handed to another kind between the lookup and here (the daemon frees idle kinds only).
    a.ldx('u64', R1, R10, SLOT + AggSlot.TAG).ldx('u64', R2, R0, AggVal.TAG).jne(R1, R2, unattributed);
    a.label(found);
    // Shared by the CPUs: count and sent are atomic adds (suppressed = count - sent: a flood adds
    // to count alone). A sent access adds to sent before count, so a reader copying count, then
    // sent, may see one too few suppressed for a moment, never one too many (its summaries
    // report the rest later). The window is a rate, not a count: plain stores.
    a.stx('u64', R10, AGGV, R0);
    // The coarse clock (a tick's resolution) is enough for a one-second window and summaries' times.
    a.call('ktime_get_coarse_ns').stx('u64', R10, NOW, R0);
    a.ldx('u64', R1, R10, AGGV).ldx('u64', R2, R1, AggVal.FIRST).jne(R2, 0, firstSet);
    a.stx('u64', R1, AggVal.FIRST, R0);
    a.label(firstSet);
    a.ldx('u64', R2, R1, AggVal.LAST).jeq(R2, R0, `${firstSet}_same`);
    a.stx('u64', R1, AggVal.LAST, R0);
    a.label(`${firstSet}_same`);
    const limit = o.eventsPerSecond ?? 0;
    if (limit > 0) {
      // A one-second window per kind: the first `limit` accesses in it are sent (two CPUs opening
      // a window at once may send a few more); every access is counted, once.
      const inWindow = uniq('in_window');
      a.ldx('u64', R2, R1, AggVal.WINDOW_START).mov(R3, R0).sub(R3, R2).jlt(R3, 1_000_000_000, inWindow);
      a.stx('u64', R1, AggVal.WINDOW_START, R0).st('u32', R1, AggVal.WINDOW_EVENTS, 0);
      a.label(inWindow);
      a.ldx('u32', R2, R1, AggVal.WINDOW_EVENTS).jge(R2, limit, suppress);
      a.add(R2, 1).stx('u32', R1, AggVal.WINDOW_EVENTS, R2);
    }
    a.mov(R2, 1).atomic('add', 'u64', R1, AggVal.SENT, R2);
    a.mov(R2, 1).atomic('add', 'u64', R1, AggVal.COUNT, R2).ja(send);
    if (limit > 0) {
      a.label(suppress);
      a.mov(R2, 1).atomic('add', 'u64', R1, AggVal.COUNT, R2).ja(done);
    }
    // No slot (AGG_MAX kinds live): the same event, and a full buffer is a drop, not a suppression.
    a.label(unattributed);
    a.st('u64', R10, AGGV, 0);
    a.label(send);
    // A full ring buffer: not sent after all (a kind with a slot: suppressed; one without: a drop).
    sendEvent(() => {
      const drop = uniq('full_drop');
      a.ldx('u64', R1, R10, AGGV).jeq(R1, 0, drop);
      a.mov(R2, -1).atomic('add', 'u64', R1, AggVal.SENT, R2).ja(done);
      a.label(drop);
      countDrop(done)();
    });
  };
  /** If the value in scratch at `off` (length in r0, < VALUE_BUF) ends in "\n", drop it. r0 = new length. */
  const stripNewline = (off: number, tooLong: string) => {
    const done = uniq('strip_done');
    a.jeq(R0, 0, done).jgt(R0, VALUE_BUF - 1, tooLong);
    a.mov(R1, R7).add(R1, R0).ldx('u8', R2, R1, off - 1).jne(R2, 0x0a, done);
    a.st('u8', R1, off - 1, 0).sub(R0, 1);
    a.label(done);
  };
  const setReason = (r: number) => a.st('u64', R10, REASON, r);
  const ns = o.namespaces;
  const L = ns?.layout;
  /** r<dst> = the inode number of the current task's namespace of `kind`; r0 = the task (get_current_task_btf). */
  const nsInum = (dst: typeof R1, kind: Exclude<NsKind, 'pid'>) => {
    if (!L) throw new Error('nsInum without namespace facts');
    if (kind === 'user') a.ldx('u64', dst, R0, L.cred).ldx('u64', dst, dst, L.credUserNs);
    else a.ldx('u64', dst, R0, L.nsproxy).ldx('u64', dst, dst, L.proxy[kind as keyof typeof NSPROXY_MEMBER]);
    // Kernel pointers read as BTF pointers: a NULL one (an exiting task's nsproxy) reads as 0.
    a.ldx('u32', dst, dst, L.inum[kind]);
  };
  /**
   * r<dst> = the inode number of the task's own (active) PID namespace, 0 past 8 levels of nesting;
   * r0 = the task. thread_pid->numbers[thread_pid->level].ns: the verifier takes only constant
   * offsets into kernel structs, so one branch per level. Clobbers r2, r3.
   */
  const pidNsInum = (dst: typeof R1) => {
    if (!L) throw new Error('pidNsInum without namespace facts');
    const done = uniq('pid_done');
    a.mov(dst, 0).ldx('u64', R2, R0, L.threadPid).ldx('u32', R3, R2, L.pidLevel);
    for (let level = 0; level < 8; level++) {
      const next = uniq('pid_level');
      a.jne(R3, level, next).ldx('u64', dst, R2, L.pidNumbers + level * L.upidSize + L.upidNs).ldx('u32', dst, dst, L.inum.pid).ja(done).label(next);
    }
    a.label(done);
  };
  /** The event's ns[] (r9 = the record): every namespace of the writer, 0 where unknown. */
  const emitNamespaces = () => {
    for (let i = 0; i < NS_KINDS.length; i++) a.st('u32', R9, Ev.NS + i * 4, 0);
    a.st('u32', R9, Ev.NS + NS_KINDS.length * 4, 0);
    if (!L) return;
    a.call('get_current_task_btf');
    NS_KINDS.forEach((kind, i) => {
      if (kind === 'pid') return;
      nsInum(R1, kind);
      a.stx('u32', R9, Ev.NS + i * 4, R1);
    });
    pidNsInum(R1);
    a.stx('u32', R9, Ev.NS + NS_KINDS.indexOf('pid') * 4, R1);
  };

  // ---- entry
  a.mov(R6, R1);
  if (!t.hasReadRules) {
    // No rule looks at reads: every read is allowed before any work (reads are most accesses).
    a.ldx('u32', R1, R6, 0).jne(R1, 0, 'write');
    a.mov(R0, 1).exit();
    a.label('write');
  }
  // ---- exempt cgroups: one ancestor lookup per distinct depth, not per cgroup; in one, go to `to`.
  const exemptLevels = [...new Set(o.exemptLevels ?? [])].sort((x, y) => x - y);
  const inExempt = (to: string) => {
    for (const level of exemptLevels) {
      a.mov(R1, level).call('get_current_ancestor_cgroup_id').stx('u64', R10, CGID, R0);
      a.ldMapFd(R1, maps.exempt).mov(R2, R10).add(R2, CGID).call('map_lookup_elem').jne(R0, 0, to);
    }
  };
  if (o.follow) {
    // ---- the follower: only tasks of a bound mount namespace that left the cgroup it was bound from
    if (!L || !maps.bound) throw new Error('the follower needs namespace facts and the bound map');
    a.call('get_current_task_btf').ldx('u64', R2, R0, L.nsproxy).ldx('u64', R2, R2, L.proxy.mnt);
    a.ldx('u32', R1, R2, L.inum.mnt).jeq32(R1, ns!.host.mnt | 0, 'pass').jeq(R1, 0, 'pass');
    // The key: the namespace's 64-bit id (never reused) where the kernel has one, else its inode.
    if (L.mntId !== undefined) a.ldx('u64', R1, R2, L.mntId);
    a.stx('u64', R10, MNTKEY, R1);
    a.ldMapFd(R1, maps.bound).mov(R2, R10).add(R2, MNTKEY).call('map_lookup_elem').jeq(R0, 0, 'pass');
    a.ldx('u64', R1, R0, Bind.CGROUP).stx('u64', R10, BOUND, R1);
    a.ldx('u32', R1, R0, Bind.LEVEL).call('get_current_ancestor_cgroup_id');
    a.ldx('u64', R1, R10, BOUND).jne(R0, R1, 'followed');
    // Still below the cgroup it was bound from, the copy attached there decides — but that copy
    // lets an exempt cgroup through, and a bound task that moved itself into one below its
    // cgroup must stay guarded (tasks found in exempt cgroups are never bound: bindings.ts).
    inExempt('followed');
    a.ja('pass');
    a.label('followed');
  } else {
    a.st('u64', R10, BOUND, 0);
  }
  // The follower's tasks are guarded wherever they moved: an exempt cgroup does not lift the guard
  // (above, its own check for tasks still below their cgroup).
  if (!o.follow) inExempt('exempt');
  setReason(Reason.RULE);
  arrayLookup(maps.scratch, 0, 'fail_closed');
  a.mov(R7, R0);

  // ---- the name, NUL-padded (the exact map's key is all NAME_BUF bytes)
  for (let off = 0; off < NAME_BUF; off += 8) a.st('u64', R7, Scratch.NAME + off, 0);
  a.mov(R1, R6).mov(R2, R7).add(R2, Scratch.NAME).mov(R3, NAME_BUF).mov(R4, 0).call('sysctl_get_name');
  a.jslt(R0, 0, 'name_too_long');

  // ---- exact keys beat everything
  a.ldMapFd(R1, maps.exact).mov(R2, R7).add(R2, Scratch.NAME).call('map_lookup_elem');
  a.mov(R8, R0).jne(R8, 0, 'decide');

  // ---- longest subtree
  if (t.subtree.length) {
    a.st('u32', R7, Scratch.LPM_KEY, NAME_BUF * 8);
    a.ldMapFd(R1, maps.subtree).mov(R2, R7).add(R2, Scratch.LPM_KEY).call('map_lookup_elem');
    a.mov(R8, R0);
  }

  // ---- one block per wildcard prefix: name = prefix + segment + "/" + remainder
  for (const g of t.groups) {
    const next = uniq('group_next'), found = uniq('group_found'), take = uniq('group_take');
    const p = Buffer.from(g.prefix);
    for (let i = 0; i + 8 <= p.length; i += 8) {
      a.ldx('u64', R1, R7, Scratch.NAME + i).ldImm64(R2, p.readBigUInt64LE(i)).jne(R1, R2, next);
    }
    const tail = p.length % 8;
    if (tail) {
      const at = p.length - tail;
      const chunk = Buffer.alloc(8);
      p.copy(chunk, 0, at);
      a.ldx('u64', R1, R7, Scratch.NAME + at).ldImm64(R3, (1n << BigInt(tail * 8)) - 1n).and(R1, R3);
      a.ldImm64(R2, chunk.readBigUInt64LE(0)).jne(R1, R2, next);
    }
    for (let j = 1; j <= WILDCARD_SEGMENT_MAX; j++) {
      a.ldx('u8', R1, R7, Scratch.NAME + p.length + j).mov(R9, p.length + j + 1).jeq(R1, 0x2f, found).jeq(R1, 0, next);
    }
    a.ja(next);
    a.label(found);
    a.mov(R2, R7).add(R2, R9);
    for (let w = 0; w < WILD_REM_BUF; w += 8) a.ldx('u64', R1, R2, Scratch.NAME + w).stx('u64', R7, Scratch.WILD_REM + w, R1);
    a.st('u32', R7, Scratch.WILD_KEY, (4 + WILD_REM_BUF) * 8).st('u32', R7, Scratch.WILD_GROUP, g.id);
    a.ldMapFd(R1, maps.wild).mov(R2, R7).add(R2, Scratch.WILD_KEY).call('map_lookup_elem');
    a.jeq(R0, 0, next).jeq(R8, 0, take);
    a.ldx('u32', R1, R0, Rec.SPECIFICITY).ldx('u32', R2, R8, Rec.SPECIFICITY).jle(R1, R2, next);
    a.label(take).mov(R8, R0);
    a.label(next);
  }

  // ---- no rule: the policy's default
  a.jne(R8, 0, 'decide');
  arrayLookup(maps.config, ConfigIndex.DEFAULT, 'fail_closed');
  a.mov(R8, R0).ja('decide');

  a.label('name_too_long');
  setReason(Reason.NAME_TOO_LONG);
  arrayLookup(maps.config, ConfigIndex.NAME_TOO_LONG, 'fail_closed');
  a.mov(R8, R0);

  // ---- r8 = the deciding record
  a.label('decide');
  a.ldx('u32', R1, R6, 0).jne(R1, 0, 'decide_write');
  a.ldx('u8', R1, R8, Rec.READ_ACTION).jeq(R1, ActionCode.deny, 'refuse').jeq(R1, ActionCode.audit, 'audit');
  a.mov(R0, 1).exit();

  a.label('decide_write');
  a.ldx('u8', R1, R8, Rec.WRITE_ACTION).jeq(R1, ActionCode.deny, 'refuse');
  if (L && t.ownNamespaces.length) {
    // namespace: own — the writer's namespace of the key's kind must not be the host's.
    a.ldx('u8', R1, R8, Rec.OWN_NS).jeq(R1, 0, 'ns_ok');
    a.call('get_current_task_btf');
    a.ldx('u8', R1, R8, Rec.OWN_NS);
    for (const kind of t.ownNamespaces) a.jeq(R1, NsCode[kind], `ns_${kind}`);
    a.ja('refuse_host_ns'); // a kind this program does not read: fail closed
    for (const kind of t.ownNamespaces) {
      a.label(`ns_${kind}`);
      if (kind === 'pid') pidNsInum(R1); // kernel.ns_last_pid: the writer's active PID namespace's
      else nsInum(R1, kind);
      a.jeq(R1, 0, 'refuse_host_ns').jeq32(R1, ns!.host[kind] | 0, 'refuse_host_ns').ja('ns_ok');
    }
    a.label('refuse_host_ns');
    setReason(Reason.HOST_NAMESPACE);
    a.ja('refuse');
    a.label('ns_ok');
  }
  a.ldx('u8', R2, R8, Rec.CONSTRAINT).ldx('u8', R3, R8, Rec.OVERRIDE_LEN).or(R3, R2).jeq(R3, 0, 'action');
  // A value rule must see the whole value: refuse writes that start inside it (split writes).
  a.ldx('u32', R1, R6, 4).jeq(R1, 0, 'whole_write');
  setReason(Reason.PARTIAL_WRITE);
  a.ja('refuse');
  a.label('whole_write');
  a.mov(R1, R6).mov(R2, R7).add(R2, Scratch.VALUE).mov(R3, VALUE_BUF).call('sysctl_get_new_value');
  a.jslt(R0, 0, 'refuse_unreadable');
  a.stx('u64', R10, RAWLEN, R0);
  stripNewline(Scratch.VALUE, 'refuse_unreadable');
  a.stx('u64', R10, LEN, R0);
  a.ldx('u8', R2, R8, Rec.CONSTRAINT);
  a.jeq(R2, ConstraintCode.none, 'override');
  a.jeq(R2, ConstraintCode.values, 'check_values').jeq(R2, ConstraintCode.lock, 'check_lock');

  // range and fields: one strtol per field, each in its range, nothing after the last
  a.mov(R9, 0);
  for (let i = 0; i < MAX_FIELDS; i++) {
    a.ldx('u8', R1, R8, Rec.NFIELDS).jle(R1, i, 'fields_end');
    a.jgt(R9, VALUE_BUF - 1, 'refuse_value');
    a.mov(R1, R7).add(R1, Scratch.VALUE).add(R1, R9).mov(R2, 64).mov(R3, 0).mov(R4, R10).add(R4, NUM).call('strtol');
    a.jsle(R0, 0, 'refuse_value').add(R9, R0);
    a.ldx('u64', R1, R10, NUM).ldx('u64', R2, R8, Rec.FIELDS + i * 16).jslt(R1, R2, 'refuse_value');
    a.ldx('u64', R2, R8, Rec.FIELDS + i * 16 + 8).jsgt(R1, R2, 'refuse_value');
  }
  a.label('fields_end');
  a.ldx('u64', R1, R10, LEN).jne(R9, R1, 'refuse_value').ja('override');

  a.label('check_values');
  a.ldx('u64', R1, R10, LEN).jgt(R1, VALUE_MAX, 'refuse_value');
  a.ldx('u32', R1, R8, Rec.ID).stx('u32', R7, Scratch.VALUES_KEY, R1);
  a.ldMapFd(R1, maps.values).mov(R2, R7).add(R2, Scratch.VALUES_KEY).call('map_lookup_elem');
  a.jeq(R0, 0, 'refuse_value').ja('override');

  a.label('check_lock');
  a.mov(R1, R6).mov(R2, R7).add(R2, Scratch.CUR).mov(R3, VALUE_BUF).call('sysctl_get_current_value');
  a.jslt(R0, 0, 'refuse_unreadable');
  stripNewline(Scratch.CUR, 'refuse_unreadable');
  a.ldx('u64', R1, R10, LEN).jne(R0, R1, 'refuse_locked');
  for (let w = 0; w < VALUE_BUF; w += 8) {
    a.ldx('u64', R1, R7, Scratch.VALUE + w).ldx('u64', R2, R7, Scratch.CUR + w).jne(R1, R2, 'refuse_locked');
  }

  a.label('override');
  a.ldx('u8', R3, R8, Rec.OVERRIDE_LEN).jeq(R3, 0, 'action');
  setReason(Reason.OVERRIDE);
  emit(Verdict.ALLOWED);
  // The syscall returns the new value's length; shorter than what was written, the writer would
  // write the rest at an offset (refused as a split write). So the override, stored padded with
  // newlines (which every sysctl parser stops at or skips), is passed at least as long as the write.
  a.ldImm64(R1, 0x0a0a0a0a0a0a0a0an);
  for (let w = 0; w < VALUE_BUF; w += 8) a.stx('u64', R7, Scratch.VALUE + w, R1);
  for (let w = 0; w < 128; w += 8) a.ldx('u64', R1, R8, Rec.OVERRIDE + w).stx('u64', R7, Scratch.VALUE + w, R1);
  a.ldx('u64', R3, R10, RAWLEN).ldx('u8', R4, R8, Rec.OVERRIDE_LEN);
  a.jge(R3, R4, 'override_len').mov(R3, R4);
  a.label('override_len');
  a.jgt(R3, VALUE_BUF - 1, 'refuse_override').jeq(R3, 0, 'refuse_override');
  a.mov(R1, R6).mov(R2, R7).add(R2, Scratch.VALUE).call('sysctl_set_new_value').jne(R0, 0, 'refuse_override');
  setReason(Reason.RULE);

  a.label('action');
  a.ldx('u8', R1, R8, Rec.WRITE_ACTION).jeq(R1, ActionCode.audit, 'audit');
  count(CounterKind.ALLOWED);
  a.mov(R0, 1).exit();

  for (const [label, reason] of [['refuse_value', Reason.VALUE], ['refuse_unreadable', Reason.VALUE_UNREADABLE], ['refuse_locked', Reason.LOCKED], ['refuse_override', Reason.OVERRIDE_FAILED]] as const) {
    a.label(label);
    setReason(reason);
    a.ja('refuse');
  }

  a.label('audit');
  count(CounterKind.AUDITED);
  emit(Verdict.AUDITED);
  a.mov(R0, 1).exit();

  a.label('refuse');
  count(CounterKind.REFUSED);
  emit(o.mode === 'enforce' ? Verdict.REFUSED : Verdict.WOULD_REFUSE);
  a.mov(R0, refuseRet).exit();

  if (returns.size) reportBlock();

  if (o.exemptLevels?.length && !o.follow) a.label('exempt').mov(R0, 1).exit();
  if (o.follow) a.label('pass').mov(R0, 1).exit();

  // Only reachable if a map the program owns lost its entry: refuse rather than guess.
  a.label('fail_closed');
  a.mov(R0, refuseRet).exit();

  return a.assemble();
}
