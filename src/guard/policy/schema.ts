// The shape of a policy document: one zod definition that both validates what YAML gives us and
// generates schema/policy.schema.json (for editors: yaml-language-server, VS Code), so the two
// cannot drift. Checks that need more than the shape (key names, ranges, conflicts, duplicates)
// live in validate.ts; the JSON Schema describes them in prose.
//
// Integers arrive as bigint (the YAML is parsed with intAsBigInt so s64 values keep every digit);
// in JSON Schema they are "integer".
//
// Each schema's `error` is the fix shown to the person: the parser composes "<field> is <what it
// got>; <fix>".

import { z } from 'zod';
import { GUARD_NAME, GUARD_NAME_RULE } from '../model.js';

export const ACTIONS = ['allow', 'deny', 'audit'] as const;
export const MODES = ['enforce', 'audit'] as const;

const action = z.enum(ACTIONS);

const integer = z.bigint({ error: 'write an integer' })
  .meta({ description: 'A signed 64-bit integer.' });

// A value as written: quoted or not (`2`, `"2"`, `0x10`), the parser keeps the text of the scalar.
const scalar = z.union([z.string(), z.bigint(), z.number()], {
  error: 'write a string such as "2"',
});

const cgroupPath = z.string({ error: 'write a cgroup path such as /system.slice/nginx.service' })
  .meta({ description: 'A cgroup path relative to the cgroup v2 mount, starting with "/".' });

const range = z.tuple([integer, integer], { error: 'write [min, max]: two integers' });

export const ruleSchema = z.strictObject({
  key: z.string({ error: 'write one sysctl name or pattern, such as kernel.core_pattern' }).optional().meta({
    description: 'The key this rule matches: a name (kernel.core_pattern, net/ipv4/conf/eth0.100/forwarding, ' +
      '/proc/sys/vm/swappiness), a subtree (vm.*) or a name with one wildcard segment (net.ipv4.conf.*.forwarding). ' +
      'Give key or keys.',
  }),
  keys: z.array(z.string({ error: 'write a sysctl name or pattern' }), { error: 'write a list of sysctl names' })
    .min(1, { error: 'list at least one key' }).optional().meta({
      description: 'Several keys that share this rule; each becomes a rule of its own. Give key or keys.',
    }),
  action: action.optional().meta({
    description: 'What happens to a write: allow, deny, or audit (allow and report). Required unless the rule has ' +
      'values, range, fields, lock or override, which imply allow.',
  }),
  reads: action.optional().meta({ description: 'What happens to a read; default allow.' }),
  reason: z.string({ error: 'write one line of text' }).optional().meta({
    description: 'Why the rule exists, one line; shown in events.',
  }),
  values: z.array(scalar, { error: 'write a list of strings, such as ["1", "2"]' })
    .min(1, { error: 'list at least one value' }).optional().meta({
      description: 'Only these values may be written (compared as strings; a trailing newline is ignored).',
    }),
  range: range.optional().meta({ description: 'Only an integer in [min, max] may be written.' }),
  fields: z.array(z.union([integer, range], { error: 'write an integer or [min, max]' }), {
    error: 'write a list with one [min, max] per field, such as [[4096, 4096], [16384, 6291456]]',
  }).min(1, { error: 'list at least one field' }).optional().meta({
    description: 'For vector sysctls (net.ipv4.tcp_rmem): one [min, max] (or one integer) per field, in order.',
  }),
  lock: z.boolean({ error: 'write true or false' }).optional().meta({
    description: 'true: only the value the key has at the moment of the write may be written.',
  }),
  override: scalar.optional().meta({
    description: 'Stored instead of the written value (needs a kernel whose bpf_sysctl_set_new_value works).',
  }),
}, { error: 'write a mapping such as { key: kernel.core_pattern, action: deny }' })
  .meta({ description: 'A rule: which keys it matches and what it does to their reads and writes.' });

export const scopeSchema = z.strictObject({
  cgroups: z.array(cgroupPath, { error: 'write a list of cgroup paths' }).optional().meta({
    description: 'Cgroups (and their descendants) the guard applies to.',
  }),
  containers: z.boolean({ error: 'write true or false' }).optional().meta({
    description: 'Every container cgroup on the host (Docker, containerd, CRI-O, Podman, nspawn), now and later.',
  }),
  host: z.boolean({ error: 'write true or false' }).optional().meta({
    description: 'The root cgroup: every task on the host, minus exempt.',
  }),
  exempt: z.array(cgroupPath, { error: 'write a list of cgroup paths' }).optional().meta({
    description: 'Cgroups (and their descendants) the guard never applies to.',
  }),
}, { error: 'write a mapping with cgroups, containers, host or exempt' })
  .meta({ description: 'Where the guard applies. Omit it for policies used only with `sysward run`, `explain` or `test`.' });

export const defaultSchema = z.union([
  action,
  z.strictObject({
    write: action.optional().meta({ description: 'For writes; default allow.' }),
    read: action.optional().meta({ description: 'For reads; default allow.' }),
  }),
], { error: 'write allow, deny or audit, or { write: …, read: … }' }).meta({
  description: 'The action for keys no rule matches: one action for writes (reads stay allowed), or { write, read }. Default allow.',
});

export const policySchema = z.strictObject({
  name: z.string({ error: 'write a guard name such as web-containers' })
    .regex(GUARD_NAME, { error: `use ${GUARD_NAME_RULE}` })
    .meta({ description: `Names the guard, its pins and its events: ${GUARD_NAME.source.slice(1, -1)}.` }),
  description: z.string({ error: 'write one line of text' }).optional().meta({ description: 'What the policy is for.' }),
  mode: z.enum(MODES).optional().meta({
    description: 'enforce (default) refuses what the rules refuse; audit refuses nothing and reports what enforce would refuse.',
  }),
  default: defaultSchema.optional(),
  scope: scopeSchema.optional(),
  rules: z.array(ruleSchema, { error: 'write a list of rules, each starting with "- key:"' }).optional().meta({
    description: 'The rules; the most specific match decides (exact key, then wildcard segment, then the longest subtree).',
  }),
}, { error: 'write a mapping that starts with name:' }).meta({
  title: 'sysward policy',
  description: 'A sysward guard policy: which sysctl reads and writes are allowed, refused or reported, and where.',
});

export type PolicyDocument = z.infer<typeof policySchema>;
export type RuleDocument = z.infer<typeof ruleSchema>;

/** The JSON Schema (draft 2020-12) of a policy document, as committed in schema/policy.schema.json. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policySchema, {
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def;
      if (def.type === 'bigint') ctx.jsonSchema.type = 'integer';
    },
  }) as Record<string, unknown>;
}

/** The committed file's text: the schema, two-space indented, with a final newline. */
export function policyJsonSchemaText(): string {
  return JSON.stringify(policyJsonSchema(), null, 2) + '\n';
}
