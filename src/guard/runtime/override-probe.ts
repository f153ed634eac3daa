// Whether this kernel's bpf_sysctl_set_new_value really replaces the written value: what an
// `override` rule stands on. The helper returned 0 and stored nothing on kernels from about 5.18
// until a later fix, so loading a program that calls it proves nothing: a program that sets the
// value is attached to a scratch cgroup, a child in a private UTS namespace writes
// kernel.domainname from it, and reads it back. A guard concern, so it lives with the guard.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Assembler, R0, R1, R2, R3, R6, R10 } from '../../bpf/asm/index.js';
import { attachCgroup, type CgroupLink } from '../../bpf/link.js';
import { Program } from '../../bpf/prog.js';
import { removeScratchCgroup, type Support } from '../../bpf/features.js';
import { spawnHelper, type Helper } from '../../bpf/sys/spawn.js';

let cached: Support | undefined;

/** Forget the answer (tests). */
export function clearOverrideProbeCache(): void { cached = undefined; }

export function probeSysctlSetNewValue(cgroupRoot: string): Support {
  if (cached) return cached;
  const setup = setNewValueSetup(cgroupRoot);
  let r: Support;
  try {
    const child = start(setup.argv);
    r = child instanceof Error ? verdict({ error: child, status: null, stdout: '', stderr: '' }) : verdict(child.waitSync());
  } finally { setup.cleanup(); }
  return (cached = r);
}

/** The child, started with posix_spawn (src/bpf/sys/spawn.ts: ~1 ms, where child_process's fork of
 * this whole process took ~12 ms), or why it could not be. */
const start = ([file, args]: [string, string[]]): Helper | Error => {
  try { return spawnHelper(file, args); } catch (e) { return e as Error; }
};

/**
 * The same probe with its child process run in the background (`sysward probe` does its other
 * probes meanwhile). Loading and attaching still happen before it returns.
 */
export function probeSysctlSetNewValueAsync(cgroupRoot: string): Promise<Support> {
  if (cached) return Promise.resolve(cached);
  const setup = setNewValueSetup(cgroupRoot);
  const child = start(setup.argv);
  const r = child instanceof Error ? Promise.resolve(verdict({ error: child, status: null, stdout: '', stderr: '' })) : child.wait().then(verdict);
  return r.then((v) => { setup.cleanup(); return (cached = v); }, (e: unknown) => { setup.cleanup(); throw e; });
}

/** The probe program attached to a scratch cgroup, and the child that writes from it. */
function setNewValueSetup(cgroupRoot: string): { argv: [string, string[]]; cleanup: () => void } {
  const program = new Assembler()
    .mov(R6, R1)
    .ldImm64(R1, Buffer.from('swprobe\0').readBigUInt64LE(0)).stx('u64', R10, -8, R1)
    // 7 bytes, no NUL: as long as the child's write, so the syscall sees a whole write.
    .mov(R1, R6).mov(R2, R10).add(R2, -8).mov(R3, 7).call('sysctl_set_new_value')
    .mov(R0, 1).exit()
    .assemble();
  const cg = mkdtempSync(join(cgroupRoot, 'sysward-probe-'));
  let p: Program | undefined;
  let a: CgroupLink | undefined;
  const cleanup = () => {
    if (a) { a.detach(); a.close(); }
    p?.close();
    removeScratchCgroup(cg);
  };
  try {
    p = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', instructions: program });
    a = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL' });
  } catch (e) { cleanup(); throw e; }
  return {
    argv: ['unshare', ['--uts', 'sh', '-c', `echo $$ > ${cg}/cgroup.procs && printf written > /proc/sys/kernel/domainname && read -r v < /proc/sys/kernel/domainname && echo "$v"`]],
    cleanup,
  };
}

function verdict(r: { error?: Error; status: number | null; stdout: string; stderr: string }): Support {
  if (r.error) return { supported: false, reason: `cannot run unshare(1): ${r.error.message}; install util-linux` };
  if (r.status !== 0) return { supported: false, reason: `the probe write failed: ${r.stderr.trim()}` };
  const got = r.stdout.trim();
  if (got === 'swprobe') return { supported: true };
  return { supported: false, reason: got === 'written' ? 'the helper returns 0 but the kernel stores the written value (the 5.18-era bug)' : `unexpected value read back: ${got}` };
}
