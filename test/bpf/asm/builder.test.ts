import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AsmError,
  type AsmErrorKind,
  Assembler,
  type Instruction,
  type MapLike,
  R0,
  R1,
  R2,
  R3,
  R6,
  R10,
  Register,
} from '../../../src/bpf/asm/index.js';
import { FIXTURE_PROGRAMS } from './fixture-programs.js';
import { readFixtureHex, readFixtureMeta } from './fixtures.js';

function isAsmError(kind: AsmErrorKind, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof AsmError, `expected an AsmError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    assert.match(error.message, pattern);
    return true;
  };
}

const at = (insns: Instruction[], index: number): Instruction => insns[index]!;

describe('Assembler', () => {
  it('chains and assembles a minimal program', () => {
    const { instructions, bytes } = new Assembler().mov(R0, 1).exit().assemble();
    assert.equal(instructions.length, 2);
    assert.equal(bytes.toString('hex'), 'b700000001000000' + '9500000000000000');
  });

  it('resolves forward and backward jumps, counting ld_imm64 as two slots', () => {
    const { instructions, labels } = new Assembler()
      .label('top') //            0
      .jeq(R1, 0, 'out') //       0: skips 1..3 (ld_imm64 is two slots)
      .ldImm64(R2, 1n) //         1, 2
      .ja('top') //               3
      .label('out')
      .mov(R0, 0) //              4
      .jne32(R0, R1, 'top') //    5
      .gotol('top') //            6
      .exit() //                  7
      .assemble();
    assert.equal(at(instructions, 0).off, 3);
    assert.equal(at(instructions, 3).off, -4);
    assert.equal(at(instructions, 5).off, -6);
    assert.equal(at(instructions, 6).imm, -7);
    assert.equal(at(instructions, 6).off, 0);
    assert.deepEqual([...labels], [
      ['top', 0],
      ['out', 4],
    ]);
  });

  it('resolves local calls and callback addresses to labels', () => {
    const { instructions } = new Assembler()
      .ldFunc(R2, 'callback') // 0, 1
      .callLocal('callback') //  2
      .exit() //                 3
      .label('callback')
      .mov(R0, 0) //             4
      .exit()
      .assemble();
    assert.deepEqual(at(instructions, 0), { code: 0x18, dst: 2, src: 4, off: 0, imm: 3 });
    assert.deepEqual(at(instructions, 2), { code: 0x85, dst: 0, src: 1, off: 0, imm: 1 });
  });

  it('reports an undefined label with the closest defined one', () => {
    const a = new Assembler().jeq(R1, 0, 'fial').mov(R0, 1).exit().label('fail').mov(R0, 0).exit();
    assert.throws(() => a.assemble(), isAsmError('undefined-label', /instruction 0 refers to undefined label "fial": did you mean "fail"\?/));
    assert.throws(() => new Assembler().ja('nowhere').exit().assemble(), isAsmError('undefined-label', /define it with label\("nowhere"\)/));
  });

  it('reports a duplicate label where it is defined', () => {
    const a = new Assembler().label('x').mov(R0, 0);
    assert.throws(() => a.label('x'), isAsmError('duplicate-label', /label "x" is defined twice \(instructions 0 and 1\)/));
  });

  it('reports a label that marks no instruction', () => {
    assert.throws(() => new Assembler().ja('end').label('end').assemble(), isAsmError('dangling-label', /label "end" marks no instruction/));
  });

  it('reports jumps beyond the 16-bit offset and suggests gotol', () => {
    const far = new Assembler().jeq(R1, 0, 'far');
    for (let i = 0; i < 32768; i++) far.mov(R0, 0);
    far.label('far').exit();
    assert.throws(() => far.assemble(), isAsmError('jump-out-of-range', /instruction 0 jumps 32768 instructions to "far".*gotol/));

    const justInRange = new Assembler().ja('far');
    for (let i = 0; i < 32767; i++) justInRange.mov(R0, 0);
    assert.equal(at(justInRange.label('far').exit().assemble().instructions, 0).off, 32767);

    const long = new Assembler().gotol('far');
    for (let i = 0; i < 40000; i++) long.mov(R0, 0);
    assert.equal(at(long.label('far').exit().assemble().instructions, 0).imm, 40000);
  });

  it('calls helpers by name, prefixed name or id, and suggests names for typos', () => {
    const { instructions } = new Assembler().call('sysctl_get_name').call('bpf_strtol').call(5).assemble();
    assert.deepEqual(
      instructions.map((insn) => insn.imm),
      [101, 105, 5],
    );
    assert.throws(() => new Assembler().call('sysctl_get_nam'), isAsmError('unknown-helper', /did you mean sysctl_get_name\?/));
  });

  it('resolves map fds only at assemble time', () => {
    // A map that does not exist yet when the program is written.
    const pending: { fd: number } = { fd: -1 };
    const a = new Assembler().ldMapFd(R1, pending).ldMapValue(R2, pending, 8).mov(R0, 0).exit();
    assert.throws(() => a.assemble(), isAsmError('map-not-ready', /instruction 0 refers to a map whose fd is -1: create the map/));
    pending.fd = 42;
    const first = a.assemble();
    assert.deepEqual(first.instructions.slice(0, 4), [
      { code: 0x18, dst: 1, src: 1, off: 0, imm: 42 },
      { code: 0, dst: 0, src: 0, off: 0, imm: 0 },
      { code: 0x18, dst: 2, src: 2, off: 0, imm: 42 },
      { code: 0, dst: 0, src: 0, off: 0, imm: 8 },
    ]);
    assert.deepEqual(first.mapReferences, [
      { index: 0, map: pending, kind: 'fd', valueOffset: 0 },
      { index: 2, map: pending, kind: 'value', valueOffset: 8 },
    ]);
    // Recreated map, same program.
    pending.fd = 7;
    assert.equal(at(a.assemble().instructions, 0).imm, 7);
  });

  it('reads the fd through a getter, so map objects can own it', () => {
    class FakeMap implements MapLike {
      reads = 0;
      get fd(): number {
        this.reads++;
        return 9;
      }
    }
    const map = new FakeMap();
    new Assembler().ldMapFd(R1, map).exit().assemble();
    assert.equal(map.reads, 1);
  });

  it('writes 64-bit constants into two slots', () => {
    const { instructions } = new Assembler().ldImm64(R1, 0x1122334455667788n).ldImm64(R2, -2n).ldImm64(R3, 2 ** 40).assemble();
    assert.deepEqual(instructions.slice(0, 2), [
      { code: 0x18, dst: 1, src: 0, off: 0, imm: 0x55667788 },
      { code: 0, dst: 0, src: 0, off: 0, imm: 0x11223344 },
    ]);
    assert.deepEqual([at(instructions, 2).imm, at(instructions, 3).imm], [-2, -1]);
    assert.deepEqual([at(instructions, 4).imm, at(instructions, 5).imm], [0, 256]);
    assert.throws(() => new Assembler().ldImm64(R1, 1n << 64n), isAsmError('invalid-operand', /not a 64-bit integer/));
    assert.throws(() => new Assembler().ldImm64(R1, 2 ** 60), isAsmError('invalid-operand', /pass a bigint/));
  });

  it('checks operands when the instruction is written', () => {
    const a = new Assembler().mov(R0, 0);
    assert.throws(() => a.add(R1, 0xffffffff), isAsmError('invalid-operand', /instruction 1 \(add\): immediate 4294967295 does not fit: a 64-bit operation sign-extends/));
    assert.doesNotThrow(() => a.and32(R1, 0xffffffff));
    assert.throws(() => a.jeq(R1, 2 ** 31, 'x'), isAsmError('invalid-operand', /sign-extends/));
    assert.throws(() => a.ldx('u32', R1, R10, 40000), isAsmError('invalid-operand', /offset 40000 does not fit 16 bits/));
    assert.throws(() => a.st('u32', R10, -4, 1.5), isAsmError('invalid-operand', /immediate 1.5/));
    assert.throws(() => a.bswap(R1, 8 as 16), isAsmError('invalid-operand', /8 is not a swap width/));
    assert.throws(() => a.movsx32(R1, R2, 32 as 16), isAsmError('invalid-operand', /use one of 8, 16/));
    assert.throws(() => a.ldx('s64' as 'u64', R1, R2, 0), isAsmError('invalid-operand', /there is no s64 load/));
    assert.throws(() => a.call(-1), isAsmError('invalid-operand', /immediate -1/));
    assert.throws(() => a.label(''), isAsmError('invalid-operand', /label name is empty/));
    // Nothing was appended by the failed calls.
    assert.equal(a.length, 2);
  });

  it('appends raw slots as they are', () => {
    const odd = { code: 0x8d, dst: 15, src: 15, off: -1, imm: -1 };
    assert.deepEqual(new Assembler().raw(odd).assemble().instructions, [odd]);
  });

  it('refuses a raw slot whose fields do not fit the wire format, where it is appended', () => {
    const a = new Assembler().mov(R0, 0);
    assert.throws(() => a.raw({ code: 0x1b7, dst: 0, src: 0, off: 0, imm: 0 }), isAsmError('invalid-instruction', /instruction 1: code = 439 does not fit/));
    assert.throws(() => a.raw({ code: 0xb7, dst: 16, src: 0, off: 0, imm: 0 }), isAsmError('invalid-instruction', /dst = 16/));
    assert.throws(() => a.raw({ code: 0xb7, dst: 0, src: 0, off: 0x8000, imm: 0 }), isAsmError('invalid-instruction', /off = 32768/));
    assert.throws(() => a.raw({ code: 0xb7, dst: 0, src: 0, off: 0, imm: 1.5 }), isAsmError('invalid-instruction', /imm = 1.5/));
    assert.equal(a.exit().length, 2);
    // The wire bytes are made when asked for, and the same each time.
    const p = a.assemble();
    assert.equal(p.bytes, p.bytes);
    assert.deepEqual(p.bytes, Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]));
  });

  it('assembles the example of its doc comment', () => {
    const policyMap = { fd: 3 };
    const program = new Assembler()
      .ldx('u32', R2, R1, 0)
      .mov(R0, 1)
      .jeq(R2, 0, 'done')
      .ldMapFd(R1, policyMap)
      .stx('u64', R10, -8, R2)
      .mov(R2, R10)
      .add(R2, -8)
      .call('map_lookup_elem')
      .mov(R0, 0)
      .label('done')
      .exit()
      .assemble();
    assert.equal(program.instructions.length, 11);
    assert.equal(at(program.instructions, 2).off, 7);
    assert.deepEqual(program.mapReferences.map((ref) => ref.index), [3]);
  });

  it('exposes registers as distinct values', () => {
    assert.equal(Register.at(10), R10);
    assert.equal(String(R6), 'r6');
    assert.throws(() => Register.at(11), /there is no register r11/);
  });

  it('builds the recorded fixture programs byte for byte', () => {
    for (const program of FIXTURE_PROGRAMS) {
      const meta = readFixtureMeta(program.name);
      const maps = meta.mapFds.map((fd) => ({ fd }));
      const { bytes } = program.build(maps).assemble();
      assert.deepEqual(bytes, readFixtureHex(`${program.name}.insns.hex`), program.name);
    }
  });
});
