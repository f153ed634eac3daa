// Compares the builder's bytes with struct bpf_insn initializers that a C compiler builds from the
// installed uapi headers (test/fixtures/asm/golden.c).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { Assembler, helperId, R0, R1, R2, R10 } from '../../../src/bpf/asm/index.js';
import { needs, which } from '../../helpers/env.js';
import { fixturePath } from './fixtures.js';

type Build = (a: Assembler) => Assembler;

const aluOps = ['add', 'sub', 'mul', 'div', 'mod', 'or', 'and', 'lsh', 'rsh', 'arsh', 'xor', 'mov'] as const;
const jumpOps = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'] as const;

/** How the builder writes each golden entry; the entry's instruction is the first one written. */
function builderTable(): Map<string, Build> {
  const table = new Map<string, Build>();
  for (const op of aluOps) {
    table.set(`${op}64_k`, (a) => a[op](R1, -5));
    table.set(`${op}64_x`, (a) => a[op](R1, R2));
    table.set(`${op}32_k`, (a) => a[`${op}32`](R1, 0xfffffffb));
    table.set(`${op}32_x`, (a) => a[`${op}32`](R1, R2));
  }
  for (const op of jumpOps) {
    table.set(`${op}64_k`, (a) => a.label('self')[op](R1, -5, 'self'));
    table.set(`${op}64_x`, (a) => a.label('self')[op](R1, R2, 'self'));
    table.set(`${op}32_k`, (a) => a.label('self')[`${op}32`](R1, 0xfffffffb, 'self'));
    table.set(`${op}32_x`, (a) => a.label('self')[`${op}32`](R1, R2, 'self'));
  }
  const entries: Array<[string, Build]> = [
    ['neg64', (a) => a.neg(R1)],
    ['neg32', (a) => a.neg32(R1)],
    ['sdiv64_x', (a) => a.sdiv(R1, R2)],
    ['smod64_k', (a) => a.smod(R1, -7)],
    ['sdiv32_k', (a) => a.sdiv32(R1, 3)],
    ['smod32_x', (a) => a.smod32(R1, R2)],
    ['movsx64_8', (a) => a.movsx(R1, R2, 8)],
    ['movsx64_16', (a) => a.movsx(R1, R2, 16)],
    ['movsx64_32', (a) => a.movsx(R1, R2, 32)],
    ['movsx32_8', (a) => a.movsx32(R1, R2, 8)],
    ['movsx32_16', (a) => a.movsx32(R1, R2, 16)],
    ['le16', (a) => a.toLe(R1, 16)],
    ['le32', (a) => a.toLe(R1, 32)],
    ['le64', (a) => a.toLe(R1, 64)],
    ['be16', (a) => a.toBe(R1, 16)],
    ['be32', (a) => a.toBe(R1, 32)],
    ['be64', (a) => a.toBe(R1, 64)],
    ['bswap16', (a) => a.bswap(R1, 16)],
    ['bswap32', (a) => a.bswap(R1, 32)],
    ['bswap64', (a) => a.bswap(R1, 64)],
    ['ja_forward', (a) => a.ja('target').exit().exit().label('target').exit()],
    ['ja_backward', (a) => a.label('self').ja('self')],
    ['gotol', (a) => a.gotol('target').exit().exit().label('target').exit()],
    ['call_helper', (a) => a.call('bpf_sysctl_get_name')],
    ['call_local', (a) => a.callLocal('sub').exit().exit().label('sub').exit()],
    ['call_kfunc', (a) => a.callKfunc(12345)],
    ['exit', (a) => a.exit()],
    ['ldx_u8', (a) => a.ldx('u8', R1, R2, 3)],
    ['ldx_u16', (a) => a.ldx('u16', R1, R2, -2)],
    ['ldx_u32', (a) => a.ldx('u32', R1, R2, 4)],
    ['ldx_u64', (a) => a.ldx('u64', R1, R2, -32768)],
    ['ldx_s8', (a) => a.ldx('s8', R1, R2, 1)],
    ['ldx_s16', (a) => a.ldx('s16', R1, R2, 2)],
    ['ldx_s32', (a) => a.ldx('s32', R1, R2, 32767)],
    ['stx_u8', (a) => a.stx('u8', R10, -1, R2)],
    ['stx_u16', (a) => a.stx('u16', R10, -2, R2)],
    ['stx_u32', (a) => a.stx('u32', R10, -4, R2)],
    ['stx_u64', (a) => a.stx('u64', R10, -8, R2)],
    ['st_u8', (a) => a.st('u8', R10, -1, 255)],
    ['st_u16', (a) => a.st('u16', R10, -2, 65535)],
    ['st_u32', (a) => a.st('u32', R10, -4, 0xffffffff)],
    ['st_u64', (a) => a.st('u64', R10, -8, -2)],
    ['atomic_add_u32', (a) => a.atomic('add', 'u32', R1, 4, R2)],
    ['atomic_and_u64', (a) => a.atomic('and', 'u64', R1, 8, R2)],
    ['atomic_or_u64', (a) => a.atomic('or', 'u64', R1, 0, R2)],
    ['atomic_xor_u32', (a) => a.atomic('xor', 'u32', R1, 0, R2)],
    ['fetch_add_u64', (a) => a.atomicFetch('add', 'u64', R1, 0, R2)],
    ['fetch_and_u32', (a) => a.atomicFetch('and', 'u32', R1, 0, R2)],
    ['fetch_or_u64', (a) => a.atomicFetch('or', 'u64', R1, -8, R2)],
    ['fetch_xor_u32', (a) => a.atomicFetch('xor', 'u32', R1, 0, R2)],
    ['xchg_u64', (a) => a.xchg('u64', R1, 0, R2)],
    ['cmpxchg_u32', (a) => a.cmpxchg('u32', R1, 0, R2)],
    ['ld_imm64', (a) => a.ldImm64(R1, 0x1234567887654321n)],
    ['ld_imm64_negative', (a) => a.ldImm64(R1, -2n)],
    ['ld_map_fd', (a) => a.ldMapFd(R1, { fd: 7 })],
    ['ld_map_value', (a) => a.ldMapValue(R1, { fd: 7 }, 16)],
    ['ld_func', (a) => a.ldFunc(R1, 'callback').exit().label('callback').mov(R0, 0)],
    ['ld_abs_u8', (a) => a.ldAbs('u8', 12)],
    ['ld_abs_u16', (a) => a.ldAbs('u16', 12)],
    ['ld_abs_u32', (a) => a.ldAbs('u32', 12)],
    ['ld_ind_u8', (a) => a.ldInd('u8', R2, -4)],
    ['ld_ind_u16', (a) => a.ldInd('u16', R2, -4)],
    ['ld_ind_u32', (a) => a.ldInd('u32', R2, -4)],
  ];
  for (const [name, build] of entries) table.set(name, build);
  return table;
}

/** Compiles and runs golden.c: entry name to instruction bytes as hex. */
function runGolden(): Map<string, string> {
  if (spawnSync('cc', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error('cc is missing: install gcc (CI installs it in .ci/run)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'sysward-asm-golden-'));
  try {
    const binary = join(dir, 'golden');
    execFileSync('cc', ['-std=c11', '-Wall', '-Werror', '-o', binary, fixturePath('golden.c')], { stdio: 'pipe' });
    const output = execFileSync(binary, { encoding: 'utf8' });
    return new Map(output.trim().split('\n').map((line) => line.split(' ') as [string, string]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('golden encodings from <linux/bpf.h>', () => {
  it('match the builder for every instruction class', needs(which('cc') ? false : 'no C compiler (cc) on PATH'), () => {
    const golden = runGolden();
    const table = builderTable();
    assert.deepEqual([...golden.keys()].sort(), [...table.keys()].sort(), 'golden.c and this test list the same entries');
    for (const [name, hex] of golden) {
      const { bytes } = table.get(name)!(new Assembler()).assemble();
      assert.equal(bytes.subarray(0, hex.length / 2).toString('hex'), hex, name);
    }
  });

  it('uses the helper ids of the header', () => {
    // golden.c's call_helper uses BPF_FUNC_sysctl_get_name; this keeps the name lookup honest too.
    assert.equal(helperId('sysctl_get_name'), 101);
  });
});
