// schema/policy.schema.json from the policy's zod definition (schema.ts), for editors
// (yaml-language-server, VS Code). Apart from schema.ts, and not exported by index.ts, so that what
// parses a policy at run time does not carry zod's JSON Schema generator (only gen-schema.ts and
// the tests use it).

import * as z from 'zod/mini';
import { policySchema } from './schema.js';

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
