// errno → an error value that names the operation, the cause and the fix.
import { errnoName } from './libc.js';

/** What an errno usually means for bpf(2), and what the user can do about it. */
const GENERIC: Record<string, { cause: string; fix: string }> = {
  EPERM: { cause: 'operation not permitted', fix: 'run as root, or give the process CAP_BPF with CAP_NET_ADMIN (CAP_SYS_ADMIN for some program types); unprivileged bpf is off on most hosts (kernel.unprivileged_bpf_disabled)' },
  EACCES: { cause: 'permission denied', fix: 'run as root; for a program load this is the verifier refusing it: read the verifier log' },
  ENOENT: { cause: 'no such object', fix: 'check that the path, id or key exists' },
  E2BIG: { cause: 'argument too big', fix: 'use a smaller size, name or count' },
  EINVAL: { cause: 'the kernel rejected an argument', fix: 'check the program, map or attach type against what this kernel supports (sysward probe)' },
  EBADF: { cause: 'bad file descriptor', fix: 'the object was closed or is of the wrong kind' },
  EEXIST: { cause: 'already exists', fix: 'remove the existing object first, or update it' },
  ENOSPC: { cause: 'no space left', fix: 'the map is full or a buffer is too small; raise max_entries or the buffer size' },
  ENOMEM: { cause: 'out of memory', fix: 'use a smaller map, or raise RLIMIT_MEMLOCK on kernels before 5.11' },
  EBUSY: { cause: 'busy', fix: 'the object is in use; retry, or detach it first' },
  EOPNOTSUPP: { cause: 'not supported by this kernel', fix: 'see `sysward probe` for what this kernel supports' },
  ENOTSUPP: { cause: 'not supported by this kernel', fix: 'see `sysward probe` for what this kernel supports' },
  ENOSYS: { cause: 'the bpf(2) syscall is not available', fix: 'use a kernel built with CONFIG_BPF_SYSCALL' },
  EFAULT: { cause: 'bad address', fix: 'this is a bug in sysward: please report it with the command that failed' },
};

export interface ErrorHints { [code: string]: string }

/** An errno from a syscall, with the operation that failed and a fix. */
export class SysError extends Error {
  override name = 'SysError';
  readonly code: string;
  readonly cause_: string;
  readonly fix: string;
  constructor(readonly op: string, readonly errno: number, hints: ErrorHints = {}, details?: string) {
    const code = errno === 524 ? 'ENOTSUPP' : errnoName(errno);
    const generic = GENERIC[code] ?? { cause: `error ${errno}`, fix: '' };
    const fix = hints[code] ?? generic.fix;
    super(`${code} ${op}: ${details ?? generic.cause}${fix ? `; ${fix}` : ''}`);
    this.code = code;
    this.cause_ = details ?? generic.cause;
    this.fix = fix;
  }
}

/** A feature this kernel lacks. Probes and fallbacks turn errnos into this one error. */
export class NotSupportedError extends Error {
  override name = 'NotSupportedError';
  /** `message` replaces the default "FEATURE is not supported by this kernel (REASON)". */
  constructor(readonly feature: string, readonly reason?: string, message?: string) {
    super(message ?? `${feature} is not supported by this kernel${reason ? ` (${reason})` : ''}`);
  }
}

/** An object (a cgroup, a pin, an id) that does not exist (any more): callers match it by class. */
export class NotExistError extends Error {
  override name = 'NotExistError';
  constructor(readonly what: string, message?: string) {
    super(message ?? `${what} does not exist`);
  }
}

export const isErrno = (e: unknown, ...codes: string[]): e is SysError => e instanceof SysError && codes.includes(e.code);
