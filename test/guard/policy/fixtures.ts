// Paths of the policy fixtures. Tests run from dist/, so the repository root is found by walking
// up to package.json.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test file');
    dir = parent;
  }
  return dir;
}

export const policyFixtures = (kind: 'good' | 'bad'): string => join(repoRoot(), 'test/fixtures/policies', kind);

/** JSON with bigints as "123n", as the .expected.json fixtures hold them. */
export function toJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)));
}
