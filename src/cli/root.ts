// Commands that need root say so before they start (exit status 2), instead of failing late with
// a raw EACCES (run: mkdtemp in the cgroup tree) or, worse, answering as if nothing were there:
// bpffs is mounted mode 0700, so to a user `guard ls` would find no guards while guards are in
// force.
//
// Root passes. A process that is not root passes only where it can do the job, checked rather
// than assumed: it may list the folder the command reads, or create entries in the folder it
// changes, by access(2) (the test the guard code itself makes), and it has the capabilities the
// kernel checks for what the command loads. That is the CAP_BPF set-up: a service user with a
// bpffs it owns, and CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON. A command given no such needs is
// root only.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from './errors.js';

/** A command run without the privilege it needs: exit status 2, nothing changed. */
export class NeedsRootError extends UsageError {
  override name = 'NeedsRootError';
}

/** Capability numbers (linux/capability.h). */
export const CAP = { NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;
export type Capability = keyof typeof CAP;

export interface NonRootMay {
  /** A directory the command reads: the process must be able to list it (or its nearest existing parent). */
  read?: string;
  /** A directory the command creates or removes entries in (pins, cgroups). */
  write?: string;
  /** Capabilities the kernel checks; SYS_ADMIN grants BPF and PERFMON too (bpf_capable(), perfmon_capable()). */
  caps?: Capability[];
}

/**
 * Throws NeedsRootError (`COMMAND needs root: WHY; run it with sudo`) unless the effective user
 * is root or, when `nonRoot` says what the command needs, the process has all of it.
 */
export function requireRoot(command: string, why: string, nonRoot?: NonRootMay): void {
  if (process.geteuid?.() === 0) return;
  if (nonRoot && canDo(nonRoot)) return;
  throw new NeedsRootError(`${command} needs root: ${why}; run it with sudo`);
}

function canDo(n: NonRootMay): boolean {
  if (!n.read && !n.write && !n.caps?.length) return false;
  const caps = effectiveCaps();
  const has = (c: Capability): boolean => ((caps >> BigInt(CAP[c])) & 1n) === 1n || ((c === 'BPF' || c === 'PERFMON') && has('SYS_ADMIN'));
  if (n.caps && !n.caps.every(has)) return false;
  if (n.read !== undefined && !mayAccess(n.read, constants.R_OK | constants.X_OK)) return false;
  if (n.write !== undefined && !mayAccess(n.write, constants.W_OK | constants.X_OK)) return false;
  return true;
}

/** The process's effective capability set (0 when /proc is unreadable). */
export function effectiveCaps(statusText?: string): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText ?? readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch { return 0n; }
}

/**
 * access(2) on the directory, or on its nearest parent that exists (the guards' folder is made by
 * the first apply). access(2) is what the guard code's existsSync asks too: the real user, and for
 * a user that is not root no capabilities, so CAP_DAC_OVERRIDE does not count; the mode bits do.
 */
function mayAccess(dir: string, mode: number): boolean {
  for (let p = dir; ; p = dirname(p)) {
    try { accessSync(p); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && p !== dirname(p)) continue;
      return false;
    }
    try { accessSync(p, mode); return true; } catch { return false; }
  }
}
