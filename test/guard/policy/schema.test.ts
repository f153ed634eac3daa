import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { policyJsonSchema, policyJsonSchemaText } from '../../../src/guard/policy/json-schema.js';
import { repoRoot } from './fixtures.js';

test('schema/policy.schema.json is what the definition generates', () => {
  const committed = readFileSync(join(repoRoot(), 'schema/policy.schema.json'), 'utf8');
  assert.equal(committed, policyJsonSchemaText(),
    'schema/policy.schema.json is stale: run `npm run build && node dist/src/guard/policy/gen-schema.js` and commit it');
});

test('the JSON Schema describes every field, integers as integers', () => {
  const schema = policyJsonSchema() as {
    properties: Record<string, { description?: string }>;
    required: string[];
    additionalProperties: boolean;
  };
  assert.deepEqual(Object.keys(schema.properties), ['name', 'description', 'mode', 'default', 'scope', 'rules']);
  assert.deepEqual(schema.required, ['name']);
  assert.equal(schema.additionalProperties, false);
  const text = policyJsonSchemaText();
  assert.ok(text.includes('"type": "integer"'));
  assert.ok(!text.includes('bigint'));
  for (const [k, v] of Object.entries(schema.properties)) assert.ok(v.description, `${k} has no description`);
});
