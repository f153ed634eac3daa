// Short helper processes started with posix_spawn(3). glibc starts the child with
// clone(CLONE_VM | CLONE_VFORK): it shares the parent's memory until it execs. Node.js's
// child_process (libuv) forks instead, copying the page tables of the whole Node.js process and
// leaving its pages copy-on-write: ~12 ms a child on this VM against ~1 ms here, which is most of
// what `sysward probe`'s set_new_value probe cost.
// The child gets what child_process gives one with stdio ['ignore', 'pipe', 'pipe']: stdin from
// /dev/null, every signal at its default action and none blocked (Node.js ignores SIGPIPE, which
// a child must not inherit), this process's environment, PATH searched. Its stdout and stderr are
// pipes read once it has exited, so it must write less than a pipe holds (64 KiB): helpers that
// answer in a line.
import { closeSync, readSync } from 'node:fs';
import { errno, errnoName, errnoValue, libcFunction } from './libc.js';

export interface HelperResult {
  /** The exit status; null when a signal ended it. */
  status: number | null;
  signal: number | null;
  stdout: string;
  stderr: string;
}

export interface Helper {
  readonly pid: number;
  /** Waits on a libuv worker thread (the event loop runs meanwhile). */
  wait(): Promise<HelperResult>;
  waitSync(): HelperResult;
}

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const WNOHANG = 1;
// glibc's posix_spawn_file_actions_t (80 bytes), posix_spawnattr_t (336) and sigset_t (128) on
// 64-bit hosts, with room to spare: they are only ever passed by address.
const FILE_ACTIONS_BYTES = 256;
const ATTR_BYTES = 512;
const SIGSET_BYTES = 256;

const fn = {
  pipe2: libcFunction('int pipe2(void *fds, int flags)'),
  faInit: libcFunction('int posix_spawn_file_actions_init(void *fa)'),
  faOpen: libcFunction('int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode)'),
  faDup2: libcFunction('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
  faDestroy: libcFunction('int posix_spawn_file_actions_destroy(void *fa)'),
  attrInit: libcFunction('int posix_spawnattr_init(void *attr)'),
  attrFlags: libcFunction('int posix_spawnattr_setflags(void *attr, short flags)'),
  attrSigDefault: libcFunction('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
  attrSigMask: libcFunction('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
  attrDestroy: libcFunction('int posix_spawnattr_destroy(void *attr)'),
  sigEmpty: libcFunction('int sigemptyset(void *set)'),
  sigFill: libcFunction('int sigfillset(void *set)'),
  spawnp: libcFunction('int posix_spawnp(void *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)'),
  waitpid: libcFunction('int waitpid(int pid, void *status, int options)'),
};

const readAll = (fd: number): string => {
  const chunks: Buffer[] = [];
  for (;;) {
    const b = Buffer.allocUnsafe(65536);
    const n = readSync(fd, b, 0, b.length, null);
    if (n <= 0) break;
    chunks.push(b.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * Start `file` (searched in PATH) with `args`. Throws an Error with `code` (ENOENT, EACCES, …) and
 * the message child_process gives ("spawn FILE ENOENT") when it cannot be started.
 */
export function spawnHelper(file: string, args: readonly string[]): Helper {
  const fds = Buffer.alloc(8);
  if (fn.pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`spawn ${file}: no pipe`);
  const stdoutPipe = [fds.readInt32LE(0), fds.readInt32LE(4)] as const;
  if (fn.pipe2(fds, O_CLOEXEC) !== 0) { closeSync(stdoutPipe[0]); closeSync(stdoutPipe[1]); throw new Error(`spawn ${file}: no pipe`); }
  const stderrPipe = [fds.readInt32LE(0), fds.readInt32LE(4)] as const;
  const fa = Buffer.alloc(FILE_ACTIONS_BYTES);
  const attr = Buffer.alloc(ATTR_BYTES);
  const all = Buffer.alloc(SIGSET_BYTES);
  const none = Buffer.alloc(SIGSET_BYTES);
  fn.faInit(fa);
  fn.attrInit(attr);
  let err: number;
  const pid = Buffer.alloc(4);
  try {
    fn.faOpen(fa, 0, '/dev/null', O_RDONLY, 0);
    fn.faDup2(fa, stdoutPipe[1], 1);
    fn.faDup2(fa, stderrPipe[1], 2);
    fn.sigFill(all);
    // Signals 32 and 33 too, which glibc keeps for itself and leaves out of sigfillset: its child
    // would otherwise set them to SIG_IGN, which survives exec (libuv's child resets them).
    all[3]! |= 0x80;
    all[4]! |= 0x01;
    fn.sigEmpty(none);
    fn.attrSigDefault(attr, all);
    fn.attrSigMask(attr, none);
    fn.attrFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
    err = fn.spawnp(pid, file, fa, attr, [file, ...args, null], [...env, null]) as number;
  } finally {
    fn.faDestroy(fa);
    fn.attrDestroy(attr);
    closeSync(stdoutPipe[1]);
    closeSync(stderrPipe[1]);
  }
  if (err !== 0) {
    closeSync(stdoutPipe[0]);
    closeSync(stderrPipe[0]);
    throw Object.assign(new Error(`spawn ${file} ${errnoName(err)}`), { code: errnoName(err), errno: -err, syscall: `spawn ${file}`, path: file });
  }
  const childPid = pid.readInt32LE(0);
  let result: HelperResult | undefined;
  const finish = (status: Buffer): HelperResult => {
    const s = status.readInt32LE(0);
    const signal = s & 0x7f;
    const out = { status: signal === 0 ? (s >> 8) & 0xff : null, signal: signal === 0 ? null : signal, stdout: readAll(stdoutPipe[0]), stderr: readAll(stderrPipe[0]) };
    closeSync(stdoutPipe[0]);
    closeSync(stderrPipe[0]);
    return (result = out);
  };
  const waitSync = (): HelperResult => {
    if (result) return result;
    const status = Buffer.alloc(4);
    while ((fn.waitpid(childPid, status, 0) as number) < 0) {
      const e = errno();
      if (e !== errnoValue('EINTR')) throw new Error(`waiting for ${file} (pid ${childPid}): ${errnoName(e)}`);
    }
    return finish(status);
  };
  const wait = (): Promise<HelperResult> => {
    if (result) return Promise.resolve(result);
    const status = Buffer.alloc(4);
    return new Promise<HelperResult>((resolve, reject) => {
      // After what the caller does until it next yields (`sysward probe`: its other probes): a
      // child done by then is reaped here, without starting libuv's worker threads (~1 ms).
      setImmediate(() => {
        try {
          if (result) return resolve(result);
          if ((fn.waitpid(childPid, status, WNOHANG) as number) === childPid) return resolve(finish(status));
        } catch (x) { return reject(x); }
        fn.waitpid.async(childPid, status, 0, (e: unknown, r: number) => {
          if (e) return reject(e);
          if (result) return resolve(result);
          // Interrupted (or stranger): wait here, where errno can be read.
          try { resolve(r < 0 ? waitSync() : finish(status)); } catch (x) { reject(x); }
        });
      });
    });
  };
  return { pid: childPid, wait, waitSync };
}
