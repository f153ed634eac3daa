// The four observation commands as a user runs them: --help, bad usage, and what a non-root user gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IS_ROOT, needs, which } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });
/** As the unprivileged user nobody (root runs the suite; setpriv drops to uid 65534). */
const asNobody = (...args: string[]) => spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, bin, ...args], { encoding: 'utf8' });
const canDrop = needs(!IS_ROOT ? 'needs root to run a command as another user' : !which('setpriv') ? 'needs setpriv (util-linux)' : false);

for (const name of ['cgroups', 'psi', 'softirqs', 'df']) {
  test(`sysward ${name} --help: usage, options, exit status`, () => {
    const r = sysward(name, '--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`^usage: sysward ${name}`));
    assert.match(r.stdout, /--json/);
    assert.match(r.stdout, /exit status: /);
    assert.match(sysward('--help').stdout, new RegExp(`\\n  ${name} `));
  });
}

test('bad usage exits 2 with a hint', () => {
  for (const args of [['cgroups', '--depth', 'x'], ['cgroups', '/no/such/cgroup'], ['psi', '--watch', 'disk'], ['psi', '--interval', '0'], ['softirqs', '--count', '0'], ['softirqs', '--hist'], ['df', '--frob'], ['df', '-B', 'x'], ['df', '-t', 'ext4', '-x', 'ext4']]) {
    const r = sysward(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^sysward \w+: /, args.join(' '));
  }
});

test('df -h is human-readable sizes, not help (as in coreutils); --help is help', () => {
  const r = sysward('df', '-h', '/');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Filesystem\s+Size\s+Used\s+Avail\s+Use% Mounted on\n/);
  assert.match(sysward('df', '--help').stdout, /^usage: sysward df/);
});

test('a non-root user: df, psi and softirqs work; softirqs --bpf says why not and still shows /proc', canDrop, () => {
  const df = asNobody('df', '-hT');
  assert.equal(df.status, 0, df.stderr);
  assert.match(df.stdout, /^Filesystem\s+Type\s+Size/);
  const psi = asNobody('psi', '--json');
  assert.equal(psi.status, 0, psi.stderr);
  assert.equal(JSON.parse(psi.stdout)[0].source, 'system');
  const s = asNobody('softirqs', '--interval', '0.2', '--bpf');
  assert.equal(s.status, 1);
  assert.match(s.stderr, /--bpf: measuring softirq time with eBPF needs root/);
  assert.match(s.stdout, /^softirqs\/s/);
  assert.match(s.stdout, /TIMER/);
  const c = asNobody('cgroups', '--depth', '0');
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /programs not listed/);
  assert.match(c.stdout, /^cgroup v2 at /);
});
