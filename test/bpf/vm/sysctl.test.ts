// cgroup-sysctl programs in the interpreter: the kernel selftest's 40 cases
// (tools/testing/selftests/bpf/prog_tests/test_sysctl.c, summarised in the reference page) that an
// interpreter can decide, written as programs with the Assembler, and the helpers' other edge cases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Assembler, R0, R1, R2, R3, R4, R6, R7, R8, R10 } from '../../../src/bpf/asm/index.js';
import {
  Errno, createVmMap, kernelStrtol, kernelStrtoul, runProgram, type VmSysctlContext, type VmSysctlRunResult,
} from '../../../src/bpf/vm/index.js';
import { STRTO_CASES, strtoProgram } from './cases.js';
import { putBytes, u, vmError } from './helpers.js';

const OSTYPE = { name: 'kernel/ostype', currentValue: 'Linux\n' };
const TCP_MEM = { name: 'net/ipv4/tcp_mem', currentValue: '22218\t29626\t44436\n' };
const MTU_EXPIRES = { name: 'net/ipv4/route/mtu_expires', currentValue: '600\n' };
const read = (s: { name: string; currentValue: string | null }, filePos = 0): VmSysctlContext => ({ kind: 'sysctl', write: false, filePos, ...s });
const write = (s: { name: string; currentValue: string | null }, value: string): VmSysctlContext => ({ kind: 'sysctl', write: true, newValue: value, ...s });

function run(build: (a: Assembler) => Assembler, ctx: VmSysctlContext): VmSysctlRunResult {
  return runProgram(build(new Assembler()).assemble(), { ctx });
}

/** Jumps to `fail` unless the `len` bytes at fp+`at` are `expected` (checked in u64 chunks; clobbers r1, r2). */
function expectBytes(a: Assembler, at: number, expected: string | Buffer, fail: string): Assembler {
  const e = Buffer.from(expected);
  const padded = Buffer.alloc(Math.ceil(e.length / 8) * 8);
  e.copy(padded);
  for (let i = 0; i < padded.length; i += 8) {
    const n = Math.min(8, e.length - i);
    a.ldx('u64', R1, R10, at + i);
    if (n < 8) a.ldImm64(R2, (1n << BigInt(n * 8)) - 1n).and(R1, R2);
    a.ldImm64(R2, padded.readBigUInt64LE(i)).jne(R1, R2, fail);
  }
  return a;
}

/** Zeroes `bytes` of stack from fp+`at`. */
const zero = (a: Assembler, at: number, bytes: number): Assembler => {
  for (let i = 0; i < bytes; i += 8) a.st('u64', R10, at + i, 0);
  return a;
};

/**
 * Calls `helper(ctx, fp+at, len[, flags])` (after zeroing or filling the buffer), then allows the
 * access (r0 = 1) only if it returned `ret` and the buffer holds `expected`: the selftests' shape.
 */
function helperCase(helper: string, len: number, ret: bigint, expected: string | Buffer, o: { at?: number; flags?: number; fill?: number; deny?: boolean } = {}) {
  const at = o.at ?? -32;
  return (a: Assembler): Assembler => {
    a.mov(R6, R1);
    if (o.fill !== undefined) putBytes(a, at, Buffer.alloc(-at, o.fill));
    else zero(a, at, -at);
    a.mov(R1, R6).mov(R2, R10).add(R2, at).mov(R3, len);
    if (o.flags !== undefined) a.mov(R4, o.flags);
    a.call(helper);
    a.ldImm64(R7, ret).jne(R0, R7, 'fail');
    expectBytes(a, at, expected, 'fail');
    return a.mov(R0, o.deny ? 0 : 1).exit().label('fail').mov(R0, o.deny ? 1 : 0).exit();
  };
}

const E = (code: keyof typeof Errno): bigint => u(-Errno[code]);

describe('VM sysctl: the selftest cases', () => {
  it('#2 read, allow all', () => assert.equal(run((a) => a.mov(R0, 1).exit(), read(OSTYPE)).allowed, true));
  it('#3 read, deny all', () => assert.equal(run((a) => a.mov(R0, 0).exit(), read(OSTYPE)).allowed, false));

  const denyWrites = (a: Assembler) => a.ldx('u32', R7, R1, 0).mov(R0, 1).jne(R7, 1, 'out').mov(R0, 0).label('out').exit();
  it('#4 ctx->write on a read', () => assert.equal(run(denyWrites, read(OSTYPE)).allowed, true));
  it('#5 ctx->write on a write', () => assert.equal(run(denyWrites, write({ name: 'kernel/domainname', currentValue: '(none)\n' }, '(none)')).allowed, false));
  it('#6 narrow (2-byte) load of ctx->write', () => {
    assert.equal(run((a) => a.ldx('u16', R7, R1, 0).mov(R0, 1).sub(R0, R7).exit(), write({ name: 'kernel/domainname', currentValue: '(none)\n' }, '(none)')).allowed, false);
  });
  it('#7 a store to ctx->write is refused', () => {
    assert.throws(() => run((a) => a.mov(R0, 1).stx('u32', R1, 0, R0).exit(), read(OSTYPE)), vmError('invalid-context-access'));
  });
  it('#8 ctx->file_pos', () => {
    const prog = (a: Assembler) => a.ldx('u32', R7, R1, 4).mov(R0, 0).jne(R7, 3, 'out').mov(R0, 1).label('out').exit();
    assert.equal(run(prog, read(OSTYPE, 3)).allowed, true);
    assert.equal(run(prog, read(OSTYPE, 2)).allowed, false);
  });
  it('#9 narrow (1-byte) load of ctx->file_pos', () => {
    assert.equal(run((a) => a.ldx('u8', R7, R1, 4).mov(R0, 0).jne(R7, 4, 'out').mov(R0, 1).label('out').exit(), read(OSTYPE, 4)).allowed, true);
  });
  it('#10 a write of ctx->file_pos moves the read', () => {
    const r = run((a) => a.mov(R0, 2).stx('u32', R1, 4, R0).mov(R0, 1).exit(), read(OSTYPE));
    assert.equal(r.allowed, true);
    assert.equal(r.filePos, 2);
    assert.equal(OSTYPE.currentValue.slice(r.filePos), 'nux\n');
  });

  it('#11 base name', () => assert.ok(run(helperCase('sysctl_get_name', 8, 7n, 'tcp_mem\0', { flags: 1 }), read(TCP_MEM)).allowed));
  it('#12 base name, E2BIG', () => assert.ok(run(helperCase('sysctl_get_name', 7, E('E2BIG'), 'tcp_me\0\0', { flags: 1 }), read(TCP_MEM)).allowed));
  it('#13 full name', () => assert.ok(run(helperCase('sysctl_get_name', 17, 16n, 'net/ipv4/tcp_mem\0', { flags: 0 }), read(TCP_MEM)).allowed));
  it('#14 full name, E2BIG', () => assert.ok(run(helperCase('sysctl_get_name', 16, E('E2BIG'), 'net/ipv4/tcp_me\0', { flags: 0 }), read(TCP_MEM)).allowed));
  it('#15 full name, small buffer (cut inside a directory)', () => assert.ok(run(helperCase('sysctl_get_name', 7, E('E2BIG'), 'net/ip\0\0', { flags: 0 }), read(TCP_MEM)).allowed));

  it('#16 current value, buffer larger: zero-padded', () => assert.ok(run(helperCase('sysctl_get_current_value', 8, 6n, 'Linux\n\0\0', { fill: 0xff }), read(OSTYPE)).allowed));
  it('#17 current value, buffer one larger', () => assert.ok(run(helperCase('sysctl_get_current_value', 7, 6n, 'Linux\n\0'), read(OSTYPE)).allowed));
  it('#18 current value, E2BIG: NUL at len - 1', () => assert.ok(run(helperCase('sysctl_get_current_value', 6, E('E2BIG'), 'Linux\0'), read(OSTYPE)).allowed));
  it('#19 current value EINVAL (reading it fails): zeroed buffer', () => {
    const secret = { name: 'net/ipv6/conf/lo/stable_secret', currentValue: null };
    assert.equal(run(helperCase('sysctl_get_current_value', 8, E('EINVAL'), Buffer.alloc(8), { fill: 0xff, deny: true }), read(secret)).allowed, false);
  });
  it('#20 current value on a write', () => {
    assert.equal(run(helperCase('sysctl_get_current_value', 8, 4n, '600\n\0\0\0\0', { deny: true }), write(MTU_EXPIRES, '600')).allowed, false);
  });

  it('#21 new value on a read: EINVAL, zeroed', () => assert.ok(run(helperCase('sysctl_get_new_value', 8, E('EINVAL'), Buffer.alloc(8), { fill: 0xaa }), read(TCP_MEM)).allowed));
  it('#22 new value', () => assert.equal(run(helperCase('sysctl_get_new_value', 4, 3n, '606\0', { deny: true }), write(MTU_EXPIRES, '606')).allowed, false));
  it('#23 long new value', () => {
    assert.equal(run(helperCase('sysctl_get_new_value', 24, 23n, '3000000 4000000 6000000\0', { deny: true }), write(TCP_MEM, '3000000 4000000 6000000')).allowed, false);
  });
  it('#24 new value E2BIG', () => assert.equal(run(helperCase('sysctl_get_new_value', 3, E('E2BIG'), '60\0', { deny: true }), write(MTU_EXPIRES, '606')).allowed, false));

  /** set_new_value(ctx, "600", 3); allow if it returned `ret`. */
  const setValue = (ret: bigint) => (a: Assembler) => a.mov(R6, R1)
    .st('u64', R10, -8, 0).st('u32', R10, -8, 0x00303036) // "600\0"
    .mov(R1, R6).mov(R2, R10).add(R2, -8).mov(R3, 3).call('sysctl_set_new_value')
    .ldImm64(R7, ret).mov(R8, R0).mov(R0, 0).jne(R8, R7, 'out').mov(R0, 1).label('out').exit();
  it('#25 set value on a read: EINVAL', () => {
    const r = run(setValue(E('EINVAL')), read(MTU_EXPIRES));
    assert.equal(r.allowed, true);
    assert.equal(r.newValueUpdated, false);
    assert.equal(r.newValue, null);
  });
  it('#26 set value on a write: the handler gets the program\'s value', () => {
    const r = run(setValue(0n), write(MTU_EXPIRES, '606'));
    assert.equal(r.allowed, true);
    assert.equal(r.newValueUpdated, true);
    assert.equal(r.newValue!.toString(), '600');
  });

  /** strtoul / strtol of `text` (padded to `bufBytes` with NULs) with len and flags; allow if ret and *res match. */
  const strto = (helper: 'strtol' | 'strtoul', text: string, len: number, flags: number, ret: bigint, res: bigint) => (a: Assembler) => {
    putBytes(a, -32, text);
    a.mov(R1, R10).add(R1, -32).mov(R2, len).mov(R3, flags).mov(R4, R10).add(R4, -40).call(helper);
    a.ldImm64(R7, ret).jne(R0, R7, 'fail');
    a.ldx('u64', R1, R10, -40).ldImm64(R7, res).jne(R1, R7, 'fail');
    return a.mov(R0, 1).exit().label('fail').mov(R0, 0).exit();
  };
  it('#27 strtoul', () => assert.ok(run(strto('strtoul', '600\0', 4, 0, 3n, 600n), read(OSTYPE)).allowed));
  it('#28 strtoul, several numbers', () => {
    const r = run((a) => {
      putBytes(a, -32, '600 602\0');
      a.mov(R1, R10).add(R1, -32).mov(R2, 8).mov(R3, 0).mov(R4, R10).add(R4, -40).call('strtoul');
      a.jne(R0, 3, 'fail').ldx('u64', R1, R10, -40).jne(R1, 600, 'fail');
      a.mov(R1, R10).add(R1, -32).add(R1, R0).mov(R2, 5).mov(R3, 0).mov(R4, R10).add(R4, -40).call('strtoul');
      a.jne(R0, 4, 'fail').ldx('u64', R1, R10, -40).jne(R1, 602, 'fail');
      return a.mov(R0, 1).exit().label('fail').mov(R0, 0).exit();
    }, read(OSTYPE));
    assert.ok(r.allowed);
  });
  it('#29 strtoul with len 0 is refused', () => {
    assert.throws(() => run(strto('strtoul', '600\0', 0, 0, 0n, 0n), read(OSTYPE)), vmError('helper', /size argument r2 is 0/));
  });
  it('#30 strtoul base 8', () => assert.ok(run(strto('strtoul', '077\0', 4, 8, 3n, 63n), read(OSTYPE)).allowed));
  it('#31 strtoul base 3: EINVAL', () => assert.ok(run(strto('strtoul', '077\0', 4, 3, E('EINVAL'), 0n), read(OSTYPE)).allowed));
  it('#32 strtoul of only spaces: EINVAL', () => assert.ok(run(strto('strtoul', '\x09\x0a\x0c\x0d', 4, 0, E('EINVAL'), 0n), read(OSTYPE)).allowed));
  it('#33 strtoul of a negative: EINVAL', () => assert.ok(run(strto('strtoul', '\n-6\0', 4, 0, E('EINVAL'), 0n), read(OSTYPE)).allowed));
  it('#34 strtol of a negative', () => assert.ok(run(strto('strtol', '\n-6\0', 4, 10, 3n, u(-6)), read(OSTYPE)).allowed));
  it('#35 strtol hex without a NUL', () => assert.ok(run(strto('strtol', '0xfe', 4, 0, 4n, 254n), read(OSTYPE)).allowed));
  it('#36 strtol LLONG_MAX', () => assert.ok(run(strto('strtol', '9223372036854775807', 19, 0, 19n, (1n << 63n) - 1n), read(OSTYPE)).allowed));
  it('#37 strtol overflow: ERANGE', () => assert.ok(run(strto('strtol', '9223372036854775808', 19, 0, E('ERANGE'), 0n), read(OSTYPE)).allowed));

  it('#38 deny all writes (the C program)', () => {
    assert.equal(run(denyWrites, write(TCP_MEM, '123 456 789')).allowed, false);
  });
  it('#39 deny by name', () => {
    const denyMtuExpires = (a: Assembler) => {
      a.mov(R6, R1);
      zero(a, -64, 64);
      a.mov(R1, R6).mov(R2, R10).add(R2, -64).mov(R3, 64).mov(R4, 0).call('sysctl_get_name').jslt(R0, 0, 'allow');
      expectBytes(a, -64, 'net/ipv4/route/mtu_expires\0', 'allow');
      return a.mov(R0, 0).exit().label('allow').mov(R0, 1).exit();
    };
    assert.equal(run(denyMtuExpires, read(MTU_EXPIRES)).allowed, false);
    assert.equal(run(denyMtuExpires, read(TCP_MEM)).allowed, true);
  });
  it('#40 read tcp_mem: allowed only if its three numbers increase', () => {
    const increasing = (a: Assembler) => {
      a.mov(R6, R1);
      zero(a, -64, 64);
      a.mov(R1, R6).mov(R2, R10).add(R2, -64).mov(R3, 64).call('sysctl_get_current_value').jslt(R0, 0, 'deny');
      a.mov(R7, 0); // offset into the value
      for (let i = 0; i < 3; i++) {
        a.mov(R1, R10).add(R1, -64).add(R1, R7).mov(R2, 16).mov(R3, 0).mov(R4, R10).add(R4, -72 - 8 * i).call('strtoul');
        a.jslt(R0, 1, 'deny').add(R7, R0);
      }
      a.ldx('u64', R1, R10, -72).ldx('u64', R2, R10, -80).ldx('u64', R3, R10, -88);
      return a.jge(R1, R2, 'deny').jge(R2, R3, 'deny').mov(R0, 1).exit().label('deny').mov(R0, 0).exit();
    };
    assert.equal(run(increasing, read(TCP_MEM)).allowed, true);
    assert.equal(run(increasing, read({ name: TCP_MEM.name, currentValue: '3\t2\t1\n' })).allowed, false);
  });
});

describe('VM sysctl: more edge cases', () => {
  it('ctx->write and file_pos narrow loads read the right bytes', () => {
    const r = (off: number, size: 'u8' | 'u16', pos: number) => run((a) => a.ldx(size, R7, R1, off).mov(R0, 0).jeq(R7, 0, 'out').mov(R0, 1).label('out').exit(), read(OSTYPE, pos)).allowed;
    assert.equal(r(5, 'u8', 0x0100), true);
    assert.equal(r(4, 'u8', 0x0100), false);
    assert.equal(r(6, 'u16', 0x1_0000), true);
  });

  it('file_pos is the low half of the 64-bit position', () => {
    const big = 2 ** 32 + 5;
    const res = run((a) => a.ldx('u32', R7, R1, 4).mov(R0, 0).jne(R7, 5, 'out').mov(R2, 7).stx('u32', R1, 4, R2).mov(R0, 1).label('out').exit(), read(OSTYPE, big));
    assert.equal(res.allowed, true);
    assert.equal(res.filePos, 2 ** 32 + 7);
  });

  it('get_name ignores flag bits other than BASE_NAME, as the kernel does', () => {
    assert.ok(run(helperCase('sysctl_get_name', 24, 16n, 'net/ipv4/tcp_mem\0', { flags: 2 }), read(TCP_MEM)).allowed);
  });

  it('get_name wants its whole buffer initialised (ARG_PTR_TO_MEM)', () => {
    assert.throws(() => run((a) => a.mov(R2, R10).add(R2, -16).mov(R3, 16).mov(R4, 0).call('sysctl_get_name').mov(R0, 1).exit(), read(OSTYPE)), vmError('uninitialised-stack'));
  });

  it('set_new_value: len past PAGE_SIZE - 1 is E2BIG; 4095 bytes are taken', () => {
    const page = createVmMap({ type: 'ARRAY', keySize: 4, valueSize: 4096, maxEntries: 1, name: 'page' });
    const set = (len: number) => runProgram(new Assembler().mov(R6, R1).ldMapValue(R2, page, 0).mov(R1, R6).mov(R3, len).call('sysctl_set_new_value')
      .mov(R7, R0).mov(R0, 1).jeq(R7, 0, 'out').mov(R0, 0).label('out').exit().assemble(), { ctx: write(MTU_EXPIRES, '1\n') });
    assert.equal(set(4096).allowed, false);
    const ok = set(4095);
    assert.equal(ok.allowed, true);
    assert.equal(ok.newValue!.length, 4095);
  });

  it('set_new_value on a write of nothing: EINVAL; get_new_value too, zero-filled', () => {
    const r = run(helperCase('sysctl_get_new_value', 8, E('EINVAL'), Buffer.alloc(8), { fill: 0x11 }), write(MTU_EXPIRES, ''));
    assert.equal(r.allowed, true);
    const s = runProgram(new Assembler().mov(R6, R1).st('u64', R10, -8, 0x31).mov(R1, R6).mov(R2, R10).add(R2, -8).mov(R3, 1)
      .call('sysctl_set_new_value').mov(R7, R0).mov(R0, 0).jne(R7, -Errno.EINVAL, 'out').mov(R0, 1).label('out').exit().assemble(), { ctx: write(MTU_EXPIRES, '') });
    assert.equal(s.allowed, true);
  });

  it('the new value is at most a page; get_new_value sees the override after set_new_value', () => {
    assert.ok(run(helperCase('sysctl_get_new_value', 8, E('E2BIG'), 'xxxxxxx\0'), write(MTU_EXPIRES, 'x'.repeat(5000))).allowed);
    const r = run((a) => {
      a.mov(R6, R1).st('u64', R10, -8, 0x3939).mov(R1, R6).mov(R2, R10).add(R2, -8).mov(R3, 2).call('sysctl_set_new_value');
      zero(a, -24, 16).mov(R1, R6).mov(R2, R10).add(R2, -24).mov(R3, 16).call('sysctl_get_new_value');
      return a.mov(R7, R0).mov(R0, 0).jne(R7, 2, 'out').mov(R0, 1).label('out').exit();
    }, write(MTU_EXPIRES, '606\n'));
    assert.equal(r.allowed, true);
    assert.equal(r.newValue!.toString(), '99');
  });

  it('a refused write does not take the override', () => {
    const r = run((a) => a.mov(R6, R1).st('u64', R10, -8, 0x3939).mov(R1, R6).mov(R2, R10).add(R2, -8).mov(R3, 2).call('sysctl_set_new_value').mov(R0, 0).exit(), write(MTU_EXPIRES, '606\n'));
    assert.equal(r.allowed, false);
    assert.equal(r.newValueUpdated, true);
    assert.equal(r.newValue!.toString(), '606\n');
  });

  it('get_current_value with an empty current value is EINVAL', () => {
    assert.ok(run(helperCase('sysctl_get_current_value', 8, E('EINVAL'), Buffer.alloc(8), { fill: 1 }), read({ name: 'kernel/x', currentValue: '' })).allowed);
  });

  it('the sysctl helpers need a sysctl context', () => {
    assert.throws(() => runProgram(new Assembler().mov(R6, R1).st('u64', R10, -8, 0).mov(R2, R10).add(R2, -8).mov(R3, 8).call('sysctl_get_current_value').exit().assemble()), vmError('helper', /not a sysctl access/));
  });
});

describe('VM sysctl: strtol / strtoul', () => {
  for (const [text, flags, helper, ret, value] of STRTO_CASES) {
    it(`${helper}(${JSON.stringify(text)}, base flags ${flags}) = ${ret}${ret >= 0 ? `, ${value}` : ''}`, () => {
      const r = runProgram(strtoProgram(text, flags, helper), { ctx: { kind: 'bytes', bytes: Buffer.alloc(16) } });
      assert.equal(r.returnValue, BigInt.asUintN(64, BigInt(ret)));
      assert.equal(r.ctxBytes!.readBigUInt64LE(8), value);
      // and the pure functions agree
      const f = helper === 'strtol' ? kernelStrtol : kernelStrtoul;
      assert.deepEqual(f(Buffer.from(text, 'latin1'), BigInt(flags)), { ret, value });
    });
  }

  it('the result pointer must be aligned', () => {
    assert.throws(() => runProgram(new Assembler().st('u64', R10, -16, 0x31).st('u64', R10, -8, 0).mov(R1, R10).add(R1, -16).mov(R2, 1).mov(R3, 0).mov(R4, R10).add(R4, -12).call('strtol').exit().assemble()), vmError('misaligned'));
  });
});
