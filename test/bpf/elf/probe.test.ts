// Probe sections without a kernel: targets parsed as libbpf does, and functions of host binaries
// found at the file offsets binutils (nm, readelf) agree with. Kernel attach: probe.kernel.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfError, ElfFile } from '../../../src/bpf/elf/elf.js';
import { Executable, resolveBinaryPath } from '../../../src/bpf/elf/executable.js';
import { parseProbeTarget } from '../../../src/bpf/elf/probe.js';
import { needs, which } from '../../helpers/env.js';
import { readObject } from '../../../src/bpf/elf/object.js';
import { ELF_FIXTURES, compileFixture, withClang } from './compile.js';

const withBinutils = needs(!which('gcc') ? 'needs gcc (apt-get install gcc)' : !which('nm') || !which('readelf') ? 'needs binutils' : false);

test('probe targets parse as libbpf parses them', () => {
  const t = (s: string) => { const slash = s.indexOf('/'); return parseProbeTarget(s.slice(0, slash), s.slice(slash + 1)); };
  assert.deepEqual(t('uprobe//usr/bin/bash:readline'), { pmu: 'uprobe', retprobe: false, binary: '/usr/bin/bash', func: 'readline', offset: 0 });
  assert.deepEqual(t('uretprobe/libc.so.6:malloc'), { pmu: 'uprobe', retprobe: true, binary: 'libc.so.6', func: 'malloc', offset: 0 });
  assert.deepEqual(t('uprobe.s/./a.out:main+0x10'), { pmu: 'uprobe', retprobe: false, binary: './a.out', func: 'main', offset: 16 });
  assert.deepEqual(t('uretprobe.s//bin/x:f'), { pmu: 'uprobe', retprobe: true, binary: '/bin/x', func: 'f', offset: 0 });
  assert.deepEqual(t('kprobe/do_unlinkat+4'), { pmu: 'kprobe', retprobe: false, func: 'do_unlinkat', offset: 4 });
  assert.deepEqual(t('kprobe/foo.isra.0+010'), { pmu: 'kprobe', retprobe: false, func: 'foo.isra.0', offset: 8 }, '%li: a leading 0 is octal');
  assert.deepEqual(t('kretprobe/do_unlinkat'), { pmu: 'kprobe', retprobe: true, func: 'do_unlinkat', offset: 0 });
  assert.deepEqual(t('kretprobe/do_unlinkat+0'), { pmu: 'kprobe', retprobe: true, func: 'do_unlinkat', offset: 0 });
  const refuses = (s: string, re: RegExp) => assert.throws(() => t(s), re, s);
  refuses('uprobe/', /names no binary and function: use uprobe\/BINARY:FUNC\[\+OFFSET\], e\.g\. uprobe\/libc\.so\.6:malloc/);
  refuses('uprobe//usr/bin/bash', /names no function in \/usr\/bin\/bash/);
  refuses('uprobe/:malloc', /names no binary/);
  refuses('uprobe/libc.so.6:', /names no function/);
  refuses('uretprobe/libc.so.6:malloc+8', /return probes take no offset; a uretprobe fires when malloc returns/);
  refuses('kretprobe/do_unlinkat+0x4', /return probes take no offset/);
  refuses('kprobe/do_unlinkat+x', /"x" is not an offset/);
  refuses('kprobe/', /names no function: use kprobe\/FUNC, e\.g\. kprobe\/do_unlinkat/);
  refuses('kprobe.multi/do_*', /attaching kprobe\.multi programs is not supported by sysward yet/);
  refuses('usdt/libc.so.6:libc:setjmp', /attaching usdt programs is not supported by sysward yet/);
});

test('the probe fixtures parse: KPROBE programs whose targets name the binary and function', withClang, () => {
  const o = readObject(compileFixture('uprobe', { TARGET: '"/opt/x/target"' }));
  assert.deepEqual(o.programs.map((p) => [p.name, p.type, p.def.prefix, p.def.sleepable ?? false, p.attachTarget]), [
    ['add_entry', 'KPROBE', 'uprobe', false, '/opt/x/target:probed_add'],
    ['add_return', 'KPROBE', 'uretprobe', false, '/opt/x/target:probed_add'],
    ['add_entry_sleepable', 'KPROBE', 'uprobe.s', true, '/opt/x/target:probed_add'],
    ['getpid_entry', 'KPROBE', 'uprobe', false, 'libc.so.6:getpid'],
  ]);
  const k = readObject(compileFixture('kprobe'));
  assert.deepEqual(k.programs.map((p) => [p.name, p.def.prefix, p.attachTarget]), [['read_entry', 'kprobe', 'vfs_read'], ['read_return', 'kretprobe', 'vfs_read']]);
});

/** The file offset of a function as binutils see it: nm's address in readelf's PT_LOAD segment. */
function binutilsOffset(path: string, func: string, dynamic = false): number {
  const nm = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', path], { encoding: 'utf8' });
  const line = nm.split('\n').find((l) => new RegExp(`^[0-9a-f]+ [TtWw] ${func}(@@.*)?$`).test(l));
  assert.ok(line, `nm finds ${func} in ${path}`);
  const vaddr = Number.parseInt(line.split(' ')[0]!, 16);
  for (const l of execFileSync('readelf', ['-lW', path], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(l);
    if (!m) continue;
    const [offset, start, size] = [m[1]!, m[2]!, m[3]!].map((h) => Number.parseInt(h, 16)) as [number, number, number];
    if (vaddr >= start && vaddr < start + size) return vaddr - start + offset;
  }
  throw new Error(`readelf: ${func} at 0x${vaddr.toString(16)} is in no LOAD segment of ${path}`);
}

test('functions of a PIE and a non-PIE program and of libc are at the file offsets binutils give', withBinutils, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-exe-'));
  try {
    for (const flags of [['-pie'], ['-no-pie']]) {
      const exe = join(dir, `target${flags[0]}`);
      execFileSync('gcc', ['-O0', ...flags, '-o', exe, join(ELF_FIXTURES, 'uprobe-target.c')], { stdio: 'pipe' });
      const e = Executable.open(exe);
      assert.equal(e.elf.kind, 'binary');
      assert.equal(e.functionOffset('probed_add'), binutilsOffset(exe, 'probed_add'), `${flags[0]}`);
      assert.equal(e.functionOffset('main'), binutilsOffset(exe, 'main'), `${flags[0]}`);
      if (flags[0] === '-no-pie') assert.notEqual(e.functionOffset('probed_add'), e.elf.symbols.find((s) => s.name === 'probed_add')!.value, 'non-PIE: the file offset is not the address');
      assert.throws(() => e.functionOffset('probed_ad'), new RegExp(`^Error: ${exe} has no function probed_ad; did you mean probed_add\\?$`));
    }
    // libc is stripped on most distributions: .dynsym only, versioned names.
    const libc = Executable.open('libc.so.6');
    assert.equal(libc.functionOffset('getpid'), binutilsOffset(libc.path, 'getpid', true));
    assert.equal(libc.functionOffset('malloc'), binutilsOffset(libc.path, 'malloc', true));
    assert.throws(() => libc.functionOffset('getpdi'), new RegExp(`^Error: ${libc.path} has no function getpdi( \\(it is stripped: only the \\d+ functions it exports were searched\\))?; did you mean getpid\\?$`));
    // memcpy@@GLIBC_2.14 (default) is an IFUNC; memcpy@GLIBC_2.2.5 is an old version: neither is probed silently.
    if (/ i memcpy@@/.test(execFileSync('nm', ['-D', '--defined-only', libc.path], { encoding: 'utf8' }))) {
      assert.throws(() => libc.functionOffset('memcpy'), /memcpy is an indirect function \(STT_GNU_IFUNC\)/);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('binaries are found as libbpf finds them; missing ones are clear errors', () => {
  // The libc this process runs is the one a bare libc.so.6 names.
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const loaded = /\s(\/\S+\/libc\.so\.6)$/m.exec(maps)?.[1];
  if (loaded) assert.equal(readFileSync(resolveBinaryPath('libc.so.6')).equals(readFileSync(loaded)), true, `libc.so.6 is ${loaded}`);
  assert.match(resolveBinaryPath('sh'), /^\/.*\/sh$/);
  assert.equal(resolveBinaryPath('/bin/sh'), '/bin/sh');
  assert.throws(() => resolveBinaryPath('/nonexistent/prog'), /^Error: \/nonexistent\/prog: no such file; give the path of an executable or shared library$/);
  assert.throws(() => resolveBinaryPath('libnothere.so.1'), /^Error: libnothere\.so\.1: no such library in .*\/usr\/lib64, \/lib, \/usr\/lib, .*; give its full path$/);
  assert.throws(() => resolveBinaryPath('nothere-sysward'), /^Error: nothere-sysward: no such program in .*\/usr\/bin.*; give its full path$/);
  assert.throws(() => Executable.open('/proc/self/status'), (e: unknown) => e instanceof ElfError && /not an ELF file/.test(e.message));
  // A stripped program: only its exported functions are searched, and the error says so.
  const sh = Executable.open('/bin/sh');
  if (sh.elf.symbols.length === 0) assert.throws(() => sh.functionOffset('main'), /has no function main(: it has no function symbols at all \(stripped\)| \(it is stripped: only the \d+ functions it exports were searched\))$/);
});

test('binaries that are not 64-bit little-endian executables are ElfErrors; truncations never crash', () => {
  const base = readFileSync('/bin/sh');
  const refuses = (b: Buffer, re: RegExp) => assert.throws(() => ElfFile.parseBinary(b, 'x'), (e: unknown) => e instanceof ElfError && re.test(e.message));
  const with_ = (o: number, v: number, size = 1) => { const b = Buffer.from(base); b.writeUIntLE(v, o, size); return b; };
  refuses(with_(4, 1), /not a 64-bit ELF file \(class 1\); sysward reads 64-bit binaries only/);
  refuses(with_(5, 2), /a big-endian binary/);
  refuses(with_(16, 1, 2), /not an executable or shared library \(ELF type 1: an object file\)/);
  refuses(with_(56, 0, 2), /no program headers/);
  // A BPF object is not a binary, and a binary is not a BPF object.
  assert.throws(() => ElfFile.parse(base, 'sh'), /not a BPF object/);
  let parsed = 0;
  for (let i = 0; i < 400; i++) {
    const b = base.subarray(0, Math.floor((i / 400) * base.length));
    try { ElfFile.parseBinary(b, 'cut'); parsed++; } catch (e) { if (!(e instanceof ElfError)) assert.fail(`cut at ${b.length}: ${(e as Error).stack}`); }
  }
  assert.equal(parsed, 0, 'the section headers are at the end: every truncation is refused');
});
