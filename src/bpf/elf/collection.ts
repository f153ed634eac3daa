// Loading an ObjectSpec: BTF into the kernel, maps created (global data filled, .rodata frozen, maps
// of maps from their inner definition with their slots filled), instructions relocated (map fds,
// value addresses, CO-RE against the kernel's BTF) and programs loaded with their SEC() type, BTF,
// function and line info, then put in the program arrays that name them. Then attach by the section's kind.
import { Btf, BtfError } from '../btf/btf.js';
import { decodeValue, type BtfValue } from '../btf/decode.js';
import { resolveCoreRelo, patchCoreInsn } from '../btf/core.js';
import { type Codec, bytes, none } from '../codec.js';
import { attachCgroup, Link, type CgroupLink } from '../link.js';
import { BpfMap, userValueSize, validateObjectName } from '../map.js';
import { Program, loadWithVerifierLog } from '../prog.js';
import {
  AttachType, FD, MapFlag, MapType, ProgLoadFlag, ProgType, SysError, btfLoadRaw, cString,
  linkCreate, linkCreateTracing, mapCreate, mapFreeze, mapUpdateElem, rawTracepointOpen,
} from '../sys/index.js';
import { perfEventOpenTracepoint } from '../sys/perf.js';
import { openProbeEvent } from './probe.js';
import { POISON_KFUNC_BASE, kernelFacts, kconfigValue, resolveKernelExterns, type ResolvedExtern } from './externs.js';
import type { MapObjectSpec, MapSlot, ObjectSpec, ProgramObjectSpec } from './object.js';

const PSEUDO_MAP_FD = 1;
const PSEUDO_MAP_VALUE = 2;
const PSEUDO_BTF_ID = 3;
const PSEUDO_KFUNC_CALL = 2;
const OP_CALL = 0x85;
const MAP_IN_MAP = new Set(['ARRAY_OF_MAPS', 'HASH_OF_MAPS']);

export interface LoadOptions {
  /** BTF to resolve CO-RE relocations and attach targets against; default: the running kernel's. */
  kernelBtf?: Btf;
  /** Verifier log level when a load fails. */
  logLevel?: 1 | 2;
  /**
   * Only these programs (by function name); default all. The programs in the initial values of a
   * program array they use load too, so their tail calls land (see programsToLoad).
   */
  programs?: string[];
}

/** The kernel's BTF object for an object file (BTF_LOAD, Linux 4.18). */
export class BtfHandle implements Disposable {
  private constructor(readonly handle: FD) {}
  static load(btf: Btf, what = 'BTF'): BtfHandle {
    let fd = btfLoadRaw(btf.bytes, null);
    if (fd >= 0) return new BtfHandle(new FD(fd, 'btf'));
    const log = Buffer.alloc(1 << 20);
    fd = btfLoadRaw(btf.bytes, log, 1);
    if (fd >= 0) return new BtfHandle(new FD(fd, 'btf'));
    const text = cString(log).trim();
    throw new SysError(`loading ${what}`, -fd, { EPERM: 'run as root, or give the process CAP_BPF' }, text ? `the kernel refused the BTF: ${text.split('\n').at(-1)}` : undefined);
  }
  close(): void { this.handle.close(); }
  [Symbol.dispose](): void { this.close(); }
}

/** A loaded object: its maps and programs as kernel objects. Close it (or `using`) to release them. */
export class Collection implements Disposable {
  /** Why the object's BTF was not given to the kernel, when it was not (programs load without it). */
  btfWarning?: string;
  readonly links: (Link | CgroupLink)[] = [];

  private constructor(
    readonly spec: ObjectSpec,
    readonly maps: Map<string, BpfMap<unknown, Buffer>>,
    readonly programs: Map<string, Program>,
    readonly btf: BtfHandle | undefined,
  ) {}

  /** Load maps and programs. On failure everything created so far is closed. */
  static load(spec: ObjectSpec, o: LoadOptions = {}): Collection {
    const maps = new Map<string, BpfMap<unknown, Buffer>>();
    const programs = new Map<string, Program>();
    let btf: BtfHandle | undefined;
    let btfWarning: string | undefined;
    try {
      if (spec.btf) {
        try { btf = BtfHandle.load(spec.btf, `BTF of ${spec.name}`); } catch (e) {
          // libbpf goes on without BTF too: maps and programs lose their types, not their function.
          if (!(e instanceof SysError)) throw e;
          btfWarning = e.message;
        }
      }
      let kernelBtf = o.kernelBtf;
      const kbtf = () => (kernelBtf ??= Btf.kernel());
      // Externs first: a kernel without what a strong extern names fails before anything is created.
      let externs = new Map<string, ResolvedExtern>();
      let kconfig: Buffer | undefined;
      if (spec.externs.length) {
        const facts = kernelFacts(kbtf);
        const kc = spec.maps.find((m) => m.section === '.kconfig');
        if (kc) kconfig = kconfigValue(spec.externs, kc.valueSize, facts);
        externs = resolveKernelExterns(spec.btf!, spec.externs, facts);
      }
      for (const m of spec.maps) maps.set(m.name, createMap(m.section === '.kconfig' && kconfig ? { ...m, data: kconfig } : m, btf));
      // Maps of maps once every map exists (a slot may name a map declared after its outer map).
      for (const m of spec.maps) if (MAP_IN_MAP.has(m.type)) fillSlots(m, maps.get(m.name)!, (s) => maps.get(s.target));
      const wanted = programsToLoad(spec, o.programs);
      for (const p of spec.programs) {
        if (!wanted.has(p.name)) continue;
        programs.set(p.name, loadProgram(spec, p, maps, btf, kbtf, o.logLevel, externs));
      }
      for (const m of spec.maps) if (m.type === 'PROG_ARRAY') fillSlots(m, maps.get(m.name)!, (s) => programs.get(s.target));
    } catch (e) {
      for (const p of programs.values()) p.close();
      for (const m of maps.values()) m.close();
      btf?.close();
      throw e;
    }
    const c = new Collection(spec, maps, programs, btf);
    if (btfWarning) c.btfWarning = btfWarning;
    return c;
  }

  map(name: string): BpfMap<unknown, Buffer> {
    const m = this.maps.get(name) ?? [...this.maps.entries()].find(([, v]) => v.info().name === name)?.[1];
    if (!m) throw new Error(`${this.spec.name} has no map ${name}; it has ${[...this.maps.keys()].join(', ')}`);
    return m;
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new Error(`${this.spec.name} has no loaded program ${name}; it has ${[...this.programs.keys()].join(', ') || 'none'}`);
    return p;
  }

  /** A ring buffer map of the object, for RingBufReader. */
  ringBuf(name: string): BpfMap<null, Buffer> {
    const m = this.map(name);
    if (m.type !== 'RINGBUF') throw new TypeError(`map ${name} is a ${m.type} map, not a ring buffer`);
    return m as BpfMap<null, Buffer>;
  }

  /** Read global variables of a data section (".bss", ".data", ".rodata") decoded by their BTF. */
  globals(section = '.bss'): { [name: string]: BtfValue } {
    const ms = this.spec.maps.find((m) => m.section === section);
    if (!ms) throw new Error(`${this.spec.name} has no ${section} section`);
    const value = this.maps.get(ms.name)!.get(0 as unknown)!;
    const out: { [name: string]: BtfValue } = {};
    for (const v of this.spec.variables.values()) {
      if (v.map !== ms.name) continue;
      out[v.name] = this.spec.btf && v.typeId ? decodeValue(this.spec.btf, v.typeId, value, v.offset) : Buffer.from(value.subarray(v.offset, v.offset + v.size)).toString('hex');
    }
    return out;
  }

  /** Every entry of a map, key and value decoded by the object's BTF (bytes as hex when it has none). */
  entries(name: string): { key: BtfValue; value: BtfValue }[] {
    const ms = this.spec.map(name);
    const m = this.map(name);
    const btf = this.spec.btf;
    const dec = (id: number, b: Buffer): BtfValue => (btf && id ? decodeValue(btf, id, b) : b.toString('hex'));
    const out: { key: BtfValue; value: BtfValue }[] = [];
    for (const [k, v] of m as Iterable<[unknown, Buffer]>) {
      const keyBytes = Buffer.isBuffer(k) ? k : Buffer.from(Uint32Array.of(Number(k)).buffer);
      out.push({ key: ms.btfKeyTypeId || !ms.section ? dec(ms.btfKeyTypeId, keyBytes) : Number(k), value: dec(ms.btfValueTypeId, v) });
    }
    return out;
  }

  /**
   * Attach a program as its SEC() name says: cgroup types to `cgroup`, raw_tp/NAME to that raw
   * tracepoint, tracepoint/CAT/NAME through a perf event, lsm/fentry/fexit/tp_btf to the kernel function found by BTF at load,
   * kprobe/FUNC[+OFFSET] and uprobe/BINARY:FUNC[+OFFSET] (kretprobe, uretprobe, uprobe.s) through a perf event of the kprobe or
   * uprobe PMU. The link is kept in `links` and closed with the collection unless pinned.
   */
  attach(name: string, o: { cgroup?: string } = {}): CgroupLink {
    const p = this.spec.program(name);
    const prog = this.program(name);
    let link: CgroupLink;
    switch (p.def.attach) {
      case 'cgroup':
        if (!o.cgroup) throw new Error(`${name} (${p.section}) attaches to a cgroup: pass its path (--attach-cgroup PATH)`);
        link = attachCgroup({ cgroup: o.cgroup, program: prog, attachType: p.expectedAttachType! });
        break;
      case 'raw_tracepoint':
        if (!p.attachTarget) throw new Error(`${name}: SEC("${p.section}") names no tracepoint; use raw_tp/NAME`);
        link = new Link(rawTracepointOpen(prog.handle, p.attachTarget));
        break;
      case 'tracepoint': {
        if (!p.attachTarget || !p.attachTarget.includes('/')) throw new Error(`${name}: SEC("${p.section}") names no tracepoint; use tracepoint/CATEGORY/NAME`);
        // A bpf_link on a perf event (Linux 5.15+); the link holds the event, so its fd can go.
        using event = perfEventOpenTracepoint(p.attachTarget);
        link = new Link(linkCreate(prog.handle, event, AttachType.PERF_EVENT, 0, `tracepoint ${p.attachTarget}`));
        break;
      }
      case 'kprobe':
      case 'uprobe': {
        // The kprobe / uprobe PMU (Linux 4.17) and a bpf_link on its event (Linux 5.15), as for tracepoints.
        using event = openProbeEvent(p);
        link = new Link(linkCreate(prog.handle, event, AttachType.PERF_EVENT, 0, p.section));
        break;
      }
      case 'btf':
        link = new Link(linkCreateTracing(prog.handle, AttachType[p.expectedAttachType!], `${p.def.btfTarget === 'lsm' ? 'LSM hook' : 'kernel function'} ${p.attachTarget}`));
        break;
      default:
        throw new Error(`${name}: attaching ${p.section} programs (${p.def.attach}) is not supported by sysward yet; load it and attach with bpftool, or pin it`);
    }
    this.links.push(link);
    return link;
  }

  close(): void {
    for (const l of this.links) l.close();
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btf?.close();
  }
  [Symbol.dispose](): void { this.close(); }
}

function createMap(m: MapObjectSpec, btf: BtfHandle | undefined): BpfMap<unknown, Buffer> {
  const name = m.name.slice(0, 15);
  validateObjectName(name);
  let inner: BpfMap<unknown, Buffer> | undefined;
  if (MAP_IN_MAP.has(m.type)) {
    if (!m.inner) throw new Error(`map ${m.name}: sysward creates ${m.type} maps from the definition of their inner maps; add __array(values, struct { … }) as the last member of its definition`);
    // A template the kernel copies the inner maps' shape from (inner_map_fd); only needed until the outer map exists, as for libbpf.
    inner = createMap(m.inner, btf);
  }
  // The kernel refuses BTF for maps of maps (their values are fds); libbpf does not offer it either.
  const withBtf = btf && !inner && (m.btfKeyTypeId || m.btfValueTypeId) ? { btf_fd: btf.handle.value, btf_key_type_id: m.btfKeyTypeId, btf_value_type_id: m.btfValueTypeId } : {};
  const base = {
    map_type: MapType[m.type], key_size: m.keySize, value_size: m.valueSize, max_entries: m.maxEntries, map_flags: m.flags, map_name: name,
    ...(inner ? { inner_map_fd: inner.fd } : {}),
  };
  // A type the kernel's BTF checks refuse (e.g. a value with a kernel pointer, a program array)
  // still works untyped; a kernel before 5.5 has no mappable arrays (global data works without).
  // Each fallback is tried once, only when it differs, only after EINVAL.
  const plain = { ...base, map_flags: m.data ? m.flags & ~MapFlag.F_MMAPABLE : m.flags };
  const attempts = [{ ...base, ...withBtf }];
  if (plain.map_flags !== base.map_flags) attempts.push({ ...plain, ...withBtf });
  if (withBtf.btf_fd) attempts.push(plain);
  let fd: FD | undefined;
  try {
    for (const [i, attr] of attempts.entries()) {
      try { fd = mapCreate(attr, `creating ${m.type} map ${name}`); break; } catch (e) {
        if (i === attempts.length - 1 || !(e instanceof SysError) || e.code !== 'EINVAL') throw e;
      }
    }
  } finally {
    inner?.close();
  }
  if (!fd) throw new Error(`map ${name} was not created`);
  try {
    const valueSize = userValueSize(m.type, m.valueSize);
    const key: Codec<unknown> = m.keySize === 0 ? none : m.keySize === 4 && m.data ? u32Key : bytes(m.keySize);
    const map = BpfMap.fromFD(fd, key, bytes(valueSize));
    if (m.data) {
      const k = Buffer.alloc(4);
      mapUpdateElem(fd, k, m.data);
      // .rodata: the verifier then knows these values and prunes code on them (Linux 5.2).
      if (m.freeze) mapFreeze(fd);
    }
    return map;
  } catch (e) { fd.close(); throw e; }
}

/**
 * Write the fds of the maps or programs a map's initial values name into its slots (libbpf's
 * init_map_in_map_slots, init_prog_array_slots). A program that was not loaded leaves its slot empty:
 * programsToLoad loads every program of an array a loaded program uses.
 */
function fillSlots(m: MapObjectSpec, map: BpfMap<unknown, Buffer>, target: (s: MapSlot) => { fd: number } | undefined): void {
  for (const s of m.slots ?? []) {
    const t = target(s);
    if (!t) continue;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(s.index);
    const value = Buffer.alloc(4);
    value.writeUInt32LE(t.fd);
    try {
      mapUpdateElem(map.handle, key, value);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      throw new SysError(`setting slot ${s.index} of ${m.type} map ${m.name} to ${s.kind} ${s.target}`, e.errno, {
        EINVAL: s.kind === 'map'
          ? `the kernel finds ${s.target} unlike the inner map definition (type, key and value sizes, flags, an array's max_entries, or timers and locks in the value)`
          : `a program array holds programs of one type (the first program that uses it decides); ${s.target} is not of that type`,
      });
    }
  }
}

/**
 * The programs LoadOptions.programs names, and every program in the initial values of a program
 * array one of them uses, and so on: a tail call into a slot left empty falls through silently.
 */
export function programsToLoad(spec: ObjectSpec, only: string[] | undefined): Set<string> {
  if (!only) return new Set(spec.programs.map((p) => p.name));
  const out = new Set<string>();
  const queue = [...only];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    const p = spec.programs.find((x) => x.name === name);
    if (!p || out.has(name)) continue;
    out.add(name);
    for (const r of p.relocations) {
      if (r.kind !== 'map') continue;
      for (const s of spec.maps.find((m) => m.name === r.map && m.type === 'PROG_ARRAY')?.slots ?? []) queue.push(s.target);
    }
  }
  return out;
}

const u32Key: Codec<unknown> = { sizeBytes: 4, encode: (v, b, o) => { b.writeUInt32LE(Number(v), o); }, decode: (b, o) => b.readUInt32LE(o) };

function findAttachBtfId(p: ProgramObjectSpec, kbtf: Btf): number {
  const t = p.attachTarget;
  if (!t) throw new Error(`${p.name}: SEC("${p.section}") needs a target, e.g. ${p.def.prefix}/${p.def.btfTarget === 'lsm' ? 'file_open' : 'do_unlinkat'}`);
  const [name, kind] = p.def.btfTarget === 'lsm' ? [`bpf_lsm_${t}`, 'FUNC' as const] : p.def.btfTarget === 'tp_btf' ? [`btf_trace_${t}`, 'TYPEDEF' as const] : [t, 'FUNC' as const];
  const ids = kbtf.idsByName(name, kind);
  if (ids.length === 0) {
    throw new BtfError(`${p.name}: the kernel's BTF has no ${kind === 'FUNC' ? 'function' : 'tracepoint'} ${name}${p.def.btfTarget === 'lsm' ? ' (no such LSM hook on this kernel)' : ''}`);
  }
  return ids[0]!;
}

function loadProgram(
  spec: ObjectSpec, p: ProgramObjectSpec, maps: Map<string, BpfMap<unknown, Buffer>>, btf: BtfHandle | undefined,
  kbtf: () => Btf, logLevel: 1 | 2 | undefined, externs: Map<string, ResolvedExtern>,
): Program {
  const insns = Buffer.from(p.instructions);
  for (const r of p.relocations) {
    if (r.kind === 'extern') { patchExtern(insns, r.insn, externs.get(r.extern), spec.externs.findIndex((e) => e.name === r.extern)); continue; }
    const map = maps.get(r.map);
    if (!map) throw new Error(`${p.name}: relocation to map ${r.map}, which was not created`);
    const o = r.insn * 8;
    insns[o + 1] = (insns[o + 1]! & 0x0f) | ((r.kind === 'map' ? PSEUDO_MAP_FD : PSEUDO_MAP_VALUE) << 4);
    insns.writeInt32LE(map.fd, o + 4);
    insns.writeInt32LE(r.kind === 'data' ? r.offset : 0, o + 12);
  }
  if (p.coreRelos.length) {
    if (!spec.btf) throw new BtfError(`${p.name} has CO-RE relocations but the object has no BTF`);
    for (const r of p.coreRelos) patchCoreInsn(insns, r.insn, r.kind, resolveCoreRelo(spec.btf, kbtf(), r.typeId, r.accessString, r.kind));
  }
  const attachBtfId = p.def.btfTarget ? findAttachBtfId(p, kbtf()) : 0;
  const name = p.name.slice(0, 15);
  const license = Buffer.from(`${p.license}\0`);
  let funcInfo: Buffer | null = null;
  let lineInfo: Buffer | null = null;
  if (btf && p.funcInfo.length) {
    funcInfo = Buffer.alloc(p.funcInfo.length * 8);
    p.funcInfo.forEach((f, i) => { funcInfo!.writeUInt32LE(f.insn, i * 8); funcInfo!.writeUInt32LE(f.typeId, i * 8 + 4); });
    lineInfo = Buffer.alloc(p.lineInfo.length * 16);
    p.lineInfo.forEach((l, i) => {
      lineInfo!.writeUInt32LE(l.insn, i * 16); lineInfo!.writeUInt32LE(l.fileNameOff, i * 16 + 4);
      lineInfo!.writeUInt32LE(l.lineOff, i * 16 + 8); lineInfo!.writeUInt32LE(l.lineCol, i * 16 + 12);
    });
  }
  const attr = {
    prog_type: ProgType[p.type], insn_cnt: insns.length / 8, insns, license, prog_name: name.replace(/[^A-Za-z0-9_.]/g, '_'),
    expected_attach_type: p.expectedAttachType ? AttachType[p.expectedAttachType] : 0,
    prog_flags: p.def.sleepable ? ProgLoadFlag.F_SLEEPABLE : 0, attach_btf_id: attachBtfId,
    ...(funcInfo ? {
      prog_btf_fd: btf!.handle.value, func_info_rec_size: 8, func_info: funcInfo, func_info_cnt: p.funcInfo.length,
      ...(p.lineInfo.length ? { line_info_rec_size: 16, line_info: lineInfo, line_info_cnt: p.lineInfo.length } : {}),
    } : {}),
  };
  const { fd } = loadWithVerifierLog(attr, {
    what: `${p.type} program ${p.name} (SEC("${p.section}"))`, prefix: `${p.name}: `, ...(logLevel ? { logLevel } : {}),
    hints: {
      EPERM: p.def.btfTarget && p.def.btfTarget !== 'tp_btf'
        ? 'run as root (CAP_BPF, CAP_PERFMON; CAP_MAC_ADMIN for LSM); as root already, this kernel refuses trampoline programs (bpftool is refused too)'
        : 'run as root, or give the process CAP_BPF with CAP_NET_ADMIN (CAP_PERFMON / CAP_SYS_ADMIN for tracing and LSM types)',
    },
    noLog: `check its SEC("${p.section}") against \`sysward probe\``,
    explain: (text: string) => {
      const kfunc = /invalid func unknown#(\d+)/.exec(text);
      const missingKfunc = kfunc ? spec.externs[Number(kfunc[1]) - POISON_KFUNC_BASE] : undefined;
      return /unknown#195896080|invalid func unknown#195896080/.test(text)
        ? ` (a CO-RE relocation this kernel cannot satisfy: a field, type or enum value ${p.name} reads is missing from this kernel; guard it with bpf_core_field_exists / bpf_core_type_exists / bpf_core_enum_value_exists)`
        : missingKfunc ? ` (a call to kfunc ${missingKfunc.name}, which this kernel lacks: guard it with bpf_ksym_exists(${missingKfunc.name}))` : '';
    },
  });
  return Program.fromFD(new FD(fd, 'program'));
}

/** Fill in a __ksym extern: a kfunc call by BTF id, a 64-bit load of a BTF id (typed) or an address. */
function patchExtern(insns: Buffer, insn: number, r: ResolvedExtern | undefined, index: number): void {
  if (!r) throw new Error(`extern at instruction ${insn} was not resolved`);
  const o = insn * 8;
  if (insns[o] === OP_CALL) {
    const found = r.kind === 'btf';
    // A missing __weak kfunc: libbpf's poison, which the verifier accepts only in dead code.
    insns[o + 1] = found ? PSEUDO_KFUNC_CALL << 4 : 0;
    insns.writeInt16LE(0, o + 2); // vmlinux (a module's BTF would be an fd_array index)
    insns.writeInt32LE(found ? r.id : POISON_KFUNC_BASE + index, o + 4);
    return;
  }
  insns[o + 1] = (insns[o + 1]! & 0x0f) | ((r.kind === 'btf' ? PSEUDO_BTF_ID : 0) << 4);
  if (r.kind === 'btf') {
    insns.writeInt32LE(r.id, o + 4);
    insns.writeInt32LE(0, o + 12); // the BTF object: 0 is vmlinux
  } else {
    const a = r.kind === 'address' ? r.address : 0n;
    insns.writeUInt32LE(Number(a & 0xffffffffn), o + 4);
    insns.writeUInt32LE(Number(a >> 32n), o + 12);
  }
}
