// The 40 cases of the kernel's cgroup-sysctl selftest (tools/testing/selftests/bpf/prog_tests/
// test_sysctl.c and progs/test_sysctl_prog.c) as data, written with sysward's Assembler.
//
// Engine-independent: a case says which program to load, how to attach it, which /proc/sys access a
// process of the cgroup then makes, and what must happen. Each program checks the helper results
// itself, as the selftest's do, and returns 1 (allow) or 0 (deny) depending on whether they are
// exactly what the reference (docs/conformance.md, the kernel sources) says; so a wrong helper
// result shows up as the wrong verdict (EPERM where success was expected, or the reverse).
//
// Byte strings that programs compare are loaded the way the selftest loads them: the string's bytes
// as a little-endian number (the selftest writes bpf_be64_to_cpu(0x7463705f6d656d00) for "tcp_mem\0").

import { Assembler, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, type AssembledProgram } from '../../src/bpf/asm/index.js';
import type { AttachTypeName } from '../../src/bpf/prog.js';

/** What the cgroup's process does. */
export interface SysctlAccess {
  /** The name below /proc/sys with '/' separators, as sysctl_get_name returns it. */
  sysctl: string;
  op: 'read' | 'write';
  /** lseek to this position before reading (ctx->file_pos). */
  seek?: number;
  /** The bytes written (no newline, as the selftest writes them). */
  value?: string;
}

/**
 * - `load-rejected`: the verifier refuses the program.
 * - `attach-rejected`: attaching it to the cgroup fails.
 * - `EPERM`: it loads and attaches; the read or write fails with EPERM (the program returned 0).
 * - `success`: the read or write succeeds (the program returned 1).
 */
export type Expectation = 'load-rejected' | 'attach-rejected' | 'EPERM' | 'success';

export interface SysctlCase {
  id: number;
  title: string;
  /** The selftest's own description of the case. */
  selftest: string;
  program: AssembledProgram;
  /** How the program is attached (BPF_CGROUP_SYSCTL except case 1, which uses type 0). */
  attachType: AttachTypeName;
  access: SysctlAccess;
  expect: Expectation;
  /** The bytes a successful read returns (up to 128 bytes from the file position). */
  readBack?: string;
  /** The key's value read back (outside the program's reach) after a successful write. */
  valueAfter?: string;
  /**
   * Values the program embeds, as the key reads before the access (in the namespaces the access
   * runs in). A run checks them first: a different value is a broken precondition, not a failure of
   * the helper under test.
   */
  relies?: Readonly<Record<string, string>>;
  /** Kernel versions that behave differently for this case, and how a run tells. */
  kernels?: string;
}

// ---- constants ------------------------------------------------------------------------------------

/** BPF_F_SYSCTL_BASE_NAME */
const BASE_NAME = 1;
const E2BIG = -7;
const EINVAL = -22;
const ERANGE = -34;

/** Up to 8 bytes of `s` (NUL-padded) as the little-endian u64 a load of them gives. */
export function le64(s: string): bigint {
  const b = Buffer.alloc(8);
  const src = Buffer.from(s, 'latin1');
  if (src.length > 8) throw new RangeError(`"${s}" is longer than 8 bytes`);
  src.copy(b);
  return b.readBigUInt64LE(0);
}

/** Up to 4 bytes of `s` (NUL-padded) as the little-endian u32 a 4-byte load gives (fits a signed imm here). */
export function le32(s: string): number {
  const b = Buffer.alloc(4);
  const src = Buffer.from(s, 'latin1');
  if (src.length > 4) throw new RangeError(`"${s}" is longer than 4 bytes`);
  src.copy(b);
  const v = b.readUInt32LE(0);
  if (v > 0x7fff_ffff) throw new RangeError(`"${s}" does not fit a positive 32-bit immediate`);
  return v;
}

// ---- program building blocks ----------------------------------------------------------------------

/** Ends a program: falls through to "allow" (r0 = 1); jumps to `deny` give 0. */
const allowElseDeny = (a: Assembler): AssembledProgram =>
  a.mov(R0, 1).ja('exit').label('deny').mov(R0, 0).label('exit').exit().assemble();

/** Ends a program: falls through to "deny" (r0 = 0); jumps to `allow` give 1. */
const denyElseAllow = (a: Assembler): AssembledProgram =>
  a.mov(R0, 0).ja('exit').label('allow').mov(R0, 1).label('exit').exit().assemble();

/** r7 = fp - size, the buffer; its `zeroDwords` first 8-byte words zeroed. */
const stackBuffer = (a: Assembler, size: number, zeroDwords = 0): Assembler => {
  a.mov(R7, R10).add(R7, -size).mov(R0, 0);
  for (let i = 0; i < zeroDwords; i++) a.stx('u64', R7, i * 8, R0);
  return a;
};

/** Jumps to `label` unless the 8 bytes at r7 + off are `s` (NUL-padded). Clobbers r8, r9. */
const unlessDword = (a: Assembler, off: number, s: string, label: string): Assembler =>
  a.ldImm64(R8, le64(s)).ldx('u64', R9, R7, off).jne(R8, R9, label);

/** sysctl_get_name(ctx, r7, len, flags) into a buffer of `size` bytes zeroed first. */
const getName = (size: number, len: number, flags: number): Assembler =>
  stackBuffer(new Assembler(), size, size / 8).mov(R2, R7).mov(R3, len).mov(R4, flags).call('sysctl_get_name');

/**
 * The selftest's strtol / strtoul cases: the string is at fp-8 (or fp-24 for long ones), the
 * result at 8 bytes below it, r7 points at the result after the call.
 */
const strto = (
  helper: 'strtoul' | 'strtol',
  o: { store: (a: Assembler) => Assembler; bufSize?: number; len: number; flags: number },
): Assembler => {
  const a = new Assembler().mov(R7, R10).add(R7, -(o.bufSize ?? 8));
  o.store(a);
  return a
    .mov(R1, R7)
    .mov(R2, o.len)
    .mov(R3, o.flags)
    .add(R7, -8)
    .stx('u64', R7, 0, R0) // the selftest initialises the result with whatever r0 holds
    .mov(R4, R7)
    .call(helper);
};

/** Stores a 32-bit immediate string at r7 with a 4- or 8-byte store (the selftest uses both). */
const storeImm = (s: string, size: 'u32' | 'u64') => (a: Assembler): Assembler => a.mov(R0, le32(s)).stx(size, R7, 0, R0);

/** Stores up to 24 bytes at r7 in 8-byte words loaded with ld_imm64 (r0 keeps the last word). */
const storeLong = (s: string) => (a: Assembler): Assembler => {
  for (let off = 0; off < s.length; off += 8) a.ldImm64(R0, le64(s.slice(off, off + 8))).stx('u64', R7, off, R0);
  return a;
};

// ---- the selftest's C program (progs/test_sysctl_prog.c), by hand ----------------------------------

/** MAX_ULONG_STR_LEN: the longest number strtoul is given (pow2 - 1, so `ret & 15` bounds offsets). */
const MAX_ULONG_STR_LEN = 0xf;
/** MAX_VALUE_STR_LEN */
const MAX_VALUE_STR_LEN = 0x40;
const TCP_MEM_NAME = 'net/ipv4/tcp_mem';

/**
 * sysctl_tcp_mem: deny every write; deny reads of anything but net/ipv4/tcp_mem; read tcp_mem's
 * value, parse its three numbers with strtoul (at most 15 characters each) and allow only if they
 * increase strictly.
 *
 * Stack: name[64] at fp-64, value[64] at fp-128, tcp_mem[3] (u64) at fp-152..fp-129.
 */
export function tcpMemProgram(): AssembledProgram {
  const a = new Assembler()
    .mov(R6, R1)
    // if (ctx->write) return 0;
    .ldx('u32', R1, R6, 0)
    .jne(R1, 0, 'deny')
    // is_tcp_mem(): memset(name, 0, 64); bpf_sysctl_get_name(ctx, name, 64, 0) == 16 && name == "net/ipv4/tcp_mem\0"
    .mov(R7, R10)
    .add(R7, -64)
    .mov(R0, 0);
  for (let off = 0; off < 64; off += 8) a.stx('u64', R7, off, R0);
  a.mov(R1, R6).mov(R2, R7).mov(R3, 64).mov(R4, 0).call('sysctl_get_name').jne(R0, TCP_MEM_NAME.length, 'deny');
  unlessDword(a, 0, TCP_MEM_NAME.slice(0, 8), 'deny');
  unlessDword(a, 8, TCP_MEM_NAME.slice(8, 16), 'deny');
  a.ldx('u8', R9, R7, 16).jne(R9, 0, 'deny');
  // ret = bpf_sysctl_get_current_value(ctx, value, 64); if (ret < 0 || ret >= 64) return 0;
  a.mov(R1, R6).mov(R2, R10).add(R2, -128).mov(R3, MAX_VALUE_STR_LEN).call('sysctl_get_current_value')
    .jslt(R0, 0, 'deny')
    .jsge(R0, MAX_VALUE_STR_LEN, 'deny')
    // unsigned long tcp_mem[3] = {0, 0, 0};
    .mov(R0, 0)
    .stx('u64', R10, -152, R0)
    .stx('u64', R10, -144, R0)
    .stx('u64', R10, -136, R0)
    .mov(R8, 0); // off
  // for (i = 0; i < 3; ++i) { ret = bpf_strtoul(value + off, 15, 0, tcp_mem + i); if (ret <= 0 || ret > 15) return 0; off += ret & 15; }
  for (let i = 0; i < 3; i++) {
    a.mov(R1, R10).add(R1, -128).add(R1, R8)
      .mov(R2, MAX_ULONG_STR_LEN)
      .mov(R3, 0)
      .mov(R4, R10).add(R4, -152 + 8 * i)
      .call('strtoul')
      .jsle(R0, 0, 'deny')
      .jsgt(R0, MAX_ULONG_STR_LEN, 'deny')
      .and(R0, MAX_ULONG_STR_LEN)
      .add(R8, R0);
  }
  // return tcp_mem[0] < tcp_mem[1] && tcp_mem[1] < tcp_mem[2];
  a.ldx('u64', R1, R10, -152).ldx('u64', R2, R10, -144).ldx('u64', R3, R10, -136)
    .jge(R1, R2, 'deny')
    .jge(R2, R3, 'deny');
  return allowElseDeny(a);
}

// ---- the table ----------------------------------------------------------------------------------

const OSTYPE = 'kernel/ostype';
const DOMAINNAME = 'kernel/domainname';
const TCP_MEM = 'net/ipv4/tcp_mem';
const MTU_EXPIRES = 'net/ipv4/route/mtu_expires';
const STABLE_SECRET = 'net/ipv6/conf/lo/stable_secret';

const readOf = (sysctl: string, seek?: number): SysctlAccess => (seek === undefined ? { sysctl, op: 'read' } : { sysctl, op: 'read', seek });
const writeOf = (sysctl: string, value: string): SysctlAccess => ({ sysctl, op: 'write', value });

/** "if (write == 1) deny else allow" (cases 4 and 5). */
const denyWrites = (): AssembledProgram =>
  new Assembler().ldx('u32', R7, R1, 0).jne(R7, 1, 'allow').mov(R0, 0).ja('exit').label('allow').mov(R0, 1).label('exit').exit().assemble();

type CaseInput = Omit<SysctlCase, 'attachType'> & { attachType?: AttachTypeName };

const cases: CaseInput[] = [
  {
    id: 1, title: 'wrong attach type', selftest: 'sysctl wrong attach_type',
    program: new Assembler().mov(R0, 1).exit().assemble(),
    attachType: 'CGROUP_INET_INGRESS', // attach type 0
    access: readOf(OSTYPE), expect: 'attach-rejected',
  },
  {
    id: 2, title: 'read, allow all', selftest: 'sysctl:read allow all',
    program: new Assembler().mov(R0, 1).exit().assemble(),
    access: readOf(OSTYPE), expect: 'success', readBack: 'Linux\n',
  },
  {
    id: 3, title: 'read, deny all', selftest: 'sysctl:read deny all',
    program: new Assembler().mov(R0, 0).exit().assemble(),
    access: readOf(OSTYPE), expect: 'EPERM',
  },
  {
    id: 4, title: 'ctx write on a read', selftest: 'ctx:write sysctl:read read ok',
    program: denyWrites(), access: readOf(OSTYPE), expect: 'success', readBack: 'Linux\n',
  },
  {
    id: 5, title: 'ctx write on a write', selftest: 'ctx:write sysctl:write read ok',
    program: denyWrites(), access: writeOf(DOMAINNAME, '(none)'), expect: 'EPERM',
  },
  {
    id: 6, title: 'narrow load of write', selftest: 'ctx:write sysctl:write read ok narrow',
    // u64 w = (u16)write & 1; return 1 - w;
    program: new Assembler().ldx('u16', R7, R1, 0).and(R7, 1).mov(R0, 1).sub(R0, R7).exit().assemble(),
    access: writeOf(DOMAINNAME, '(none)'), expect: 'EPERM',
  },
  {
    id: 7, title: 'store to write', selftest: 'ctx:write sysctl:read write reject',
    program: new Assembler().mov(R0, 0).stx('u32', R1, 0, R0).mov(R0, 1).exit().assemble(),
    access: readOf(OSTYPE), expect: 'load-rejected',
  },
  {
    id: 8, title: 'file_pos read', selftest: 'ctx:file_pos sysctl:read read ok',
    program: allowElseDeny(new Assembler().ldx('u32', R7, R1, 4).jne(R7, 3, 'deny')),
    access: readOf(OSTYPE, 3), expect: 'success', readBack: 'ux\n',
  },
  {
    id: 9, title: 'narrow file_pos', selftest: 'ctx:file_pos sysctl:read read ok narrow',
    program: allowElseDeny(new Assembler().ldx('u8', R7, R1, 4).jne(R7, 4, 'deny')),
    access: readOf(OSTYPE, 4), expect: 'success', readBack: 'x\n',
  },
  {
    id: 10, title: 'file_pos write', selftest: 'ctx:file_pos sysctl:read write ok',
    program: new Assembler().mov(R0, 2).stx('u32', R1, 4, R0).mov(R0, 1).exit().assemble(),
    access: readOf(OSTYPE), expect: 'success', readBack: 'nux\n',
  },
  {
    id: 11, title: 'base name', selftest: 'sysctl_get_name sysctl_value:base ok',
    program: allowElseDeny(unlessDword(getName(8, 8, BASE_NAME).jne(R0, 'tcp_mem'.length, 'deny'), 0, 'tcp_mem\0', 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 12, title: 'base name E2BIG', selftest: 'sysctl_get_name sysctl_value:base E2BIG truncated',
    program: allowElseDeny(unlessDword(getName(8, 7, BASE_NAME).jne(R0, E2BIG, 'deny'), 0, 'tcp_me\0', 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 13, title: 'full name', selftest: 'sysctl_get_name sysctl:full ok',
    program: allowElseDeny(
      unlessDword(unlessDword(unlessDword(getName(24, 17, 0).jne(R0, 16, 'deny'), 0, 'net/ipv4', 'deny'), 8, '/tcp_mem', 'deny'), 16, '', 'deny'),
    ),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 14, title: 'full name E2BIG', selftest: 'sysctl_get_name sysctl:full E2BIG truncated',
    program: allowElseDeny(unlessDword(unlessDword(getName(16, 16, 0).jne(R0, E2BIG, 'deny'), 0, 'net/ipv4', 'deny'), 8, '/tcp_me\0', 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 15, title: 'full name, small buffer', selftest: 'sysctl_get_name sysctl:full E2BIG truncated small',
    program: allowElseDeny(unlessDword(getName(8, 7, 0).jne(R0, E2BIG, 'deny'), 0, 'net/ip\0', 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 16, title: 'current value, buffer larger', selftest: 'sysctl_get_current_value sysctl:read ok, gt',
    // The buffer is not initialised: the helper's argument is uninitialised memory it fills.
    program: allowElseDeny(unlessDword(
      new Assembler().mov(R7, R10).add(R7, -8).mov(R2, R7).mov(R3, 8).call('sysctl_get_current_value').jne(R0, 6, 'deny'),
      0, 'Linux\n', 'deny')),
    access: readOf(OSTYPE), expect: 'success', readBack: 'Linux\n',
  },
  {
    id: 17, title: 'current value, buffer equal+1', selftest: 'sysctl_get_current_value sysctl:read ok, eq',
    program: allowElseDeny(unlessDword(
      stackBuffer(new Assembler(), 8).stx('u8', R7, 7, R0).mov(R2, R7).mov(R3, 7).call('sysctl_get_current_value').jne(R0, 6, 'deny'),
      0, 'Linux\n', 'deny')),
    access: readOf(OSTYPE), expect: 'success', readBack: 'Linux\n',
  },
  {
    id: 18, title: 'current value E2BIG', selftest: 'sysctl_get_current_value sysctl:read E2BIG truncated',
    program: allowElseDeny(unlessDword(
      stackBuffer(new Assembler(), 8).stx('u16', R7, 6, R0).mov(R2, R7).mov(R3, 6).call('sysctl_get_current_value').jne(R0, E2BIG, 'deny'),
      0, 'Linux', 'deny')),
    access: readOf(OSTYPE), expect: 'success', readBack: 'Linux\n',
  },
  {
    id: 19, title: 'current value EINVAL', selftest: 'sysctl_get_current_value sysctl:read EINVAL',
    // Reading stable_secret fails (EIO while no secret is set): -EINVAL and a zeroed buffer → deny.
    program: denyElseAllow(
      new Assembler().mov(R7, R10).add(R7, -8).mov(R2, R7).mov(R3, 8).call('sysctl_get_current_value')
        .jne(R0, EINVAL, 'allow').ldx('u64', R9, R7, 0).jne(R9, 0, 'allow')),
    access: readOf(STABLE_SECRET), expect: 'EPERM',
  },
  {
    id: 20, title: 'current value on a write', selftest: 'sysctl_get_current_value sysctl:write ok',
    // 4 and the value as read before the write (the selftest patches it in; here it is the default) → deny.
    program: denyElseAllow(
      new Assembler().mov(R7, R10).add(R7, -8).mov(R2, R7).mov(R3, 8).call('sysctl_get_current_value')
        .jne(R0, 4, 'allow').ldImm64(R8, le64('600\n')).ldx('u64', R9, R7, 0).jne(R8, R9, 'allow')),
    access: writeOf(MTU_EXPIRES, '600'), expect: 'EPERM', relies: { [MTU_EXPIRES]: '600\n' },
  },
  {
    id: 21, title: 'new value on a read', selftest: 'sysctl_get_new_value sysctl:read EINVAL',
    program: allowElseDeny(stackBuffer(new Assembler(), 8, 1).mov(R2, R7).mov(R3, 8).call('sysctl_get_new_value').jne(R0, EINVAL, 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 22, title: 'new value', selftest: 'sysctl_get_new_value sysctl:write ok',
    program: denyElseAllow(
      new Assembler().mov(R7, R10).add(R7, -8).mov(R2, R7).mov(R3, 4).call('sysctl_get_new_value')
        .jne(R0, 3, 'allow').ldx('u32', R9, R7, 0).jne(R9, le32('606\0'), 'allow')),
    access: writeOf(MTU_EXPIRES, '606'), expect: 'EPERM',
  },
  {
    id: 23, title: 'long new value', selftest: 'sysctl_get_new_value sysctl:write ok long',
    program: denyElseAllow(unlessDword(unlessDword(unlessDword(
      new Assembler().mov(R7, R10).add(R7, -24).mov(R2, R7).mov(R3, 24).call('sysctl_get_new_value').jne(R0, 23, 'allow'),
      0, '3000000 ', 'allow'), 8, '4000000 ', 'allow'), 16, '6000000\0', 'allow')),
    access: writeOf(TCP_MEM, '3000000 4000000 6000000'), expect: 'EPERM',
  },
  {
    id: 24, title: 'new value E2BIG', selftest: 'sysctl_get_new_value sysctl:write E2BIG',
    program: denyElseAllow(
      stackBuffer(new Assembler(), 8).stx('u8', R7, 3, R0).mov(R2, R7).mov(R3, 3).call('sysctl_get_new_value')
        .jne(R0, E2BIG, 'allow').ldx('u32', R9, R7, 0).jne(R9, le32('60\0\0'), 'allow')),
    access: writeOf(MTU_EXPIRES, '606'), expect: 'EPERM',
  },
  {
    id: 25, title: 'set value on a read', selftest: 'sysctl_set_new_value sysctl:read EINVAL',
    program: allowElseDeny(
      new Assembler().mov(R7, R10).add(R7, -8).mov(R0, le32('600\0')).stx('u64', R7, 0, R0)
        .mov(R2, R7).mov(R3, 3).call('sysctl_set_new_value').jne(R0, EINVAL, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 26, title: 'set value on a write', selftest: 'sysctl_set_new_value sysctl:write ok',
    // Writes "606"; the program replaces it with the current value's first 3 bytes ("600") → 0 → allow.
    program: allowElseDeny(
      new Assembler().mov(R7, R10).add(R7, -8).ldImm64(R0, le64('600\n')).stx('u64', R7, 0, R0)
        .mov(R2, R7).mov(R3, 3).call('sysctl_set_new_value').jne(R0, 0, 'deny')),
    access: writeOf(MTU_EXPIRES, '606'), expect: 'success', valueAfter: '600\n', relies: { [MTU_EXPIRES]: '600\n' },
    kernels:
      'sysctl_set_new_value is reported broken on kernels from about 5.18 until a later fix (exact range not verified here): it returns 0 '
      + 'but the handler parses the bytes written, so the write still succeeds and the value reads back "606\\n", not "600\\n". '
      + 'The selftest only checks that the write succeeds; this case also reads the value back, so such a kernel fails it. Linux 6.18 reads back "600\\n".',
  },
  {
    id: 27, title: 'strtoul', selftest: 'bpf_strtoul one number string',
    program: allowElseDeny(strto('strtoul', { store: storeImm('600\0', 'u32'), len: 4, flags: 0 })
      .jne(R0, 3, 'deny').ldx('u64', R9, R7, 0).jne(R9, 600, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 28, title: 'strtoul, several', selftest: 'bpf_strtoul multi number string',
    program: allowElseDeny(strto('strtoul', { store: storeLong('600 602\0'), len: 8, flags: 0 })
      .jne(R0, 3, 'deny').ldx('u64', R9, R7, 0).jne(R9, 600, 'deny')
      // second call: buf + 3, len 8 - 3, result at fp-16
      .mov(R7, R10).add(R7, -8).add(R7, R0).mov(R1, R7)
      .mov(R2, 8).sub(R2, R0)
      .mov(R3, 0)
      .mov(R7, R10).add(R7, -16).mov(R4, R7)
      .call('strtoul')
      .jne(R0, 4, 'deny').ldx('u64', R9, R7, 0).jne(R9, 602, 'deny')),
    access: readOf(TCP_MEM), expect: 'success',
  },
  {
    id: 29, title: 'strtoul len 0', selftest: 'bpf_strtoul buf_len = 0, reject',
    program: strto('strtoul', { store: storeImm('600\0', 'u64'), len: 0, flags: 0 }).mov(R0, 1).exit().assemble(),
    access: readOf(MTU_EXPIRES), expect: 'load-rejected',
  },
  {
    id: 30, title: 'base 8', selftest: 'bpf_strtoul supported base, ok',
    program: allowElseDeny(strto('strtoul', { store: storeImm('077\0', 'u32'), len: 4, flags: 8 })
      .jne(R0, 3, 'deny').ldx('u64', R9, R7, 0).jne(R9, 63, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 31, title: 'base 3', selftest: 'bpf_strtoul unsupported base, EINVAL',
    program: allowElseDeny(strto('strtoul', { store: storeImm('600\0', 'u64'), len: 4, flags: 3 }).jne(R0, EINVAL, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 32, title: 'only spaces', selftest: 'bpf_strtoul buf with spaces only, EINVAL',
    program: allowElseDeny(strto('strtoul', { store: storeImm('\t\n\f\r', 'u64'), len: 4, flags: 0 }).jne(R0, EINVAL, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 33, title: 'strtoul negative', selftest: 'bpf_strtoul negative number, EINVAL',
    program: allowElseDeny(strto('strtoul', { store: storeImm('\n-6\0', 'u64'), len: 4, flags: 0 }).jne(R0, EINVAL, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 34, title: 'strtol negative', selftest: 'bpf_strtol negative number, ok',
    program: allowElseDeny(strto('strtol', { store: storeImm('\n-6\0', 'u32'), len: 4, flags: 10 })
      .jne(R0, 3, 'deny').ldx('u64', R9, R7, 0).jne(R9, -6, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 35, title: 'strtol hex', selftest: 'bpf_strtol hex number, ok',
    program: allowElseDeny(strto('strtol', { store: storeImm('0xfe', 'u32'), len: 4, flags: 0 })
      .jne(R0, 4, 'deny').ldx('u64', R9, R7, 0).jne(R9, 254, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 36, title: 'strtol max', selftest: 'bpf_strtol max long',
    program: allowElseDeny(strto('strtol', { store: storeLong('9223372036854775807'), bufSize: 24, len: 19, flags: 0 })
      .jne(R0, 19, 'deny').ldImm64(R8, 0x7fff_ffff_ffff_ffffn).ldx('u64', R9, R7, 0).jne(R8, R9, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 37, title: 'strtol overflow', selftest: 'bpf_strtol overflow, ERANGE',
    program: allowElseDeny(strto('strtol', { store: storeLong('9223372036854775808'), bufSize: 24, len: 19, flags: 0 }).jne(R0, ERANGE, 'deny')),
    access: readOf(MTU_EXPIRES), expect: 'success', readBack: '600\n',
  },
  {
    id: 38, title: 'C program: deny all writes', selftest: 'C prog: deny all writes',
    program: tcpMemProgram(), access: writeOf(TCP_MEM, '123 456 789'), expect: 'EPERM',
  },
  {
    id: 39, title: 'C program: deny by name', selftest: 'C prog: deny access by name',
    program: tcpMemProgram(), access: readOf(MTU_EXPIRES), expect: 'EPERM',
  },
  {
    id: 40, title: 'C program: read tcp_mem', selftest: 'C prog: read tcp_mem',
    program: tcpMemProgram(), access: readOf(TCP_MEM), expect: 'success',
  },
];

/** The 40 cases, in the selftest's order (ids 1..40). */
export const SYSCTL_CASES: readonly SysctlCase[] = cases.map((c) => ({ ...c, attachType: c.attachType ?? 'CGROUP_SYSCTL' }));

/** Every sysctl a case touches. */
export const CASE_SYSCTLS = [...new Set(SYSCTL_CASES.map((c) => c.access.sysctl))];

/** "sysctl case N: title", the name a test of the case carries (an engine prefix goes before it). */
export const caseName = (c: SysctlCase): string => `sysctl case ${c.id}: ${c.title}`;
