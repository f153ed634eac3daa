// The validated policy: what the parser produces and the compiler consumes. Kernel-independent.
// (Policy syntax and the parser: src/guard/policy/; the compiler: src/guard/compiler/.)

/** What happens to a write (or, for `reads`, a read) that a rule decides. */
export type Action = 'allow' | 'deny' | 'audit';

/** Where a thing came from in the policy file, for error messages and events. */
export interface SourcePos { file: string; line: number; column: number }

/**
 * A key pattern, normalised: segments as the kernel names them (joined by "/" they are what
 * bpf_sysctl_get_name returns). `kind: 'subtree'` matches every key below `segments` (written
 * `vm.*`); `kind: 'exact'` matches one key. At most one segment may be `*` (a wildcard segment,
 * `net.ipv4.conf.*.forwarding`), and never the first.
 */
export interface KeyPattern {
  /** As written in the policy. */
  text: string;
  /** Kernel segments, e.g. ['net', 'ipv4', 'conf', '*', 'forwarding']; a segment never contains '/'. */
  segments: string[];
  kind: 'exact' | 'subtree';
  /** Index in `segments` of the `*` segment, or null. */
  wildcard: number | null;
}

/** Which written values a rule allows; anything else is refused. Numbers are bigint (s64). */
export type ValueConstraint =
  /** One of these strings exactly (a trailing newline in the written value is ignored). */
  | { kind: 'values'; values: string[] }
  /** A single integer in [min, max]. */
  | { kind: 'range'; min: bigint; max: bigint }
  /** A vector sysctl (`net.ipv4.tcp_rmem = "4096 131072 6291456"`): one range per field, in order. */
  | { kind: 'fields'; fields: { min: bigint; max: bigint }[] }
  /** Only the value the key has at the moment of the write (in the writer's namespace). */
  | { kind: 'lock' };

export interface Rule {
  /** Position in the policy's rule list (0-based); events and counters name rules by it. */
  index: number;
  key: KeyPattern;
  /** For writes. A rule with `value` or `override` has action 'allow' (or 'audit': allowed, reported). */
  action: Action;
  /** For reads; default 'allow'. */
  reads: Action;
  value?: ValueConstraint;
  /** Stored instead of the written value (needs a kernel whose set_new_value works; see `sysward probe`). */
  override?: string;
  /** Why the rule exists; shown in events and docs. */
  reason?: string;
  /**
   * 'own': writes are allowed only from a namespace of the writer's own of the kind that holds
   * the key (net.* → network, kernel.hostname → UTS, …); from the host's they are refused
   * (reason host-namespace). Only on keys that are per namespace.
   */
  namespace?: 'own';
  source?: SourcePos;
}

export interface Scope {
  /** Cgroup paths relative to the cgroup v2 mount, starting with '/'. */
  cgroups: string[];
  /** Every container cgroup on the host (Docker, containerd, CRI-O/kubepods, Podman, nspawn), now and later. */
  containers: boolean;
  /** The root cgroup: every task on the host, minus `exempt`. */
  host: boolean;
  /** Cgroup paths (and their descendants) the guard never applies to. */
  exempt: string[];
  /**
   * false: the guard applies by cgroup alone. Default: a guard of containers or cgroups also
   * follows their tasks by mount namespace when they move to another cgroup.
   */
  follow?: boolean;
}

/**
 * What a guard name may be: the policy's `name:` (schema.ts) and every name given on the command
 * line, which becomes a path (/sys/fs/bpf/sysward/guards/NAME; runtime/names.ts). No '/' and no
 * leading '.', so a name can never reach outside that folder.
 */
export const GUARD_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** GUARD_NAME in words, for the errors that quote it. */
export const GUARD_NAME_RULE = '1 to 63 lower-case letters, digits and "-", starting with a letter or digit';

export interface Policy {
  /** GUARD_NAME: names the guard, its pins and its events. */
  name: string;
  mode: 'enforce' | 'audit';
  /** For keys no rule matches. */
  defaults: { write: Action; read: Action };
  scope: Scope;
  rules: Rule[];
  description?: string;
  /** The file it was read from (or `profile:NAME`). */
  origin?: string;
}
