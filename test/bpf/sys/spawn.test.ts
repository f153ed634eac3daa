// spawnHelper (posix_spawn through koffi) gives a child what child_process gives one with stdio
// ['ignore', 'pipe', 'pipe']: output, exit status or signal, every signal at its default action
// and none blocked, and child_process's error when the program is not there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { spawnHelper } from '../../../src/bpf/sys/spawn.js';

const script = 'grep -E "^Sig(Blk|Ign)" /proc/self/status; read -r line || echo "stdin: eof"; echo "to stderr" >&2; exit 3';

test('spawnHelper: stdout, stderr, exit status, signals and stdin as child_process gives them', async () => {
  const want = spawnSync('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  assert.deepEqual(await spawnHelper('sh', ['-c', script]).wait(), { status: want.status, signal: null, stdout: want.stdout, stderr: want.stderr });
  assert.match(want.stdout, /SigBlk:\s+0+\nSigIgn:\s+0+\nstdin: eof\n/);
  assert.deepEqual(spawnHelper('sh', ['-c', script]).waitSync(), { status: 3, signal: null, stdout: want.stdout, stderr: 'to stderr\n' });
});

test('spawnHelper: a child ended by a signal has no status; waiting again gives the same answer', async () => {
  const child = spawnHelper('sh', ['-c', 'kill -TERM $$']);
  const r = await child.wait();
  assert.deepEqual(r, { status: null, signal: 15, stdout: '', stderr: '' });
  assert.equal(child.waitSync(), r);
});

test('spawnHelper: a program that is not there throws child_process\'s error', () => {
  assert.throws(() => spawnHelper('sysward-no-such-program', []), (e: NodeJS.ErrnoException) => e.message === 'spawn sysward-no-such-program ENOENT' && e.code === 'ENOENT');
});
