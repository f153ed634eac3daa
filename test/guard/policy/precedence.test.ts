// What docs/policy.md says about which rule wins, checked against the guard's reference semantics
// (src/guard/reference.ts, which the compiled program agrees with).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from '../../../src/guard/policy/index.js';
import { decidingRule } from '../../../src/guard/reference.js';

test('the most specific rule decides: exact > wildcard segment > longer subtree > shorter subtree', () => {
  const p = parsePolicy(`name: m
rules:
  - {key: net.*, action: allow}
  - {key: net.ipv4.*, action: audit}
  - {key: net.ipv4.conf.*.*, action: allow}
  - {key: net.ipv4.conf.all.*, action: audit}
  - {key: net.ipv4.conf.*.forwarding, action: deny}
  - {key: net.ipv4.*.all.forwarding, action: allow}
  - {key: net.ipv4.conf.eth0.forwarding, action: allow}
`, 'm');
  const decide = (k: string): string | undefined => decidingRule(p, k)?.key.text;
  assert.equal(decide('net/core/somaxconn'), 'net.*');
  assert.equal(decide('net/ipv4/tcp_rmem'), 'net.ipv4.*');
  assert.equal(decide('net/ipv4/conf/eth0/forwarding'), 'net.ipv4.conf.eth0.forwarding');
  assert.equal(decide('net/ipv4/conf/eth1/forwarding'), 'net.ipv4.conf.*.forwarding');
  // Two wildcard-segment keys match: the one with more fixed characters.
  assert.equal(decide('net/ipv4/conf/all/forwarding'), 'net.ipv4.conf.*.forwarding');
  // A wildcard-segment key beats every subtree; subtrees: the longer fixed part.
  assert.equal(decide('net/ipv4/conf/all/rp_filter'), 'net.ipv4.conf.all.*');
  assert.equal(decide('net/ipv4/conf/eth0/rp_filter'), 'net.ipv4.conf.*.*');
  assert.equal(decide('net/ipv4/conf/veth-new/forwarding'), 'net.ipv4.conf.*.forwarding');
  assert.equal(decide('kernel/core_pattern'), undefined);
});

test('the order of rules in the file does not matter', () => {
  const rules = ['{key: vm.*, action: allow}', '{key: vm.swappiness, action: deny}', '{key: vm.dirty_ratio, range: [1, 50]}'];
  for (const order of [rules, [...rules].reverse()]) {
    const p = parsePolicy(`name: o\nrules:\n${order.map((r) => `  - ${r}`).join('\n')}\n`, 'o');
    assert.equal(decidingRule(p, 'vm/swappiness')?.action, 'deny');
    assert.equal(decidingRule(p, 'vm/overcommit_ratio')?.key.text, 'vm.*');
  }
});
