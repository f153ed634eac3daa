// Writes schema/policy.schema.json from the definition in schema.ts (json-schema.ts):
//   npm run build && node dist/src/guard/policy/gen-schema.js
// test/guard/policy/schema.test.ts fails while the committed file differs from what this writes.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { policyJsonSchemaText } from './json-schema.js';

// dist/src/guard/policy/ → the repository root, four levels up.
const target = fileURLToPath(new URL('../../../../schema/policy.schema.json', import.meta.url));
writeFileSync(target, policyJsonSchemaText());
console.log(`wrote ${target}`);
