// The shape of a policy document: one zod definition that both validates what YAML gives us and
// generates schema/policy.schema.json (json-schema.ts; for editors: yaml-language-server, VS
// Code), so the two cannot drift. Checks that need more than the shape (key names, ranges,
// conflicts, duplicates) live in validate.ts; the JSON Schema describes them in prose.
//
// Integers arrive as bigint (the YAML is parsed with intAsBigInt so s64 values keep every digit);
// in JSON Schema they are "integer".
//
// Each schema's `error` is the fix shown to the person: the parser composes "<field> is <what it
// got>; <fix>".
//
// zod/mini, not zod: the same schemas and issues, but functions instead of methods, so the bundle
// keeps only what is used. Every command that reads a policy file loads this at start-up, and the
// full zod took ~60 ms there to compile and build its classes (docs/BENCHMARKS.md, section 5).

import * as z from 'zod/mini';
import { GUARD_NAME, GUARD_NAME_RULE } from '../model.js';

export const ACTIONS = ['allow', 'deny', 'audit'] as const;
export const MODES = ['enforce', 'audit'] as const;

const action = z.enum(ACTIONS);

/** A schema with its JSON Schema annotations (description, title): zod's global registry, which
 * toJSONSchema reads (the full zod's `.meta()`). */
const meta = <T extends z.ZodMiniType>(schema: T, m: { title?: string; description: string }): T => {
  z.globalRegistry.add(schema, m);
  return schema;
};
/** An optional field, described. */
const field = <T extends z.ZodMiniType>(schema: T, description: string) => meta(z.optional(schema), { description });

const integer = meta(z.bigint({ error: 'write an integer' }), { description: 'A signed 64-bit integer.' });

// A value as written: quoted or not (`2`, `"2"`, `0x10`), the parser keeps the text of the scalar.
const scalar = z.union([z.string(), z.bigint(), z.number()], {
  error: 'write a string such as "2"',
});

const cgroupPath = meta(z.string({ error: 'write a cgroup path such as /system.slice/nginx.service' }),
  { description: 'A cgroup path relative to the cgroup v2 mount, starting with "/".' });

const range = z.tuple([integer, integer], { error: 'write [min, max]: two integers' });

export const ruleSchema = meta(z.strictObject({
  key: field(z.string({ error: 'write one sysctl name or pattern, such as kernel.core_pattern' }),
    'The key this rule matches: a name (kernel.core_pattern, net/ipv4/conf/eth0.100/forwarding, ' +
      '/proc/sys/vm/swappiness), a subtree (vm.*) or a name with one wildcard segment (net.ipv4.conf.*.forwarding). ' +
      'Give key or keys.'),
  keys: field(z.array(z.string({ error: 'write a sysctl name or pattern' }), { error: 'write a list of sysctl names' })
    .check(z.minLength(1, { error: 'list at least one key' })),
    'Several keys that share this rule; each becomes a rule of its own. Give key or keys.'),
  action: field(action,
    'What happens to a write: allow, deny, or audit (allow and report). Required unless the rule has ' +
      'values, range, fields, lock or override, which imply allow.'),
  reads: field(action, 'What happens to a read; default allow.'),
  reason: field(z.string({ error: 'write one line of text' }), 'Why the rule exists, one line; shown in events.'),
  values: field(z.array(scalar, { error: 'write a list of strings, such as ["1", "2"]' })
    .check(z.minLength(1, { error: 'list at least one value' })),
    'Only these values may be written (compared as strings; a trailing newline is ignored).'),
  range: field(range, 'Only an integer in [min, max] may be written.'),
  fields: field(z.array(z.union([integer, range], { error: 'write an integer or [min, max]' }), {
    error: 'write a list with one [min, max] per field, such as [[4096, 4096], [16384, 6291456]]',
  }).check(z.minLength(1, { error: 'list at least one field' })),
    'For vector sysctls (net.ipv4.tcp_rmem): one [min, max] (or one integer) per field, in order.'),
  lock: field(z.boolean({ error: 'write true or false' }),
    'true: only the value the key has at the moment of the write may be written.'),
  override: field(scalar, 'Stored instead of the written value (needs a kernel whose bpf_sysctl_set_new_value works).'),
  namespace: field(z.enum(['own', 'any']),
    'own: writes are allowed only from a namespace of the writer\'s own of the kind that holds the key ' +
      '(net.* → network, kernel.hostname / domainname → UTS, System V IPC keys and fs.mqueue.* → IPC, user.* → user, ' +
      'kernel.ns_last_pid → PID); from the host\'s namespace they are refused. any (the default): from any namespace. ' +
      'Only on keys that are per namespace.'),
}, { error: 'write a mapping such as { key: kernel.core_pattern, action: deny }' }),
{ description: 'A rule: which keys it matches and what it does to their reads and writes.' });

export const scopeSchema = meta(z.strictObject({
  cgroups: field(z.array(cgroupPath, { error: 'write a list of cgroup paths' }), 'Cgroups (and their descendants) the guard applies to.'),
  containers: field(z.boolean({ error: 'write true or false' }),
    'Every container cgroup on the host (Docker, containerd, CRI-O, Podman, nspawn), now and later.'),
  host: field(z.boolean({ error: 'write true or false' }), 'The root cgroup: every task on the host, minus exempt.'),
  exempt: field(z.array(cgroupPath, { error: 'write a list of cgroup paths' }), 'Cgroups (and their descendants) the guard never applies to.'),
  follow: field(z.boolean({ error: 'write true or false' }),
    'Default true: the guard follows the tasks of its containers and cgroups that have a mount namespace of their own when they move ' +
      'to another cgroup (a program on the root cgroup keyed by mount namespace). false: by cgroup alone.'),
}, { error: 'write a mapping with cgroups, containers, host, exempt or follow' }),
{ description: 'Where the guard applies. Omit it for policies used only with `sysward run`, `explain` or `test`.' });

export const defaultSchema = meta(z.union([
  action,
  z.strictObject({
    write: field(action, 'For writes; default allow.'),
    read: field(action, 'For reads; default allow.'),
  }),
], { error: 'write allow, deny or audit, or { write: …, read: … }' }), {
  description: 'The action for keys no rule matches: one action for writes (reads stay allowed), or { write, read }. Default allow.',
});

export const policySchema = meta(z.strictObject({
  name: meta(z.string({ error: 'write a guard name such as web-containers' })
    .check(z.regex(GUARD_NAME, { error: `use ${GUARD_NAME_RULE}` })),
  { description: `Names the guard, its pins and its events: ${GUARD_NAME.source.slice(1, -1)}.` }),
  description: field(z.string({ error: 'write one line of text' }), 'What the policy is for.'),
  mode: field(z.enum(MODES),
    'enforce (default) refuses what the rules refuse; audit refuses nothing and reports what enforce would refuse.'),
  default: z.optional(defaultSchema),
  scope: z.optional(scopeSchema),
  rules: field(z.array(ruleSchema, { error: 'write a list of rules, each starting with "- key:"' }),
    'The rules; the most specific match decides (exact key, then wildcard segment, then the longest subtree).'),
}, { error: 'write a mapping that starts with name:' }), {
  title: 'sysward policy',
  description: 'A sysward guard policy: which sysctl reads and writes are allowed, refused or reported, and where.',
});

export type PolicyDocument = z.infer<typeof policySchema>;
export type RuleDocument = z.infer<typeof ruleSchema>;
