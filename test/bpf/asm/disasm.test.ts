import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  Assembler,
  decodeInstructions,
  formatInstruction,
  formatInstructions,
  type Instruction,
  R0,
  R1,
  R2,
  R10,
} from '../../../src/bpf/asm/index.js';
import { FIXTURE_PROGRAMS } from './fixture-programs.js';
import { readFixtureHex, readFixtureMeta, readFixtureText } from './fixtures.js';

/** One instruction's text, without the index. */
const one = (insn: Instruction, next?: Instruction): string => formatInstruction(next ? [insn, next] : [insn], 0);

describe('formatInstructions against bpftool prog dump xlated', () => {
  for (const program of FIXTURE_PROGRAMS.filter((p) => p.listings.includes('bpftool'))) {
    it(`prints ${program.name} as bpftool does`, () => {
      const xlated = decodeInstructions(readFixtureHex(`${program.name}.xlated.hex`));
      const expected = readFixtureText(`${program.name}.bpftool.txt`);
      // In xlated code the kernel has replaced helper ids with function addresses, which bpftool
      // names from /proc/kallsyms; the names it printed stand in for that lookup here.
      const kallsyms = new Map([...expected.matchAll(/call (\S+)#(-?\d+)/g)].map((m) => [Number(m[2]), m[1]!]));
      const options = { mapText: (id: number) => `map[id:${id}]`, callName: (insn: Instruction) => kallsyms.get(insn.imm) };
      assert.equal(formatInstructions(xlated, options), expected);
      assert.equal(formatInstructions(xlated, { ...options, opcodes: true }), readFixtureText(`${program.name}.bpftool-opcodes.txt`));
    });
  }
});

describe('formatInstruction against the Linux 6.18 verifier log', () => {
  for (const program of FIXTURE_PROGRAMS.filter((p) => p.listings.includes('verifier'))) {
    it(`prints ${program.name} as the kernel does`, () => {
      const insns = decodeInstructions(readFixtureHex(`${program.name}.insns.hex`));
      // "Live regs before insn" lines: index, live registers, instruction.
      const lines = readFixtureText(`${program.name}.verifier.txt`).trimEnd().split('\n');
      assert.ok(lines.length >= 8, 'the listing has every instruction');
      for (const line of lines) {
        const match = /^ *(\d+): [.0-9]{10} (.*)$/.exec(line);
        assert.ok(match, `unexpected line ${line}`);
        assert.equal(formatInstruction(insns, Number(match[1])), match[2], line);
      }
    });
  }
});

describe('formatInstruction', () => {
  it('prints what the builder writes, in bpftool notation', () => {
    const map = { fd: 5 };
    const { instructions } = new Assembler()
      .mov(R0, 1)
      .jne(R1, 0, 'out')
      .stx('u32', R10, -8, R1)
      .call('sysctl_get_name')
      .ldMapFd(R1, map)
      .ldMapValue(R2, map, 16)
      .label('out')
      .exit()
      .assemble();
    assert.equal(formatInstructions(instructions), [
      '   0: (b7) r0 = 1',
      '   1: (55) if r1 != 0x0 goto pc+6',
      '   2: (63) *(u32 *)(r10 -8) = r1',
      '   3: (85) call bpf_sysctl_get_name#101',
      '   4: (18) r1 = map[fd:5]',
      '   6: (18) r2 = map[fd:5][0]+16',
      '   8: (95) exit',
      '',
    ].join('\n'));
    assert.equal(formatInstruction(instructions, 4, { mapText: (fd) => `map[id:${fd + 100}]` }), '(18) r1 = map[id:105]');
  });

  it('numbers lines as printf("% 4d: ") does', () => {
    const exits = Array.from({ length: 1001 }, () => ({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }));
    const lines = formatInstructions(exits).split('\n');
    assert.equal(lines[0], '   0: (95) exit');
    assert.equal(lines[999], ' 999: (95) exit');
    assert.equal(lines[1000], ' 1000: (95) exit');
  });

  it('prints the ld_imm64 forms as bpftool print_imm does', () => {
    const ld = (src: number, imm: number, high: number): string =>
      one({ code: 0x18, dst: 1, src, off: 0, imm }, { code: 0, dst: 0, src: 0, off: 0, imm: high });
    assert.equal(ld(0, -1, -1), '(18) r1 = 0xffffffffffffffff');
    assert.equal(ld(0, 0, 0), '(18) r1 = 0x0');
    assert.equal(ld(4, -3, 0), '(18) r1 = subprog[-3]');
    assert.equal(ld(6, 2, 8), '(18) r1 = map[idx:2]+8');
    assert.equal(ld(5, 2, 0), '(18) r1 = 0x2');
  });

  it('names calls as disasm.c does', () => {
    assert.equal(one({ code: 0x85, dst: 0, src: 0, off: 0, imm: 211 }), '(85) call bpf_cgrp_storage_delete#211');
    assert.equal(one({ code: 0x85, dst: 0, src: 0, off: 0, imm: 500 }), '(85) call unknown#500');
    assert.equal(one({ code: 0x85, dst: 0, src: 2, off: 0, imm: 1234 }), '(85) call kernel-function#1234');
    assert.equal(one({ code: 0x85, dst: 0, src: 1, off: 0, imm: -4 }), '(85) call pc-4');
  });

  it('prints kernel-internal and newer forms as Linux 6.18 does', () => {
    assert.equal(one({ code: 0xbf, dst: 0, src: 0, off: -1, imm: 0 }), '(bf) r0 = &(void __percpu *)(r0)');
    assert.equal(one({ code: 0xbf, dst: 1, src: 2, off: 1, imm: 0x10002 }), '(bf) r1 = addr_space_cast(r2, 1, 2)');
    assert.equal(one({ code: 0xc2, dst: 0, src: 0, off: 0, imm: 0 }), '(c2) nospec');
    assert.equal(one({ code: 0xe5, dst: 0, src: 0, off: 3, imm: 0 }), '(e5) may_goto pc+3');
    assert.equal(one({ code: 0xdb, dst: 1, src: 2, off: 8, imm: 0x100 }), '(db) r1 = load_acquire((u64 *)(r2 +8))');
    assert.equal(one({ code: 0xc3, dst: 1, src: 2, off: -4, imm: 0x110 }), '(c3) store_release((u32 *)(r1 -4), r2)');
  });

  it('prints invalid encodings the way the kernel does', () => {
    assert.equal(one({ code: 0xdb, dst: 1, src: 2, off: 0, imm: 0x02 }), 'BUG_db');
    assert.equal(one({ code: 0x22, dst: 1, src: 0, off: 0, imm: 0 }), 'BUG_st_22');
    assert.equal(one({ code: 0x21, dst: 1, src: 2, off: 0, imm: 0 }), 'BUG_ldx_21');
    assert.equal(one({ code: 0x60, dst: 1, src: 2, off: 0, imm: 0 }), 'BUG_ld_60');
    assert.equal(one({ code: 0x99, dst: 1, src: 2, off: 0, imm: 0 }), '(99) r1 = *((null) *)(r2 +0)');
    assert.equal(one({ code: 0xe7, dst: 1, src: 0, off: 0, imm: 1 }), '(e7) r1 (null) 1');
  });

  it('keeps the sign conventions of printf', () => {
    assert.equal(one({ code: 0x15, dst: 1, src: 0, off: 0, imm: -1 }), '(15) if r1 == 0xffffffff goto pc+0');
    assert.equal(one({ code: 0x05, dst: 0, src: 0, off: -32768, imm: 0 }), '(05) goto pc-32768');
    assert.equal(one({ code: 0x72, dst: 10, src: 0, off: 0, imm: -1 }), '(72) *(u8 *)(r10 +0) = -1');
    assert.equal(one({ code: 0xdc, dst: 15, src: 0, off: 0, imm: 16 }), '(dc) r15 = be16 r15');
  });

  it('prints the recorded map program with fds before loading', () => {
    const meta = readFixtureMeta('maps-calls');
    const insns = decodeInstructions(readFixtureHex('maps-calls.insns.hex'));
    const text = formatInstructions(insns);
    assert.match(text, new RegExp(`r1 = map\\[fd:${meta.mapFds[0]}\\]`));
    assert.match(text, new RegExp(`r1 = map\\[fd:${meta.mapFds[1]}\\]\\[0\\]\\+4`));
    assert.match(text, /call bpf_map_lookup_elem#1\n/);
  });
});
