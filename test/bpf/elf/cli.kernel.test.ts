// The CLI verbs (src/cli/commands/bpf-object.ts) as a user runs them, compared with bpftool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { kernel, needs, pythonExecutable, which } from '../../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../../helpers/cgroup.js';
import { compileFixture, withClang } from './compile.js';

const PY = pythonExecutable();

const gate = { ...kernel(), ...(withClang.skip ? withClang : {}), ...(which('bpftool') ? {} : needs('needs bpftool')) };
const MODULE = join(repoRoot(), 'dist', 'src', 'cli', 'commands', 'bpf-object.js');

/** Run one verb in a child node, as the CLI would: stdout, stderr, status. */
function verb(fn: 'runLoad' | 'runProg' | 'runMap', args: string[]) {
  const script = `import { ${fn} } from ${JSON.stringify(MODULE)}; process.exitCode = ${fn}(${JSON.stringify(args)});`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
}

test('kernel: bpf load --pin --attach-cgroup, then prog ls, prog dump and map dump show it as bpftool does', gate, async () => {
  const obj = compileFixture('sysctl');
  const dir = `/sys/fs/bpf/sysward-test-cli-${process.pid}`;
  try {
    await withFreshCgroup((cg) => {
      const r = verb('runLoad', [obj, '--pin', dir, '--attach-cgroup', cg, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const loaded = JSON.parse(r.stdout);
      const prog = loaded.programs[0];
      assert.equal(prog.name, 'sysctl_policy');
      assert.ok(existsSync(join(dir, 'sysctl_policy')) && existsSync(join(dir, 'links', 'sysctl_policy')));
      assert.deepEqual(loaded.maps.map((m: { pinned: string }) => m.pinned.slice(dir.length + 1)).sort(), ['maps/stats', 'maps/sysctl_bss', 'maps/sysctl_rodata']);
      // The command has exited; the pinned link keeps the policy in force.
      const w = shInCgroup(cg, `${PY} -c "import os; os.write(os.open('/proc/sys/kernel/domainname', os.O_WRONLY), b'x\\\\n')"`, ['--uts']);
      assert.match(w.stderr, /Operation not permitted/);
      const ls = verb('runProg', ['ls']);
      assert.match(ls.stdout, new RegExp(`^${prog.id}: cgroup_sysctl  name sysctl_policy  tag [0-9a-f]{16}$`, 'm'));
      const ours = verb('runProg', ['dump', String(prog.id)]).stdout;
      const theirs = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(prog.id)], { encoding: 'utf8' });
      // The same text, the call of name_matches included (call pc+N#bpf_prog_TAG_name_matches).
      assert.equal(ours, theirs);
      assert.match(ours, /^int sysctl_policy\(struct bpf_sysctl \* ctx\):$/m);
      // Map values decoded by the BTF the kernel keeps for the map, after the loader exited.
      const stats = loaded.maps.find((m: { name: string }) => m.name === 'stats');
      assert.equal(verb('runMap', ['dump', String(stats.id)]).stdout, '0: {"refused":1,"allowed":0}\n');
      const bss = loaded.maps.find((m: { name: string }) => m.name.endsWith('.bss'));
      assert.equal(verb('runMap', ['dump', String(bss.id)]).stdout, '0: {"refused_total":1,"last_write":1}\n');
      rmSync(join(dir, 'links', 'sysctl_policy'));
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('kernel: bpf load of a malformed object fails with the ElfError and pins nothing', gate, () => {
  const r = verb('runLoad', [join(repoRoot(), 'test', 'fixtures', 'elf', 'malformed', 'btf-bad-magic.o'), '--pin', '/sys/fs/bpf/sysward-test-cli-bad']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ElfError: btf-bad-magic\.o: \.BTF: no BTF magic/);
  assert.equal(existsSync('/sys/fs/bpf/sysward-test-cli-bad'), false);
});

test('kernel: bpf prog run runs a pinned SEC("syscall") program; map dump takes a pinned path', gate, () => {
  const obj = compileFixture('externs');
  const dir = `/sys/fs/bpf/sysward-test-cli-run-${process.pid}`;
  try {
    const load = verb('runLoad', [obj, '--pin', dir]);
    assert.equal(load.status, 0, load.stderr);
    assert.match(load.stdout, /not attached: read_externs \(syscall\); SEC\("syscall"\) programs are run, not attached: sysward bpf prog run PINNED-PATH/);
    const bss = join(dir, 'maps', 'externs_bss');
    const before = JSON.parse(verb('runMap', ['dump', bss, '--json']).stdout).entries[0].value.seen;
    assert.equal(before.hz, 0, 'not run yet');
    const run = verb('runProg', ['run', join(dir, 'read_externs'), '--json']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).retval, 0);
    const after = JSON.parse(verb('runMap', ['dump', bss, '--json']).stdout).entries[0].value.seen;
    assert.ok(after.hz > 0 && after.self_pid === run.pid, `the program ran in the CLI's process: ${JSON.stringify(after)}`);
    // bpftool's line (bpftool 7.1 itself cannot run SYSCALL programs: it always sends repeat=1).
    assert.match(verb('runProg', ['run', join(dir, 'read_externs')]).stdout, /^Return value: 0, duration: \d+ns\n$/);
    const cli = (...args: string[]) => spawnSync(join(repoRoot(), 'bin', 'sysward'), ['bpf', 'prog', 'run', ...args], { encoding: 'utf8' });
    const bad = cli(join(dir, 'read_externs'), '--repeat', '2');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /SEC\("syscall"\) programs run once per call/);
    const missing = cli(join(dir, 'nothing-here'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /ENOENT opening pinned .*nothing-here/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
