// The fixture corpus: every bad policy gives exactly its expected problems (NAME.expected, one
// `file:line:column: message` per line, in file order); every good one parses to its model.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatProblem, lintPolicy, parsePolicy, PolicyError } from '../../../src/guard/policy/index.js';
import { policyFixtures, toJson } from './fixtures.js';

const bad = policyFixtures('bad');
const good = policyFixtures('good');
const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('the bad corpus has at least 30 policies, each with its .expected', () => {
  const files = yamlFiles(bad);
  assert.ok(files.length >= 30, `only ${files.length} bad policies`);
  const expected = new Set(readdirSync(bad).filter((f) => f.endsWith('.expected')));
  for (const f of files) assert.ok(expected.has(f.replace(/\.yaml$/, '.expected')), `${f} has no .expected`);
  assert.equal(expected.size, files.length, 'an .expected without its .yaml');
});

for (const f of yamlFiles(bad)) {
  test(`bad policy ${f}: exactly the expected problems`, () => {
    const text = readFileSync(join(bad, f), 'utf8');
    const want = readFileSync(join(bad, f.replace(/\.yaml$/, '.expected')), 'utf8').trimEnd().split('\n');
    const { policy, problems } = lintPolicy(text, f);
    assert.equal(policy, undefined);
    assert.deepEqual(problems.map(formatProblem), want);
    // parsePolicy throws the errors (warnings are not errors), in the same order.
    assert.throws(() => parsePolicy(text, f), (e: unknown) => {
      assert.ok(e instanceof PolicyError);
      assert.deepEqual(e.message.split('\n'), want.filter((l) => !l.includes(': warning: ')));
      return true;
    });
  });
}

for (const f of yamlFiles(good)) {
  test(`good policy ${f}: parses to the expected model`, () => {
    const text = readFileSync(join(good, f), 'utf8');
    const want = JSON.parse(readFileSync(join(good, f.replace(/\.yaml$/, '.expected.json')), 'utf8'));
    const { policy, problems } = lintPolicy(text, f);
    assert.deepEqual(problems.map(formatProblem), []);
    assert.deepEqual(toJson(policy), want);
  });
}
