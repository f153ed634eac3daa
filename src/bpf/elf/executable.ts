// A host executable or shared library, read to find where a function lives in the file: the file
// offset a uprobe attaches to. As libbpf does: the function's STT_FUNC symbol in .symtab or .dynsym,
// its address mapped to a file offset by the PT_LOAD segment that holds it.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { didYouMean } from '../../util/suggest.js';
import { ElfFile, STB, STT, type ElfSymbol } from './elf.js';

/** Debian's multiarch triple per Node architecture: where its 64-bit libraries live. */
const MULTIARCH: Record<string, string> = {
  x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', riscv64: 'riscv64-linux-gnu', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu',
};

const isFile = (p: string): boolean => { try { return statSync(p).isFile(); } catch { return false; } };
const isExecutable = (p: string): boolean => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };

/**
 * The path of a binary a uprobe section names. A name with a slash is a path (relative to the
 * working directory). A bare name is searched as libbpf does: a library (`libc.so.6`, `libssl.so`)
 * in LD_LIBRARY_PATH, /lib64, /usr/lib64, /lib, /usr/lib and the multiarch directories
 * (/lib/x86_64-linux-gnu, …); a program in PATH, /usr/bin, /usr/sbin. The ld.so cache is not read.
 */
export function resolveBinaryPath(binary: string): string {
  if (!binary) throw new Error('no binary named: use uprobe/BINARY:FUNC, e.g. uprobe/libc.so.6:malloc or uprobe//usr/bin/bash:readline');
  if (binary.includes('/')) {
    const path = resolve(binary);
    if (!isFile(path)) throw new Error(`${binary}: no such file; give the path of an executable or shared library`);
    return path;
  }
  const library = /\.so($|\.)/.test(binary);
  const triple = MULTIARCH[process.arch];
  const dirs = library
    ? [...(process.env.LD_LIBRARY_PATH ?? '').split(delimiter), '/lib64', '/usr/lib64', '/lib', '/usr/lib', ...(triple ? [`/lib/${triple}`, `/usr/lib/${triple}`] : [])]
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  const searched = [...new Set(dirs.filter((d) => d.startsWith('/')))];
  for (const dir of searched) {
    const path = join(dir, binary);
    if (isFile(path) && (library || isExecutable(path))) return path;
  }
  throw new Error(`${binary}: no such ${library ? 'library' : 'program'} in ${searched.join(', ')}; give its full path`);
}

const isFunction = (s: ElfSymbol): boolean => (s.type === STT.FUNC || s.type === STT.GNU_IFUNC) && s.section !== 0 && s.value !== 0;
/** An old version of a symbol kept for old binaries (memcpy@GLIBC_2.2.5 beside memcpy@@GLIBC_2.14). */
const isHiddenVersion = (s: ElfSymbol): boolean => s.hiddenVersion === true || /@[^@]/.test(s.name.replace('@@', ''));

/** An executable or shared library of this host, parsed once. */
export class Executable {
  private constructor(readonly path: string, readonly elf: ElfFile) {}

  /** Open BINARY as a uprobe section names it: a path, or a bare name (see resolveBinaryPath). */
  static open(binary: string): Executable {
    const path = resolveBinaryPath(binary);
    let bytes: Buffer;
    try { bytes = readFileSync(path); } catch (e) {
      throw new Error(`reading ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'run as root' : 'give a readable executable or shared library'}`);
    }
    return new Executable(path, ElfFile.parseBinary(bytes, path));
  }

  /**
   * The file offset of function `name` (the kernel's uprobe offset). `name` matches a symbol exactly
   * or before its version (`memcpy` finds `memcpy@@GLIBC_2.14`, the default version, not the old
   * `memcpy@GLIBC_2.2.5`). A weak symbol yields to a strong one; two distinct functions of one name
   * (static functions of different files) are an error.
   */
  functionOffset(name: string): number {
    const functions = [...this.elf.symbols, ...this.elf.dynamicSymbols].filter(isFunction);
    const named = functions.filter((s) => s.name === name || (!name.includes('@') && s.name.startsWith(`${name}@`)));
    const current = named.filter((s) => !isHiddenVersion(s));
    const found = name.includes('@') || current.length === 0 ? named : current;
    if (found.length === 0) {
      const stripped = this.elf.symbols.length === 0;
      const names = new Set(functions.map((s) => s.name.replace(/@.*/, '')));
      const searched = functions.length === 0 ? ': it has no function symbols at all (stripped)'
        : stripped ? ` (it is stripped: only the ${names.size} functions it exports were searched)` : '';
      throw new Error(`${this.path} has no function ${name}${searched}${didYouMean(name, names)}`);
    }
    const direct = found.filter((s) => s.type === STT.FUNC);
    if (direct.length === 0) {
      throw new Error(`${this.path}: ${name} is an indirect function (STT_GNU_IFUNC): its symbol is the resolver that picks an implementation at load time; probe the implementation it picks on this CPU (a local symbol such as glibc's __${name}_avx2, in binaries that are not stripped) or a caller instead`);
    }
    const strong = direct.filter((s) => s.bind !== STB.WEAK);
    const addresses = [...new Set((strong.length ? strong : direct).map((s) => s.value))];
    if (addresses.length > 1) {
      throw new Error(`${this.path} has ${addresses.length} functions named ${name} (at ${addresses.map((a) => `0x${a.toString(16)}`).join(', ')}), static functions of different files; sysward cannot tell which one to probe`);
    }
    const offset = this.elf.fileOffset(addresses[0]!);
    if (offset === undefined) throw new Error(`${this.path}: function ${name} at 0x${addresses[0]!.toString(16)} is in no loadable segment (PT_LOAD) of the file`);
    return offset;
  }
}
