// Feature probes: ask the kernel, cache the answer. Each probe loads the smallest program or map
// that can only succeed when the feature exists; "not supported" is one answer, errors another.
import { join } from 'node:path';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { encodeInstructions, type Instruction } from './asm/insn.js';
import { helperId } from './asm/helpers.js';
import { BpfMap, type MapTypeName } from './map.js';
import { bytes, lpmKey, none, u32, u64 } from './codec.js';
import { Program, VerifierError, type ProgTypeName } from './prog.js';
import { attachCgroup } from './link.js';
import { SysError, isErrno } from './sys/errors.js';
import { pageSize } from './sys/mmap.js';

export type Support = { supported: true } | { supported: false; reason: string };
const yes: Support = { supported: true };
const no = (reason: string): Support => ({ supported: false, reason });

const mov = (dst: number, imm: number): Instruction => ({ code: 0xb7, dst, src: 0, off: 0, imm });
const call = (id: number): Instruction => ({ code: 0x85, dst: 0, src: 0, off: 0, imm: id });
const exit: Instruction = { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 };

/** Program types whose load needs an expected attach type to be accepted. */
const EXPECTED_ATTACH: Partial<Record<ProgTypeName, Parameters<typeof Program.load>[0]['expectedAttachType']>> = {
  CGROUP_SOCKOPT: 'CGROUP_GETSOCKOPT', CGROUP_SOCK_ADDR: 'CGROUP_INET4_CONNECT', SK_LOOKUP: 'SK_LOOKUP',
};
/** Program types that need a BTF target at load: probed as "needs BTF" rather than guessed. */
const NEEDS_BTF = new Set<ProgTypeName>(['TRACING', 'LSM', 'EXT', 'STRUCT_OPS']);

const cache = new Map<string, Support>();
const cached = (key: string, probe: () => Support): Support => {
  let r = cache.get(key);
  if (!r) { r = probe(); cache.set(key, r); }
  return r;
};

/** Errors that mean "you may not ask", not "the kernel cannot": rethrown, never cached as "no". */
const rethrowIfNotPermitted = (e: unknown): void => { if (isErrno(e, 'EPERM')) throw e; };

/** `expectRefusal`: the load is expected to fail (a helper probe), so it runs once, with a short
 * verifier log, rather than without a log and then again with one. */
function tryLoad(type: ProgTypeName, insns: Instruction[], expectRefusal = false): Support {
  try {
    const p = Program.load({
      type, instructions: encodeInstructions(insns), ...(EXPECTED_ATTACH[type] ? { expectedAttachType: EXPECTED_ATTACH[type] } : {}),
      ...(expectRefusal ? { keepLog: true, logBytes: 4096 } : {}),
    });
    p.close();
    return yes;
  } catch (e) {
    rethrowIfNotPermitted(e);
    if (e instanceof VerifierError) return no(e.summary);
    if (e instanceof SysError) return no(e.code);
    throw e;
  }
}

export function probeProgramType(type: ProgTypeName): Support {
  if (NEEDS_BTF.has(type)) return no('needs a BTF attach target to probe');
  const ret = type === 'CGROUP_SYSCTL' || type.startsWith('CGROUP') ? 1 : 0;
  return cached(`prog:${type}`, () => tryLoad(type, [mov(0, ret), exit]));
}

const MAP_SHAPES: Partial<Record<MapTypeName, () => BpfMap<unknown, unknown>>> = {
  HASH: () => BpfMap.create({ type: 'HASH', key: u32, value: u32, maxEntries: 1 }),
  ARRAY: () => BpfMap.create({ type: 'ARRAY', key: u32, value: u32, maxEntries: 1 }),
  PERCPU_HASH: () => BpfMap.create({ type: 'PERCPU_HASH', key: u32, value: u32, maxEntries: 1 }) as BpfMap<unknown, unknown>,
  PERCPU_ARRAY: () => BpfMap.create({ type: 'PERCPU_ARRAY', key: u32, value: u32, maxEntries: 1 }) as BpfMap<unknown, unknown>,
  LRU_HASH: () => BpfMap.create({ type: 'LRU_HASH', key: u32, value: u32, maxEntries: 1 }),
  LPM_TRIE: () => BpfMap.create({ type: 'LPM_TRIE', key: lpmKey(4), value: u32, maxEntries: 1 }),
  QUEUE: () => BpfMap.create({ type: 'QUEUE', key: none, value: u32, maxEntries: 1 }),
  STACK: () => BpfMap.create({ type: 'STACK', key: none, value: u32, maxEntries: 1 }),
  RINGBUF: () => BpfMap.create({ type: 'RINGBUF', key: none, value: bytes(0), maxEntries: pageSize() }),
  BLOOM_FILTER: () => BpfMap.create({ type: 'BLOOM_FILTER', key: none, value: u64, maxEntries: 1 }),
};
export const PROBED_MAP_TYPES = Object.keys(MAP_SHAPES) as MapTypeName[];

export function probeMapType(type: MapTypeName): Support {
  const make = MAP_SHAPES[type];
  if (!make) return no('sysward has no probe for this map type');
  return cached(`map:${type}`, () => {
    try { make().close(); return yes; } catch (e) {
      rethrowIfNotPermitted(e);
      if (e instanceof SysError) return no(e.code);
      throw e;
    }
  });
}

/** Whether programs of `type` may call `helper`: the verifier refuses unknown helpers by name. */
export function probeHelper(type: ProgTypeName, helper: string): Support {
  const id = helperId(helper);
  return cached(`helper:${type}:${helper}`, () => {
    const progType = probeProgramType(type);
    if (!progType.supported) return no(`program type ${type} is not supported`);
    // Arguments are left unset on purpose: a known helper then fails on its arguments ("R1 !read_ok"),
    // an unavailable one fails first with "unknown func" / "program of this type cannot use helper".
    const r = tryLoad(type, [mov(0, 0), call(id), mov(0, 1), exit], true);
    if (r.supported) return r;
    if (/unknown func|invalid func|cannot use helper|not supported|is not allowed/i.test(r.reason)) return r;
    return yes;
  });
}

/** Whether cgroup programs can be attached with a bpf_link (5.7+) or only with PROG_ATTACH. */
export function probeCgroupLink(cgroupRoot: string): Support {
  return cached('cgroup-link', () => withScratchCgroup(cgroupRoot, (cg) => {
    using p = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', instructions: encodeInstructions([mov(0, 1), exit]) });
    const a = attachCgroup({ cgroup: cg, program: p, attachType: 'CGROUP_SYSCTL' });
    const isLink = a.kind === 'link';
    a.detach();
    a.close();
    return isLink ? yes : no('this kernel attaches cgroup programs with PROG_ATTACH only');
  }));
}

/** Run `f` with a fresh cgroup under `root`, removed after (probes that attach). */
export function withScratchCgroup<T>(root: string, f: (path: string) => T): T {
  const cg = mkdtempSync(join(root, 'sysward-probe-'));
  try { return f(cg); } finally { removeScratchCgroup(cg); }
}

/** rmdir a scratch cgroup; the kernel may say EBUSY for a moment after its last task exited. */
export function removeScratchCgroup(cg: string): void {
  for (let i = 0; ; i++) {
    try { rmdirSync(cg); return; } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i > 50) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

export function clearProbeCache(): void { cache.clear(); }
