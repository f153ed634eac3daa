// What a user who is not root gets from the commands that need root: a one-line "needs root" and
// exit status 2, not an empty list or a raw EACCES. And guard names given on the command line are
// checked before they become paths: `guard rm ..` must not reach the other guards or other pins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { guardsDir } from '../../src/guard/runtime/status.js';
import { IS_ROOT, kernel, needs, which } from '../helpers/env.js';
import { withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sysward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });
/** As the unprivileged user nobody (root runs the suite; setpriv drops to uid 65534). */
const asNobody = (...args: string[]) => spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', ...args], { encoding: 'utf8' });
const canDrop = needs(!IS_ROOT ? 'needs root to run a command as another user' : !which('setpriv') ? 'needs setpriv (util-linux)' : false);

const tmp = mkdtempSync(join(tmpdir(), 'sysward-non-root-'));
chmodSync(tmp, 0o755); // readable by nobody
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const policy = join(tmp, 'p.yaml');
writeFileSync(policy, 'name: non-root\nrules:\n  - key: kernel.hostname\n    action: deny\n');

test('a user: guard apply/ls/rm, events, run and demo say they need root and exit 2', canDrop, () => {
  for (const args of [['guard', 'ls'], ['guard', 'ls', 'container-host'], ['guard', 'rm', 'container-host'], ['guard', 'apply', '--profile', 'audit-all'],
    ['events'], ['events', 'container-host'], ['run', '-f', policy, '--', 'true'], ['demo']]) {
    const r = asNobody(process.execPath, bin, ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^sysward \w+: [\w ]+ needs root: .*; run it with sudo\n$/, args.join(' '));
    assert.doesNotMatch(r.stderr, /EACCES|no guard/, args.join(' '));
  }
});

test('a user: probe prints what it can see, then says the kernel probes need root (exit 2)', canDrop, () => {
  const r = asNobody(process.execPath, bin, 'probe');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stdout, /^kernel {16}/);
  assert.match(r.stdout, /sysctl guard: not known/);
  assert.doesNotMatch(r.stdout, /NOT supported/);
  assert.match(r.stderr, /^sysward probe: probe needs root: /);
});

test('requireRoot lets a user through only where it can do the job: a folder it can read, not one it cannot', canDrop, () => {
  const root = fileURLToPath(new URL('../../src/cli/root.js', import.meta.url));
  const open = join(tmp, 'open');
  const closed = join(tmp, 'closed');
  mkdirSync(open, { mode: 0o755 });
  mkdirSync(closed, { mode: 0o700 });
  const check = (needsArg: string) => asNobody(process.execPath, '--input-type=module', '-e',
    `import { requireRoot } from ${JSON.stringify(root)}; try { requireRoot('x', 'y', ${needsArg}); console.log('ok'); } catch (e) { console.log(e.name, e.message); }`).stdout.trim();
  assert.equal(check(JSON.stringify({ read: open })), 'ok');
  assert.equal(check(JSON.stringify({ read: join(open, 'not-made-yet') })), 'ok', 'the nearest existing parent decides');
  assert.equal(check(JSON.stringify({ read: closed })), 'NeedsRootError x needs root: y; run it with sudo');
  assert.equal(check(JSON.stringify({ write: open })), 'NeedsRootError x needs root: y; run it with sudo', 'read-only to the user');
  assert.equal(check(JSON.stringify({ read: open, caps: ['BPF'] })), 'NeedsRootError x needs root: y; run it with sudo', 'nobody has no CAP_BPF');
  assert.equal(check('undefined'), 'NeedsRootError x needs root: y; run it with sudo', 'no needs given: root only');
});

test('kernel: guard names that are paths (.., ../guards, ../../x) exit 2 and remove nothing', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const guard = `sw-test-names-${process.pid}`;
    // Another tool's pins, beside sysward's folder in bpffs.
    const foreign = `/sys/fs/bpf/sw-test-foreign-${process.pid}`;
    try {
      writeFileSync(join(tmp, 'g.yaml'), `name: ${guard}\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), abs)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
      const applied = sysward('guard', 'apply', '-f', join(tmp, 'g.yaml'));
      assert.equal(applied.status, 0, applied.stderr);
      mkdirSync(foreign);
      for (const args of [['guard', 'rm', '..'], ['guard', 'rm', '../guards'], ['guard', 'rm', `../../${foreign.split('/').pop()}`], ['guard', 'rm', `../guards/${guard}`],
        ['guard', 'ls', '../x'], ['events', '../../x'], ['events', '.']]) {
        const r = sysward(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /^sysward \w+: "[^"]+" is not a guard name: names are 1 to 63 lower-case letters, digits and "-", starting with a letter or digit \(as in a policy's name:\); list the guards with `sysward guard ls`\n$/, args.join(' '));
      }
      assert.ok(existsSync(join(guardsDir(), guard, 'prog')), 'the guard is still pinned');
      assert.ok(existsSync(foreign), 'the other tool\'s folder is still there');
      assert.equal(sysward('guard', 'ls', guard).status, 0);
    } finally {
      sysward('guard', 'rm', guard);
      if (existsSync(foreign)) rmdirSync(foreign);
    }
  });
});
