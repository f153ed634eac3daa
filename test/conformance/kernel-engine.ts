// The kernel as a conformance engine: Program.load (the verifier), attachCgroup (a bpf_link, or
// PROG_ATTACH where links are missing) on a fresh cgroup v2 cgroup, and a child process that joins
// the cgroup and reads or writes /proc/sys/<name> with plain syscalls (python3's os module).
//
// The child runs in private UTS and network namespaces (`unshare --uts --net`), so writes to
// kernel/domainname and to per-network-namespace keys stay its own. Keys that exist only in the
// initial network namespace (net/ipv4/tcp_mem is global: its table is registered for init_net only,
// so a new namespace has no such file) are accessed there, with a private UTS namespace. Every write
// is bracketed by reads of the key in the test's own namespaces: a value that changed is written
// back and reported (AccessReport.undone), which fails the case.

import { pythonExecutable } from '../helpers/env.js';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Program, VerifierError, type AttachTypeName } from '../../src/bpf/prog.js';
import { attachCgroup, queryCgroup } from '../../src/bpf/link.js';
import { SysError } from '../../src/bpf/sys/index.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { withFreshCgroup } from '../helpers/cgroup.js';
import { Rejected, type AccessReport, type Engine } from './engine.js';
import type { SysctlAccess, SysctlCase } from './sysctl-cases.js';

/**
 * The child: reads the key (before joining), joins the cgroup, opens, seeks, reads 128 bytes or
 * writes the value in one write(2), goes back to the cgroup it came from, reads the key again and
 * prints a JSON report. argv: cgroup, cgroup2 mount, name, op, seek, value (hex).
 */
const CHILD = String.raw`
import errno, json, os, sys
cgroup, mount, name, op, seek, value = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), bytes.fromhex(sys.argv[6])
path = '/proc/sys/' + name
def value_of():
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.read(fd, 4096).hex()
        finally:
            os.close(fd)
    except OSError:
        return None
def join(cg):
    fd = os.open(cg + '/cgroup.procs', os.O_WRONLY)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
origin = [l[3:] for l in open('/proc/self/cgroup').read().splitlines() if l.startswith('0::')][0]
out = {'before': value_of(), 'errno': None}
join(cgroup)
step = 'open'
try:
    fd = os.open(path, os.O_RDONLY if op == 'read' else os.O_WRONLY)
    try:
        if seek:
            step = 'seek'
            os.lseek(fd, seek, os.SEEK_SET)
        if op == 'read':
            step = 'read'
            out['bytes'] = os.read(fd, 128).hex()
        else:
            step = 'write'
            out['written'] = os.write(fd, value)
    finally:
        os.close(fd)
except OSError as e:
    out['errno'] = errno.errorcode.get(e.errno, str(e.errno))
    out['step'] = step
join(mount + origin)
out['after'] = value_of()
print(json.dumps(out))
`;

interface ChildReport {
  before: string | null;
  after: string | null;
  errno: string | null;
  step?: AccessReport['step'];
  bytes?: string;
  written?: number;
}

const hex = (h: string | null | undefined): Buffer | undefined => (h == null ? undefined : Buffer.from(h, 'hex'));

/** The key's value as the test process (its namespaces, its cgroup) reads it; undefined if unreadable. */
function hostValue(name: string): string | undefined {
  try { return readFileSync(`/proc/sys/${name}`, 'latin1'); } catch { return undefined; }
}


const inPrivateNetns = new Map<string, boolean>();

/** Whether /proc/sys/<name> exists in a new network namespace (keys of init_net only do not). */
export function existsInPrivateNetns(name: string): boolean {
  let known = inPrivateNetns.get(name);
  if (known === undefined) {
    const r = spawnSync('unshare', ['--net', 'test', '-e', `/proc/sys/${name}`]);
    if (r.error) throw r.error;
    known = r.status === 0;
    inPrivateNetns.set(name, known);
  }
  return known;
}

export class KernelEngine implements Engine<Program> {
  readonly name = 'kernel';
  readonly runRefusalMeansLoadRejected = false;

  cannotCheck(): string | undefined { return undefined; }
  checksDifferently(): string | undefined { return undefined; }

  withCgroup<T>(f: (cgroup: string) => Promise<T>): Promise<T> {
    return withFreshCgroup(f);
  }

  load(c: SysctlCase): Program {
    try {
      // As the selftest loads them: no expected attach type (BPF_CGROUP_SYSCTL needs none), GPL.
      return Program.load({ type: 'CGROUP_SYSCTL', name: `sw_case_${c.id}`, instructions: c.program });
    } catch (e) {
      if (e instanceof VerifierError) throw new Rejected('load', `${e.code}: ${e.summary}`);
      throw e;
    }
  }

  attach(cgroup: string, program: Program, attachType: AttachTypeName): Disposable {
    try {
      return attachCgroup({ cgroup, program, attachType });
    } catch (e) {
      if (e instanceof SysError) throw new Rejected('attach', e.message);
      throw e;
    }
  }

  async access(cgroup: string, a: SysctlAccess): Promise<AccessReport> {
    const notes: string[] = [];
    const undone: string[] = [];
    const privateNet = existsInPrivateNetns(a.sysctl);
    const unshare = privateNet ? ['--uts', '--net'] : ['--uts'];
    const effective = queryCgroup(cgroup, 'CGROUP_SYSCTL', { effective: true }).programIds;
    if (effective.length > 1) notes.push(`${effective.length} effective CGROUP_SYSCTL programs (ids ${effective.join(', ')}): an ancestor's programs run too and may change the outcome`);
    if (!privateNet) notes.push(`${a.sysctl} exists only in the initial network namespace: accessed there, in a private UTS namespace`);
    const before = a.op === 'write' ? hostValue(a.sysctl) : undefined;
    try {
      const argv = [...unshare, pythonExecutable(), '-c', CHILD, cgroup, findCgroup2Mount(), a.sysctl, a.op, String(a.seek ?? 0), Buffer.from(a.value ?? '', 'latin1').toString('hex')];
      const r = spawnSync('unshare', argv, { encoding: 'utf8', timeout: 20_000 });
      if (r.error) throw r.error;
      if (r.status !== 0) throw new Error(`the child (unshare ${unshare.join(' ')} python3) failed with status ${r.status}: ${r.stderr.trim()}`);
      const child = JSON.parse(r.stdout) as ChildReport;
      const report: AccessReport = { errno: child.errno, notes, undone };
      if (child.step) report.step = child.step;
      const bytes = hex(child.bytes);
      if (bytes) report.bytes = bytes;
      const valueBefore = hex(child.before);
      if (valueBefore) report.valueBefore = valueBefore;
      const valueAfter = hex(child.after);
      if (valueAfter) report.valueAfter = valueAfter;
      return report;
    } finally {
      if (a.op === 'write' && before !== undefined) {
        const after = hostValue(a.sysctl);
        if (after !== before) {
          writeFileSync(`/proc/sys/${a.sysctl}`, before, 'latin1');
          undone.push(`${a.sysctl} in the test's own namespaces changed from ${JSON.stringify(before)} to ${JSON.stringify(after)}; restored`);
        }
      }
    }
  }
}
