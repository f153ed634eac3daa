// The libc functions sysward calls through koffi (a prebuilt FFI: no compiler on the host).
// This file and the rest of src/bpf/sys are the only code that touches raw memory and syscalls.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Made when koffi is first loaded: createRequire and the file URL it takes cost every command's
// start-up otherwise.
let requireHere: NodeRequire | undefined;
// import.meta.filename (Node.js 20.11+, and the bundle's own file name) needs no URL parsed.
const require = (id: string): unknown => (requireHere ??= createRequire(import.meta.filename ?? import.meta.url))(id);

/**
 * koffi's native module, which is all of koffi that sysward uses. koffi's own entry finds it
 * through its package.json exports, a loader per platform package and an ELF read of
 * process.execPath to tell glibc from musl: ~10 ms of every command's start-up on top of the
 * native module's ~5 ms (node 20 here). sysward calls glibc's libc.so.6 (below) and runs nowhere
 * else, so it asks the platform package for its glibc build directly: found in the node_modules
 * folders above this file and dlopen'ed by path, without the resolver's package.json reads
 * (exports, self-reference: ~1.3 ms), else where Node.js's resolution finds it. Where neither has it
 * (another package layout, another libc or ABI), koffi's entry finds what fits. Its CommonJS entry:
 * the ES module one costs ~15 ms more.
 */
function loadKoffi(): typeof import('koffi') {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) {
    const native = `@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`;
    try {
      for (let dir = dirname(import.meta.filename ?? fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
        const file = join(dir, 'node_modules', native);
        if (existsSync(file)) {
          const m = { exports: {} as typeof import('koffi') };
          process.dlopen(m, file);
          if (typeof m.exports.load === 'function') return m.exports;
          break;
        }
        if (dirname(dir) === dir) break;
      }
    } catch { /* resolved below */ }
    try {
      const resolved = require(native) as typeof import('koffi');
      if (typeof resolved.load === 'function') return resolved;
    } catch { /* koffi's entry below */ }
  }
  return require('koffi') as typeof import('koffi');
}
// Loaded when first needed: a command that never calls libc (explain, check, test) does not pay
// for koffi's native module (~2 ms and its pages).
let koffiModule: typeof import('koffi') | undefined;
const k = (): typeof import('koffi') => (koffiModule ??= loadKoffi());
let libc: ReturnType<typeof import('koffi')['load']> | undefined;
const lib = () => (libc ??= k().load('libc.so.6'));

/** bpf(2) syscall number per architecture (include/uapi/asm-generic/unistd.h and arch tables). */
const BPF_SYSCALL_NR: Record<string, number> = { x64: 321, arm64: 280, ia32: 357, arm: 386, riscv64: 280, ppc64: 361, s390x: 351 };

export const bpfSyscallNumber = (() => {
  const nr = BPF_SYSCALL_NR[process.arch];
  if (nr === undefined) throw new Error(`sysward does not know the bpf(2) syscall number on ${process.arch}; add it to src/bpf/sys/libc.ts`);
  return nr;
})();

type LibcFunction = ReturnType<ReturnType<typeof lib>['func']>;

/** The libc function `prototype`, declared with koffi when first called (directly or with .async):
 * a command declares only the functions it calls. */
export const libcFunction = (prototype: string): LibcFunction => {
  let f: LibcFunction | undefined;
  const call = ((...args: unknown[]) => (f ??= lib().func(prototype))(...args)) as LibcFunction;
  call.async = (...args: unknown[]) => (f ??= lib().func(prototype)).async(...args);
  return call;
};

// syscall(2) is variadic; every argument here is an integer or pointer passed in a register, which
// the fixed prototype passes identically on the 64-bit ABIs we run on, and it is callable async.
export const syscall4 = libcFunction('long syscall(long nr, long a, void *b, ulong c)');
/** perf_event_open(2): attr, pid, cpu, group_fd, flags. */
export const syscallPerf = libcFunction('long syscall(long nr, void *attr, long pid, long cpu, long group, ulong flags)');
/** perf_event_open(2) syscall number per architecture. */
export const perfEventOpenNumber = ({ x64: 298, arm64: 241, riscv64: 241 } as Record<string, number>)[process.arch];
export const close = libcFunction('int close(int fd)');
export const mmap = libcFunction('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
export const munmap = libcFunction('int munmap(void *addr, size_t len)');
export const epollCreate1 = libcFunction('int epoll_create1(int flags)');
export const epollCtl = libcFunction('int epoll_ctl(int epfd, int op, int fd, void *event)');
export const epollWait = libcFunction('int epoll_wait(int epfd, void *events, int maxevents, int timeout)');
export const eventfd = libcFunction('int eventfd(unsigned int initval, int flags)');
export const write = libcFunction('long write(int fd, void *buf, size_t count)');
export const read = libcFunction('long read(int fd, void *buf, size_t count)');
export const mount = libcFunction('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
export const getpagesize = libcFunction('int getpagesize(void)');
export const openat = libcFunction('int openat(int dirfd, const char *path, int flags, int mode)');
/** flock(2): advisory whole-file locks, on any inode (bpffs folders too); released with the fd. */
export const flock = libcFunction('int flock(int fd, int op)');
export const ioctlPtr = libcFunction('int ioctl(int fd, unsigned long req, void *arg)');
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export const errno = (): number => k().errno();
/** The address of a Buffer's memory, for pointer fields of kernel structs. The caller keeps the Buffer alive. */
export const addressOf = (buf: Buffer | Uint8Array): bigint => (buf.byteLength === 0 ? 0n : k().address(buf));
/** An ArrayBuffer over memory the kernel mapped for us (mmap); valid until munmap. */
export const viewOf = (ptr: unknown, lengthBytes: number): ArrayBuffer => k().view(ptr, lengthBytes);
export const isNullPointer = (ptr: unknown): boolean => ptr === null || k().address(ptr) === 0n;
export const MAP_FAILED = (ptr: unknown): boolean => ptr === null || k().address(ptr) === 0xffffffffffffffffn;

/** errno → its name, made when first asked (most commands never are): Node.js's table, then koffi's. */
let errnoNames: Map<number, string> | undefined;
export const errnoName = (n: number): string => {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
  }
  if (!errnoNames.has(n)) for (const [name, value] of Object.entries(k().os.errno)) if (value === n) { errnoNames.set(n, name); break; }
  return errnoNames.get(n) ?? `errno ${n}`;
};
/** An errno's number, from Node.js's table (no native module needed), else koffi's. */
export const errnoValue = (name: string): number => {
  const v = (osConstants.errno as Record<string, number>)[name] ?? (k().os.errno as Record<string, number>)[name];
  if (v === undefined) throw new Error(`unknown errno name ${name}`);
  return v;
};
