// Paths of the policy fixtures.

import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';

export { repoRoot };

export const policyFixtures = (kind: 'good' | 'bad'): string => join(repoRoot(), 'test/fixtures/policies', kind);

/** JSON with bigints as "123n", as the .expected.json fixtures hold them. */
export function toJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)));
}
