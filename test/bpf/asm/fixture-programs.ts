// The programs whose kernel-accepted bytes and bpftool / verifier listings are recorded under
// test/fixtures/asm/. Each one is a valid program of its type, so that the kernel loaded it when
// the fixtures were recorded, and together they use every instruction the builder can write.

import { Assembler, type MapLike, R0, R1, R2, R3, R4, R5, R6, R7, R10 } from '../../../src/bpf/asm/index.js';

export interface FixtureProgram {
  readonly name: string;
  /** enum bpf_prog_type: 1 socket filter, 23 cgroup sysctl. */
  readonly progType: number;
  readonly expectedAttachType: number;
  /** [map_type, key_size, value_size, max_entries] of the maps the program uses, in order. */
  readonly maps: ReadonlyArray<readonly [number, number, number, number]>;
  /** Which listings were recorded: bpftool's of the xlated code, the verifier's of the raw code. */
  readonly listings: ReadonlyArray<'bpftool' | 'verifier'>;
  readonly build: (maps: readonly MapLike[]) => Assembler;
}

const SOCKET_FILTER = 1;
const CGROUP_SYSCTL = 23;
const BPF_CGROUP_SYSCTL = 18;
const MAP_HASH = 1;
const MAP_ARRAY = 2;

type AluMethod = 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'or' | 'and' | 'lsh' | 'rsh' | 'arsh' | 'xor' | 'mov';
type JumpMethod = 'jeq' | 'jne' | 'jgt' | 'jge' | 'jlt' | 'jle' | 'jsgt' | 'jsge' | 'jslt' | 'jsle' | 'jset';

const aluMethods: AluMethod[] = ['add', 'sub', 'mul', 'div', 'mod', 'or', 'and', 'lsh', 'rsh', 'arsh', 'xor', 'mov'];
const jumpMethods: JumpMethod[] = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'];

/** Every ALU operation in both widths and both source forms, every conditional jump likewise. */
function aluAndJumps(): Assembler {
  const a = new Assembler().call('get_prandom_u32').mov(R1, R0).mov(R2, R0).rsh(R2, 60).add(R2, 1);
  aluMethods.forEach((op, i) => a[op](R1, op === 'lsh' || op === 'rsh' || op === 'arsh' ? 3 : i + 2));
  aluMethods.forEach((op) => a[op](R1, R2));
  aluMethods.forEach((op, i) => a[`${op}32`](R1, op === 'lsh' || op === 'rsh' || op === 'arsh' ? 5 : -(i + 1)));
  aluMethods.forEach((op) => a[`${op}32`](R1, R2));
  a.neg(R1).neg32(R1);
  a.toLe(R1, 16).toLe(R1, 32).toLe(R1, 64).toBe(R1, 16).toBe(R1, 32).toBe(R1, 64);
  a.mov(R1, R0);
  let n = 0;
  // Each jump skips one write of a dead register, so both paths reach the next jump.
  for (const op of jumpMethods) {
    for (const method of [op, `${op}32`] as const) {
      a[method](R1, n % 2 ? R2 : n - 5, `j${n}`).mov(R5, n).label(`j${n}`);
      n++;
      a[method](R1, n % 2 ? R2 : n - 5, `j${n}`).mov(R5, n).label(`j${n}`);
      n++;
    }
  }
  return a.jeq(R1, 0, 'middle').ja('end').label('middle').mov(R5, 1).label('end').mov(R0, 0).exit();
}

/** Loads, stores and atomics of every size, and the legacy packet loads. */
function memory(): Assembler {
  const a = new Assembler().mov(R6, R1).mov(R2, 7).mov(R7, 2);
  a.st('u64', R10, -8, -1).st('u32', R10, -12, 0x7fffffff).st('u16', R10, -14, 3).st('u8', R10, -15, 255).st('u8', R10, -16, 0);
  a.stx('u64', R10, -24, R2).stx('u32', R10, -28, R2).stx('u16', R10, -30, R2).stx('u8', R10, -31, R2).stx('u8', R10, -32, R2);
  a.ldx('u64', R3, R10, -8).ldx('u32', R3, R10, -12).ldx('u16', R3, R10, -14).ldx('u8', R3, R10, -15);
  for (const op of ['add', 'and', 'or', 'xor'] as const) {
    a.atomic(op, 'u64', R10, -24, R2).atomic(op, 'u32', R10, -28, R2);
    a.atomicFetch(op, 'u64', R10, -24, R2).atomicFetch(op, 'u32', R10, -28, R2);
  }
  a.xchg('u64', R10, -24, R2).xchg('u32', R10, -28, R2);
  a.mov(R0, 0).cmpxchg('u64', R10, -24, R3).cmpxchg('u32', R10, -28, R3);
  // ld_abs / ld_ind read the packet of the skb in r6 and clobber r1..r5.
  a.ldAbs('u8', 0).ldAbs('u16', 2).ldAbs('u32', 4).ldInd('u8', R7, 1).ldInd('u16', R7, -2).ldInd('u32', R7, 0);
  return a.mov(R0, 0).exit();
}

/** Helper calls, maps by fd and by value address, 64-bit constants. */
function mapsAndCalls(maps: readonly MapLike[]): Assembler {
  const [hash, array] = maps as [MapLike, MapLike];
  return new Assembler()
    .call('get_prandom_u32')
    .call('bpf_ktime_get_ns')
    .st('u32', R10, -4, 0)
    .mov(R2, R10)
    .add(R2, -4)
    .ldMapFd(R1, hash)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'miss')
    .ldx('u64', R3, R0, 0)
    .label('miss')
    .mov(R2, R10)
    .add(R2, -4)
    .ldMapFd(R1, array)
    .call(1)
    .ldMapValue(R1, array, 4)
    .ldImm64(R3, 0x1234567887654321n)
    .ldImm64(R4, -1n)
    .ldImm64(R5, 0)
    .mov(R0, 0)
    .exit();
}

/** The Linux 6.6 instructions, and a bpf-to-bpf call. */
function newerInstructions(): Assembler {
  return new Assembler()
    .call('get_prandom_u32')
    .mov(R1, R0)
    .mov(R2, 3)
    .sdiv(R1, R2)
    .smod(R1, R2)
    .sdiv(R1, -7)
    .smod(R1, 7)
    .sdiv32(R1, R2)
    .smod32(R1, R2)
    .sdiv32(R1, -3)
    .smod32(R1, 3)
    .movsx(R3, R1, 8)
    .movsx(R3, R1, 16)
    .movsx(R3, R1, 32)
    .movsx32(R3, R1, 8)
    .movsx32(R3, R1, 16)
    .bswap(R3, 16)
    .bswap(R3, 32)
    .bswap(R3, 64)
    .st('u64', R10, -8, 5)
    .ldx('s8', R4, R10, -8)
    .ldx('s16', R4, R10, -8)
    .ldx('s32', R4, R10, -8)
    .jeq32(R1, 5, 'long')
    .gotol('join')
    .label('long')
    .mov(R5, 2)
    .label('join')
    .callLocal('subprogram')
    .mov(R0, 0)
    .exit()
    .label('subprogram')
    .mov(R0, 1)
    .exit();
}

/** Encodings the builder has no method for, written raw: load-acquire, store-release (Linux 6.15), may_goto (6.9). */
function rawNewerInstructions(): Assembler {
  return new Assembler()
    .st('u64', R10, -8, 5)
    .raw(
      { code: 0xdb, dst: 1, src: 10, off: -8, imm: 0x100 },
      { code: 0xdb, dst: 10, src: 1, off: -16, imm: 0x110 },
      { code: 0xe5, dst: 0, src: 0, off: 1, imm: 0 },
    )
    .mov(R0, 7)
    .raw({ code: 0xc3, dst: 10, src: 1, off: -16, imm: 0x110 })
    .mov(R0, 0)
    .exit();
}

/** The shape of a sysctl guard: read ctx->write, fetch the name, allow. */
function sysctlName(): Assembler {
  const a = new Assembler().ldx('u32', R2, R1, 0).mov(R6, R1);
  for (let off = -64; off < 0; off += 8) a.st('u64', R10, off, 0);
  return a
    .mov(R1, R6)
    .mov(R2, R10)
    .add(R2, -64)
    .mov(R3, 64)
    .mov(R4, 0)
    .call('sysctl_get_name')
    .mov(R0, 1)
    .exit();
}

export const FIXTURE_PROGRAMS: readonly FixtureProgram[] = [
  { name: 'alu-jmp', progType: SOCKET_FILTER, expectedAttachType: 0, maps: [], listings: ['bpftool', 'verifier'], build: aluAndJumps },
  { name: 'memory', progType: SOCKET_FILTER, expectedAttachType: 0, maps: [], listings: ['bpftool', 'verifier'], build: memory },
  {
    name: 'maps-calls',
    progType: SOCKET_FILTER,
    expectedAttachType: 0,
    maps: [
      [MAP_HASH, 4, 8, 4],
      [MAP_ARRAY, 4, 8, 1],
    ],
    // The verifier prints map loads as kernel addresses, so only bpftool's listing is recorded.
    listings: ['bpftool'],
    build: mapsAndCalls,
  },
  // bpftool 7.1 cannot print these instructions; the kernel's own printer can.
  { name: 'newer-insns', progType: SOCKET_FILTER, expectedAttachType: 0, maps: [], listings: ['verifier'], build: newerInstructions },
  { name: 'raw-newer-insns', progType: SOCKET_FILTER, expectedAttachType: 0, maps: [], listings: ['verifier'], build: rawNewerInstructions },
  { name: 'sysctl', progType: CGROUP_SYSCTL, expectedAttachType: BPF_CGROUP_SYSCTL, maps: [], listings: ['bpftool', 'verifier'], build: sysctlName },
];
