// `sysward bpf run`: the interpreter from the command line, without root.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { Assembler, R0, R1, R2, R3, R4, R6, R10 } from '../../../src/bpf/asm/index.js';
import { repoRoot } from '../../helpers/paths.js';

const sysward = join(repoRoot(), 'bin', 'sysward');

function cli(args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, [sysward, 'bpf', 'run', ...args], { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Refuses writes whose base name is "hostname"; allows everything else. */
const denyHostname = new Assembler()
  .mov(R6, R1).st('u64', R10, -16, 0).st('u64', R10, -8, 0)
  .mov(R1, R6).mov(R2, R10).add(R2, -16).mov(R3, 16).mov(R4, 1).call('sysctl_get_name')
  .ldx('u64', R1, R10, -16).ldImm64(R2, Buffer.from('hostname').readBigUInt64LE(0))
  .mov(R0, 1).jne(R1, R2, 'out').ldx('u32', R0, R6, 0).xor(R0, 1)
  .label('out').exit()
  .assemble();

const hexLines = (bytes: Buffer) => bytes.toString('hex').replace(/(.{16})/g, '$1\n');

describe('sysward bpf run', () => {
  it('runs hex from stdin on a sysctl write and exits 1 when the program refuses', () => {
    const r = cli(['-', '--sysctl', 'kernel.hostname', '--write', 'evil\\n', '--current', 'box\\n'], hexLines(denyHostname.bytes));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^return value: 0 \(refused: the access fails with EPERM\)$/m);
    assert.match(r.stdout, /^new value: "evil\\n"$/m);
    const ok = cli(['-', '--sysctl', 'kernel/domainname', '--write', 'x'], hexLines(denyHostname.bytes));
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^return value: 1 \(allowed\)$/m);
  });

  it('reads a raw .bin, traces, and prints JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-vm-'));
    try {
      const file = join(dir, 'prog.bin');
      writeFileSync(file, denyHostname.bytes);
      const r = cli([file, '--sysctl', 'kernel.hostname', '--current-fails', '--trace', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.returnValue, 1);
      assert.equal(out.allowed, true);
      assert.equal(out.trace[0].text, '(bf) r6 = r1');
      assert.equal(out.instructionsExecuted, out.trace.length);
      const text = cli([file, '--sysctl', 'kernel.hostname', '--trace']);
      assert.match(text.stdout, /call bpf_sysctl_get_name#101 +; r0 = 8 {2}sysctl_get_name\(ctx\+0, fp-16, 16, 1\) = 8/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives programs maps with --map and prints ring buffer records', () => {
    const prog = new Assembler().st('u64', R10, -8, 0x2a).ldMapFd(R1, { fd: 5 }).mov(R2, R10).add(R2, -8).mov(R3, 8).mov(R4, 0)
      .call('ringbuf_output').exit().assemble();
    const r = cli(['--hex', prog.bytes.toString('hex'), '--map', '5:ringbuf:0:0:4096']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ring buffer fd 5: 1 record\n {2}2a00000000000000\n/);
    const missing = cli(['--hex', prog.bytes.toString('hex')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /map fd 5 is not one of the run's maps/);
  });

  it('a fault exits 1 and names the instruction; bad input exits 2', () => {
    const fault = cli(['--hex', '79a0f8ff00000000 9500000000000000']);
    assert.equal(fault.status, 1);
    assert.match(fault.stderr, /reads stack bytes never written \(at instruction 0: \(79\) r0 = \*\(u64 \*\)\(r10 -8\)\)/);
    assert.equal(cli(['--hex', 'zz']).status, 2);
    assert.equal(cli(['--hex', 'b700000001000000 9500000000000000', '--write', 'x']).status, 2);
    assert.equal(cli([]).status, 2);
    const ctx = cli(['--hex', '61100000000000009500000000000000', '--ctx-hex', '2a000000']);
    assert.equal(ctx.status, 0, ctx.stderr);
    assert.match(ctx.stdout, /^return value: 42$/m);
  });
});
