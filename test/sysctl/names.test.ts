import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dottedName, formatPattern, kernelName, MAX_NAME_BYTES, parseKeyPattern, parseSysctlName, procPath, SysctlNameError,
} from '../../src/sysctl/names.js';
import { closest, editDistance } from '../../src/util/suggest.js';

test('the three ways to write a name give the same kernel segments', () => {
  const want = ['net', 'ipv4', 'conf', 'eth0.100', 'forwarding'];
  assert.deepEqual(parseSysctlName('net.ipv4.conf.eth0/100.forwarding'), want);
  assert.deepEqual(parseSysctlName('net/ipv4/conf/eth0.100/forwarding'), want);
  assert.deepEqual(parseSysctlName('/proc/sys/net/ipv4/conf/eth0.100/forwarding'), want);
  assert.deepEqual(parseSysctlName('kernel.core_pattern'), ['kernel', 'core_pattern']);
  assert.deepEqual(parseSysctlName('kernel/yama/ptrace_scope'), ['kernel', 'yama', 'ptrace_scope']);
  // procps: the first separator decides the form.
  assert.deepEqual(parseSysctlName('net.ipv4.conf.a/b/c.x'), ['net', 'ipv4', 'conf', 'a.b.c', 'x']);
});

test('formatting round-trips in both forms', () => {
  const names = [
    'kernel.core_pattern', 'net.ipv4.conf.eth0/100.forwarding', 'net.ipv6.conf.br-1/2/3.accept_ra',
    'kernel.threads-max', 'fs.mqueue.msg_max', 'dev.tty.ldisc_autoload', 'net.ipv4.conf.veth@if3.rp_filter',
  ];
  for (const n of names) {
    const seg = parseSysctlName(n);
    assert.equal(dottedName(seg), n);
    assert.deepEqual(parseSysctlName(kernelName(seg)), seg);
    assert.deepEqual(parseSysctlName(procPath(seg)), seg);
    assert.equal(procPath(seg), `/proc/sys/${kernelName(seg)}`);
  }
  assert.equal(kernelName(['net', 'ipv4', 'conf', 'eth0.100', 'forwarding']), 'net/ipv4/conf/eth0.100/forwarding');
});

test('patterns: subtree, wildcard segment, both; formatted back in both forms', () => {
  const cases: [string, string[], 'exact' | 'subtree', number | null, string, string][] = [
    ['vm.*', ['vm'], 'subtree', null, 'vm.*', 'vm/*'],
    ['net/ipv4/*', ['net', 'ipv4'], 'subtree', null, 'net.ipv4.*', 'net/ipv4/*'],
    ['net.ipv4.conf.*.forwarding', ['net', 'ipv4', 'conf', '*', 'forwarding'], 'exact', 3, 'net.ipv4.conf.*.forwarding', 'net/ipv4/conf/*/forwarding'],
    ['net.ipv4.neigh.*.*', ['net', 'ipv4', 'neigh', '*'], 'subtree', 3, 'net.ipv4.neigh.*.*', 'net/ipv4/neigh/*/*'],
    ['/proc/sys/fs/mqueue/*', ['fs', 'mqueue'], 'subtree', null, 'fs.mqueue.*', 'fs/mqueue/*'],
  ];
  for (const [text, segments, kind, wildcard, dotted, kernel] of cases) {
    const p = parseKeyPattern(text);
    assert.deepEqual(p, { text, segments, kind, wildcard });
    assert.equal(formatPattern(p, 'dotted'), dotted);
    assert.equal(formatPattern(p, 'kernel'), kernel);
    assert.deepEqual(parseKeyPattern(dotted).segments, segments);
    assert.deepEqual(parseKeyPattern(kernel).segments, segments);
  }
});

function nameError(text: string): { message: string; offset: number } {
  try {
    parseKeyPattern(text);
  } catch (e) {
    assert.ok(e instanceof SysctlNameError);
    return { message: e.message, offset: e.offset };
  }
  assert.fail(`${text} parsed`);
}

test('malformed names: what is wrong, the fix, and where', () => {
  assert.deepEqual(nameError('kernal.core_pattern'), {
    message: '"kernal.core_pattern" starts with "kernal", which is not a directory of /proc/sys; did you mean kernel.core_pattern?', offset: 0 });
  assert.deepEqual(nameError('/proc/sys/nte/core/somaxconn'), {
    message: '"/proc/sys/nte/core/somaxconn" starts with "nte", which is not a directory of /proc/sys; did you mean net/core/somaxconn?', offset: 10 });
  assert.equal(nameError('kernel..x').offset, 7);
  assert.match(nameError('kernel..x').message, /two '\.' in a row/);
  assert.match(nameError('.kernel.x').message, /starts with '\.'/);
  assert.match(nameError('kernel.x.').message, /ends with '\.'/);
  assert.match(nameError('kernel/x/').message, /ends with '\/'/);
  assert.deepEqual(nameError('net.ipv4.conf.eth*.x').offset, 17);
  assert.match(nameError('net.*.conf.*.x').message, /2 '\*' segments/);
  assert.match(nameError('*.x').message, /starts with '\*'/);
  assert.match(nameError('kernel.a b').message, /has a space in "a b"/);
  assert.match(nameError('kernel.a\tb').message, /has a tab/);
  assert.match(nameError('kernel.a\u0001b').message, /control character U\+0001/);
  assert.match(nameError('kernel').message, /names the directory \/proc\/sys\/kernel, not a sysctl; write kernel\.\*/);
  assert.match(nameError('').message, /the key is empty/);
  assert.match(nameError('net/ipv4/conf/../x').message, /segment "\.\."/);
  assert.match(nameError('/kernel/x').message, /write kernel\/x or \/proc\/sys\/kernel\/x/);
  assert.match(nameError(`net.ipv4.${'a'.repeat(MAX_NAME_BYTES)}`).message, /at most 127 bytes/);
  assert.throws(() => parseSysctlName('vm.*'), /is a pattern/);
});

test('did-you-mean: one transposition is one edit; far words get no suggestion', () => {
  assert.equal(editDistance('dney', 'deny'), 1);
  assert.equal(editDistance('kernal', 'kernel'), 1);
  assert.equal(closest('dney', ['allow', 'deny', 'audit']), 'deny');
  assert.equal(closest('DENY', ['allow', 'deny', 'audit']), 'deny');
  assert.equal(closest('banana', ['allow', 'deny', 'audit']), undefined);
});

test('the name limit is the compiler\'s', async () => {
  const { NAME_MAX } = await import('../../src/guard/compiler/abi.js');
  assert.equal(MAX_NAME_BYTES, NAME_MAX);
});
