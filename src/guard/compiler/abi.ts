// The contract between the generated guard program and user space: map layouts, the rule record,
// the event record, action / reason codes. Both sides use these numbers; change them together.

/** Longest sysctl name the guard reads whole (bytes, without the NUL); longer names fail closed. */
export const NAME_MAX = 127;
export const NAME_BUF = 128;
/** Longest value a `values` set member or an override may have (bytes). */
export const VALUE_MAX = 127;
/** Bytes of a written / current value the guard reads for value checks; longer values are refused. */
export const VALUE_BUF = 256;
/** Most fields a vector rule may constrain. */
export const MAX_FIELDS = 8;
/** Longest segment a `*` matches (interface names are at most 15 bytes). */
export const WILDCARD_SEGMENT_MAX = 32;
/** Bytes of a wildcard remainder (what follows the `*` segment) the guard compares. */
export const WILD_REM_BUF = 120;

export const ActionCode = { allow: 0, deny: 1, audit: 2 } as const;
export const ConstraintCode = { none: 0, values: 1, range: 2, fields: 3, lock: 4 } as const;

/** Why a verdict was given; events carry it. */
export const Reason = {
  RULE: 0, // the rule's action
  VALUE: 1, // the value is not one the rule allows
  PARTIAL_WRITE: 2, // a write at file_pos != 0 to a key with a value rule (a split write)
  NAME_TOO_LONG: 3, // the name did not fit the guard's buffer: fail closed
  VALUE_UNREADABLE: 4, // the written or current value is too long or could not be read
  OVERRIDE: 5, // the written value was replaced by the rule's override
  LOCKED: 6, // the value differs from the current one (lock)
  OVERRIDE_FAILED: 7, // the kernel did not take the override value: fail closed
  HOST_NAMESPACE: 8, // a `namespace: own` rule, written from the host's namespace of the key's kind
} as const;
export const REASON_NAMES = Object.fromEntries(Object.entries(Reason).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')])) as Record<number, string>;

export const Verdict = { ALLOWED: 0, REFUSED: 1, AUDITED: 2, WOULD_REFUSE: 3 } as const;
export const VERDICT_NAMES: Record<number, string> = { 0: 'allowed', 1: 'refused', 2: 'audited', 3: 'would-refuse' };

/** Per-rule counters: counters[rule * 3 + kind]. */
export const CounterKind = { ALLOWED: 0, REFUSED: 1, AUDITED: 2 } as const;

/**
 * struct rule_rec (value of the exact / subtree / wild maps and of config[0], the default):
 *   u32 id; u32 specificity; u8 write_action; u8 read_action; u8 constraint; u8 override_len;
 *   u8 nfields; u8 own_ns; u8 exact; u8 pad; struct { s64 min, max; } fields[8]; char override[128];
 * own_ns: a NsCode when the rule allows writes only from a namespace other than the host's.
 * exact: 1 in the exact map's records (the rule matches one name: its id tells the name).
 */
export const Rec = {
  ID: 0, SPECIFICITY: 4, WRITE_ACTION: 8, READ_ACTION: 9, CONSTRAINT: 10, OVERRIDE_LEN: 11, NFIELDS: 12, OWN_NS: 13, EXACT: 14,
  FIELDS: 16, OVERRIDE: 16 + MAX_FIELDS * 16, SIZE: 16 + MAX_FIELDS * 16 + 128,
} as const;

/** Rec.OWN_NS: the kind of namespace a `namespace: own` rule's key lives in (0: no such rule). */
export const NsCode = { net: 1, uts: 2, ipc: 3, user: 4, pid: 5 } as const;

/**
 * Per-CPU scratch (one entry), the program's working memory:
 *   +4   u32 prefixlen     } the subtree LPM key
 *   +8   char name[128]    }   (the exact map's key is name alone)
 *   +136 zero slack: remainder copies read past the name
 *   +264 wild LPM key: u32 prefixlen, u32 group, char rem[120]
 *   +396 u32 rule id      } the values map's key
 *   +400 char value[256]  }   (then 64 bytes of zero slack: strtol may read past the value)
 *   ... char cur[256] for lock
 */
export const Scratch = {
  LPM_KEY: 4, NAME: 8, WILD_KEY: 264, WILD_GROUP: 268, WILD_REM: 272, VALUES_KEY: 396, VALUE: 400,
  CUR: 400 + VALUE_BUF + 64, AGG_KEY: 400 + VALUE_BUF + 64 + VALUE_BUF,
  // The kind this CPU reported last (its agg_key, slot and tag): a flood of one kind skips the hash.
  MEMO_KEY: 400 + VALUE_BUF + 64 + VALUE_BUF + 176, MEMO_SLOT: 400 + VALUE_BUF + 64 + VALUE_BUF + 352, MEMO_TAG: 400 + VALUE_BUF + 64 + VALUE_BUF + 360,
  // The task rewriting the memo (pid_tgid): only the last to start a rewrite may finish it.
  MEMO_OWNER: 400 + VALUE_BUF + 64 + VALUE_BUF + 368,
  SIZE: 400 + VALUE_BUF + 64 + VALUE_BUF + 376,
} as const;

/**
 * Accounting by kind: three maps.
 * - `agg` (hash) struct agg_key → struct agg_slot. agg_key: u32 generation; u32 rule; u8 verdict;
 *   u8 reason; u8 write; u8 pad; u32 uid; u64 cgroup_id; u64 bound_cgroup; char comm[16];
 *   char name[128]. agg_slot: u32 slot; u32 pad; u64 tag.
 * - `aggv` (array, AGG_MAX + 1) slot → struct agg_val: u64 count (every access of the kind);
 *   u64 sent (those sent as an event; the rest, over the rate limit or with the ring buffer full,
 *   are the kind's suppressed accesses: count - sent);
 *   u64 first_ns, last_ns (coarse clock); u64 window_start_ns; u32 window_events; u32 pad;
 *   u64 tag (the slot's owner, as in its agg_slot; 0: free); u64 pad. Shared by the CPUs (count
 *   and sent are atomic adds): events sent + suppressed = count, exactly. Slot 0 is the header:
 *   its count is the last slot handed out, its sent the last tag.
 * - `aggfree` (queue of u32): slots the daemon freed (kinds whose cgroup is gone), handed out
 *   again before new ones.
 * Each CPU remembers the kind it reported last (Scratch.MEMO_*): a flood of one kind compares the
 * key with it and goes straight to its slot, with no hash lookup (hashing the 176-byte key was most
 * of what counting cost). The tag makes a remembered slot that was freed and handed to another
 * kind a miss, not a miscount.
 */
export const AggKey = { GENERATION: 0, RULE: 4, VERDICT: 8, REASON: 9, WRITE: 10, UID: 12, CGROUP: 16, BOUND: 24, COMM: 32, NAME: 48, SIZE: 176 } as const;
export const AggSlot = { SLOT: 0, TAG: 8, SIZE: 16 } as const;
export const AggVal = { COUNT: 0, SENT: 8, FIRST: 16, LAST: 24, WINDOW_START: 32, WINDOW_EVENTS: 40, TAG: 48, SIZE: 64 } as const;
/** aggv[0]: where the next fresh slot and tag are counted. */
export const AggHeader = { LAST_SLOT: AggVal.COUNT, LAST_TAG: AggVal.SENT } as const;
/** Kinds of access one guard tells apart; past this they are not attributed (events as before, counted). */
export const AGG_MAX = 16384;
/** Events a kind of access sends at full detail per second; the rest are counted (summaries). */
export const DEFAULT_EVENTS_PER_SECOND = 10;

/**
 * struct event (ring buffer record):
 *   u64 ts_ns; u64 pid_tgid; u64 uid_gid; u64 cgroup_id; u32 rule; u8 verdict; u8 write; u8 reason;
 *   u8 pad; u32 file_pos; s32 new_len; s32 cur_len; u32 generation; char comm[16]; char name[128];
 *   char old[128]; char new[128];
 *   u32 ns[7] (the writer's namespaces' inode numbers, NS_KINDS order; 0: not read); u32 pad;
 *   u64 bound_cgroup (the follower's: the cgroup of the container the writer's mount namespace is
 *   bound to; 0 for the copy attached to the writer's cgroup).
 * Records from before the namespaces were added end at Ev.V1_SIZE.
 */
export const Ev = {
  TS: 0, PID_TGID: 8, UID_GID: 16, CGROUP: 24, RULE: 32, VERDICT: 36, WRITE: 37, REASON: 38, FILE_POS: 40,
  NEW_LEN: 44, CUR_LEN: 48, GENERATION: 52, COMM: 56, NAME: 72, OLD: 200, NEW: 328, V1_SIZE: 456,
  NS: 456, BOUND_CGROUP: 488, SIZE: 496,
} as const;

/**
 * struct binding (value of the follower's `bound` map, keyed by a mount namespace's u64 id, or
 * its inode number where the kernel has no id: task-layout.ts mntId): u64 cgroup_id; u32 level; u32 pad. The cgroup where the guard is attached that the
 * namespace's tasks were found in, and its depth (root = 0).
 */
export const Bind = { CGROUP: 0, LEVEL: 8, SIZE: 16 } as const;
/** Most mount namespaces one guard follows (a host runs far fewer containers). */
export const BOUND_MAX = 16384;
export const EV_VALUE_BUF = 128;

/** config map: [0] the default record, [1] the record for names too long to read (writes refused). */
export const ConfigIndex = { DEFAULT: 0, NAME_TOO_LONG: 1 } as const;

/** Rule ids past the policy's rules: the default record, and names too long to read. */
export const specialRuleIds = (nRules: number) => ({ DEFAULT: nRules, NAME_TOO_LONG: nRules + 1, COUNT: nRules + 2 });
/** Index of the dropped-events counter in the counters map. */
export const dropsCounterIndex = (nRules: number) => specialRuleIds(nRules).COUNT * 3;
