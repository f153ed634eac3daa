// The in-process interpreter (src/bpf/vm/) as a conformance engine, with a simulated sysctl world:
// each cgroup gets its own copy of a few keys (their values as the kernel prints them), and an
// access does what proc_sys_call_handler does: run the cgroup's programs with the access as
// context (the current value, the bytes written, the file position), refuse with EPERM when one
// returns 0, otherwise read from the file position the programs left, or hand the new value (the
// set_new_value override, if any) to the key's handler, which parses and stores it.
//
// What it cannot check: attaching is the kernel's (the interpreter has no cgroups, so case 1's
// attach type is not checked), and there is no verifier: programs the verifier rejects at load
// (cases 7 and 29) are found only when the interpreter runs the faulting instruction, which it
// reports as a VmError; that counts as "rejected" here, and the test's name says so.

import { readFileSync } from 'node:fs';
import type { AttachTypeName } from '../../src/bpf/prog.js';
import { VmError, VmProgram } from '../../src/bpf/vm/index.js';
import { Rejected, type AccessReport, type Engine } from './engine.js';
import type { SysctlAccess, SysctlCase } from './sysctl-cases.js';

/** How a key's handler parses a write (the proc_handler it has in the kernel). */
export type SysctlHandler =
  /** proc_dostring: the bytes up to the first newline or NUL, at most maxlen - 1 of them. */
  | { kind: 'string'; maxlen: number }
  /** proc_dointvec: one integer, surrounded by whitespace at most. */
  | { kind: 'int' }
  /** proc_doulongvec_minmax: up to `count` unsigned numbers separated by whitespace; printed tab-separated. */
  | { kind: 'ulongvec'; count: number };

export interface SimulatedSysctl {
  /** As a read at position 0 gives it, with the trailing newline; null when that read fails (EIO). */
  value: string | null;
  handler: SysctlHandler;
}

/** tcp_mem as this machine prints it, or a plausible one when it cannot be read. */
export function hostTcpMem(): string {
  try {
    const v = readFileSync('/proc/sys/net/ipv4/tcp_mem', 'latin1');
    if (/^\d+\s+\d+\s+\d+\n$/.test(v)) return v;
  } catch { /* not Linux, or no permission */ }
  return '188064\t250752\t376128\n';
}

/** The keys the cases touch, with the values the reference relies on. */
export function defaultWorld(): Map<string, SimulatedSysctl> {
  return new Map<string, SimulatedSysctl>([
    ['kernel/ostype', { value: 'Linux\n', handler: { kind: 'string', maxlen: 65 } }],
    ['kernel/domainname', { value: '(none)\n', handler: { kind: 'string', maxlen: 65 } }],
    ['net/ipv4/route/mtu_expires', { value: '600\n', handler: { kind: 'int' } }],
    ['net/ipv4/tcp_mem', { value: hostTcpMem(), handler: { kind: 'ulongvec', count: 3 } }],
    // Reading it fails with EIO while no secret is set.
    ['net/ipv6/conf/lo/stable_secret', { value: null, handler: { kind: 'string', maxlen: 40 } }],
  ]);
}

/** What the key's handler stores for a write of `bytes` at position 0; null: EINVAL. */
export function parseWrite(handler: SysctlHandler, bytes: Buffer): string | null {
  const text = bytes.toString('latin1');
  switch (handler.kind) {
    case 'string': {
      const end = text.search(/[\n\0]/);
      return `${(end < 0 ? text : text.slice(0, end)).slice(0, handler.maxlen - 1)}\n`;
    }
    case 'int': {
      const m = /^\s*(-?\d+)\s*$/.exec(text.replace(/\0.*$/s, ''));
      return m ? `${BigInt(m[1]!)}\n` : null;
    }
    case 'ulongvec': {
      const parts = text.replace(/\0.*$/s, '').trim().split(/\s+/).filter((p) => p !== '');
      if (parts.length === 0 || parts.length > handler.count || parts.some((p) => !/^\d+$/.test(p))) return null;
      return `${parts.join('\t')}\n`;
    }
  }
}

interface VmCgroup {
  world: Map<string, SimulatedSysctl>;
  programs: VmProgram[];
}

class LoadedVmProgram implements Disposable {
  constructor(readonly program: VmProgram) {}
  [Symbol.dispose](): void {}
}

export class VmEngine implements Engine<LoadedVmProgram> {
  readonly name = 'vm';
  readonly runRefusalMeansLoadRejected = true;
  readonly #cgroups = new Map<string, VmCgroup>();
  #next = 0;

  constructor(readonly makeWorld: () => Map<string, SimulatedSysctl> = defaultWorld) {}

  cannotCheck(c: SysctlCase): string | undefined {
    if (c.attachType !== 'CGROUP_SYSCTL') return `attach type ${c.attachType} is refused by the kernel's attach, which the interpreter does not have`;
    return undefined;
  }

  checksDifferently(c: SysctlCase): string | undefined {
    if (c.expect === 'load-rejected') return 'no verifier: the interpreter refuses it when it runs the faulting instruction';
    return undefined;
  }

  async withCgroup<T>(f: (cgroup: string) => Promise<T>): Promise<T> {
    const name = `vm-cgroup-${++this.#next}`;
    this.#cgroups.set(name, { world: this.makeWorld(), programs: [] });
    try { return await f(name); } finally { this.#cgroups.delete(name); }
  }

  load(c: SysctlCase): LoadedVmProgram {
    try {
      return new LoadedVmProgram(new VmProgram(c.program));
    } catch (e) {
      if (e instanceof VmError) throw new Rejected('load', `${e.kind}: ${e.message}`);
      throw e;
    }
  }

  attach(cgroup: string, loaded: LoadedVmProgram, attachType: AttachTypeName): Disposable {
    if (attachType !== 'CGROUP_SYSCTL') throw new Rejected('attach', `a cgroup-sysctl program attaches as CGROUP_SYSCTL, not ${attachType}`);
    const cg = this.#cgroup(cgroup);
    cg.programs.push(loaded.program);
    return { [Symbol.dispose]: () => { cg.programs = cg.programs.filter((p) => p !== loaded.program); } };
  }

  async access(cgroup: string, a: SysctlAccess): Promise<AccessReport> {
    const cg = this.#cgroup(cgroup);
    const key = cg.world.get(a.sysctl);
    const report: AccessReport = { errno: null, notes: [], undone: [] };
    if (key === undefined) return { ...report, errno: 'ENOENT', step: 'open' };
    if (key.value !== null) report.valueBefore = Buffer.from(key.value, 'latin1');
    const write = a.op === 'write';
    const step = write ? 'write' : 'read';
    let filePos = a.seek ?? 0;
    let handlerValue: Buffer | null = write ? Buffer.from(a.value ?? '', 'latin1') : null;
    // The cgroup's programs, one after the other (the kernel runs each effective program in turn).
    for (const program of cg.programs) {
      let r;
      try {
        r = program.run({
          ctx: { kind: 'sysctl', name: a.sysctl, write, filePos, currentValue: key.value, ...(write ? { newValue: a.value ?? '' } : {}) },
        });
      } catch (e) {
        if (e instanceof VmError) throw new Rejected('run', `${e.kind}: ${e.message}`);
        throw e;
      }
      if (!r.allowed) return { ...report, errno: 'EPERM', step, ...this.#after(key) };
      filePos = r.filePos;
      if (write && r.newValueUpdated) handlerValue = r.newValue;
    }
    if (!write) {
      if (key.value === null) return { ...report, errno: 'EIO', step, ...this.#after(key) };
      report.bytes = Buffer.from(key.value, 'latin1').subarray(filePos, filePos + 128);
      return { ...report, ...this.#after(key) };
    }
    const stored = parseWrite(key.handler, handlerValue ?? Buffer.alloc(0));
    if (stored === null) return { ...report, errno: 'EINVAL', step, ...this.#after(key) };
    key.value = stored;
    return { ...report, ...this.#after(key) };
  }

  #after(key: SimulatedSysctl): { valueAfter?: Buffer } {
    return key.value === null ? {} : { valueAfter: Buffer.from(key.value, 'latin1') };
  }

  #cgroup(name: string): VmCgroup {
    const cg = this.#cgroups.get(name);
    if (!cg) throw new Error(`no simulated cgroup ${name}: use withCgroup`);
    return cg;
  }
}
