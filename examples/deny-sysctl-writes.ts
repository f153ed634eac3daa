// The kernel selftests' first cgroup-sysctl program, written with sysward's assembler: refuse every
// sysctl write from a cgroup, allow reads. Run it (as root) with:
//   node dist/examples/deny-sysctl-writes.js
// It creates a cgroup, attaches the program, has a child in a private UTS namespace try to write
// kernel.hostname, shows the refusal, and removes everything it made.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Assembler, R0, R1 } from '../src/bpf/asm/index.js';
import { Program } from '../src/bpf/prog.js';
import { attachCgroup } from '../src/bpf/link.js';
import { findCgroup2Mount, removeCgroup } from '../src/cgroup/hierarchy.js';

/** struct bpf_sysctl { u32 write; u32 file_pos; }: return 0 (EPERM) on writes, 1 on reads. */
export function denyWritesProgram() {
  return new Assembler()
    .ldx('u32', R1, R1, 0)     // r1 = ctx->write
    .mov(R0, 1)                // allow...
    .jeq(R1, 0, 'done')        // ...reads
    .mov(R0, 0)                // refuse writes
    .label('done')
    .exit()
    .assemble();
}

export interface DemoResult { exitStatus: number | null; stderr: string; before: string; after: string }

/** Attach the program to a fresh cgroup and try a write from inside it. */
export function runDenyWritesDemo(): DemoResult {
  const cgroup = mkdtempSync(join(findCgroup2Mount(), 'sysward-example-'));
  try {
    using program = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', name: 'deny_writes', instructions: denyWritesProgram() });
    using link = attachCgroup({ cgroup, program, attachType: 'CGROUP_SYSCTL' });
    // A private UTS namespace: even if the guard failed, the host's hostname stays as it is.
    const child = spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${cgroup}/cgroup.procs
      cat /proc/sys/kernel/hostname
      /bin/echo sysward-example > /proc/sys/kernel/hostname
      status=$?
      cat /proc/sys/kernel/hostname
      exit $status`], { encoding: 'utf8' });
    const [before = '', after = ''] = child.stdout.trim().split('\n');
    link.detach();
    return { exitStatus: child.status, stderr: child.stderr.trim(), before, after };
  } finally {
    removeCgroup(cgroup);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = runDenyWritesDemo();
  console.log(`hostname before: ${r.before}\nwrite from the guarded cgroup: ${r.stderr || 'succeeded!'}\nhostname after: ${r.after}`);
  process.exitCode = r.exitStatus === 0 ? 1 : 0;
}
