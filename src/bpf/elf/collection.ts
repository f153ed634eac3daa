// An ObjectSpec made into the toolkit's CollectionSpec and loaded by the one loader (../collection.ts):
// what needs the running kernel is settled here, reading files only (externs from its BTF,
// configuration and /proc/kallsyms, CO-RE against its BTF, attach targets found by BTF), so the
// spec is plain data: maps with their BTF types, global data, inner map templates and slots;
// programs naming their maps, with function and line info and verifier hints. Then attach by the
// section's kind.
import { Btf, BtfError } from '../btf/btf.js';
import { decodeValue, type BtfValue } from '../btf/decode.js';
import { resolveCoreRelo, patchCoreInsn } from '../btf/core.js';
import { bytes, none, u32 } from '../codec.js';
import { BtfHandle, loadCollection } from '../collection.js';
import { attachCgroup, Link, type CgroupLink } from '../link.js';
import type { BpfMap, MapSpec } from '../map.js';
import type { Program } from '../prog.js';
import type { CollectionProgramSpec, CollectionSpec } from '../spec.js';
import type { AssembledProgram, MapReference } from '../asm/builder.js';
import { decodeInstructions, type Instruction } from '../asm/insn.js';
import { AttachType, MapFlag, ProgLoadFlag, linkCreate, linkCreateTracing, rawTracepointOpen } from '../sys/index.js';
import { perfEventOpenTracepoint } from '../sys/perf.js';
import { openProbeEvent } from './probe.js';
import { POISON_KFUNC_BASE, kernelFacts, kconfigValue, resolveKernelExterns, type KernelFacts, type ResolvedExtern } from './externs.js';
import type { MapObjectSpec, ObjectSpec, ProgramObjectSpec } from './object.js';

export { BtfHandle };

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

export interface SpecOptions extends LoadOptions {
  /**
   * The kernel as externs see it; default: kernelFacts of `kernelBtf` (which probes the kernel
   * with bpf(2) only for an object that reads LINUX_HAS_BPF_COOKIE).
   */
  facts?: KernelFacts;
}

/**
 * The CollectionSpec of an object for the kernel `o.kernelBtf` describes: externs resolved (the
 * .kconfig map's value, __ksym ids and addresses patched in), CO-RE relocations applied, attach
 * targets found by BTF, only the programs asked for (and those their program arrays name). Reads
 * files (vmlinux BTF, the kernel's configuration, /proc/kallsyms) but creates nothing.
 */
export function objectToCollectionSpec(spec: ObjectSpec, o: SpecOptions = {}): CollectionSpec {
  let kernelBtf = o.kernelBtf;
  const kbtf = () => (kernelBtf ??= Btf.kernel());
  // Externs first: a kernel without what a strong extern names fails before anything else.
  let externs = new Map<string, ResolvedExtern>();
  let kconfig: Buffer | undefined;
  if (spec.externs.length) {
    const facts = o.facts ?? kernelFacts(kbtf);
    const kc = spec.maps.find((m) => m.section === '.kconfig');
    if (kc) kconfig = kconfigValue(spec.externs, kc.valueSize, facts);
    externs = resolveKernelExterns(spec.btf!, spec.externs, facts);
  }
  const wanted = programsToLoad(spec, o.programs);
  const maps: CollectionSpec['maps'] = {};
  for (const m of spec.maps) maps[m.name] = mapSpec(m.section === '.kconfig' && kconfig ? { ...m, data: kconfig } : m, wanted);
  const programs: CollectionSpec['programs'] = {};
  // libbpf binds every .rodata map to every program (bpf_object_load_prog).
  const rodata = spec.maps.filter((m) => m.section === '.rodata' || m.section?.startsWith('.rodata.')).map((m) => m.name);
  for (const p of spec.programs) {
    if (wanted.has(p.name)) programs[p.name] = { ...programSpec(spec, p, kbtf, o.logLevel, externs), ...(rodata.length ? { bindMaps: rodata } : {}) };
  }
  return { name: spec.name, ...(spec.btf ? { btf: spec.btf } : {}), maps, programs };
}

/** A loaded object: its maps and programs as kernel objects. Close it (or `using`) to release them. */
export class Collection implements Disposable {
  /** Why the object's BTF was not given to the kernel, when it was not (programs load without it). */
  btfWarning?: string;
  readonly links: (Link | CgroupLink)[] = [];

  private constructor(
    readonly spec: ObjectSpec,
    /** Per-CPU maps read one value per possible CPU: a Buffer[], as every map of the toolkit. */
    readonly maps: Map<string, BpfMap<unknown, Buffer>>,
    readonly programs: Map<string, Program>,
    readonly btf: BtfHandle | undefined,
  ) {}

  /** Load maps and programs (objectToCollectionSpec, then loadCollection). On failure everything created so far is closed. */
  static load(spec: ObjectSpec, o: LoadOptions = {}): Collection {
    const loaded = loadCollection(objectToCollectionSpec(spec, o));
    const c = new Collection(spec, new Map(Object.entries(loaded.maps)) as Map<string, BpfMap<unknown, Buffer>>, new Map(Object.entries(loaded.programs)), loaded.btf);
    if (loaded.btfWarning) c.btfWarning = loaded.btfWarning;
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
    for (const [k, v] of m as Iterable<[unknown, Buffer | Buffer[]]>) {
      const keyBytes = Buffer.isBuffer(k) ? k : Buffer.from(Uint32Array.of(Number(k)).buffer);
      // Per-CPU maps: one value per possible CPU.
      const value = Array.isArray(v) ? v.map((x) => dec(ms.btfValueTypeId, x)) : dec(ms.btfValueTypeId, v);
      out.push({ key: ms.btfKeyTypeId || !ms.section ? dec(ms.btfKeyTypeId, keyBytes) : Number(k), value });
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

/**
 * A map of the object as the loader takes it: global data as its one value (keyed by the number
 * 0), slots naming only programs that load (a slot left empty: programsToLoad loads every program
 * of an array a loaded program uses).
 */
function mapSpec(m: MapObjectSpec, programs: Set<string>): MapSpec<unknown, unknown> {
  if (MAP_IN_MAP.has(m.type) && !m.inner) throw new Error(`map ${m.name}: sysward creates ${m.type} maps from the definition of their inner maps; add __array(values, struct { … }) as the last member of its definition`);
  const slots = m.slots?.filter((s) => s.kind === 'map' || programs.has(s.target));
  return {
    type: m.type, key: m.keySize === 0 ? none : m.keySize === 4 && m.data ? u32 : bytes(m.keySize), value: bytes(m.valueSize),
    maxEntries: m.maxEntries, flags: m.flags, name: m.name.slice(0, 15),
    ...(m.btfKeyTypeId ? { btfKeyTypeId: m.btfKeyTypeId } : {}), ...(m.btfValueTypeId ? { btfValueTypeId: m.btfValueTypeId } : {}),
    ...(m.inner ? { inner: mapSpec(m.inner, programs) } : {}),
    // A kernel before 5.5 has no mappable arrays; global data works without.
    ...(m.data ? { contents: [[0, m.data]], optionalFlags: MapFlag.F_MMAPABLE, ...(m.freeze ? { freeze: true } : {}) } : {}),
    ...(slots?.length ? { slots } : {}),
  };
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

/** What a section's target is called in vmlinux BTF, as libbpf's btf_get_kernel_prefix_kind names it. */
const BTF_TARGET: Record<NonNullable<ProgramObjectSpec['def']['btfTarget']>, { prefix: string; kind: 'FUNC' | 'TYPEDEF'; what: string; example: string }> = {
  func: { prefix: '', kind: 'FUNC', what: 'function', example: 'do_unlinkat' },
  lsm: { prefix: 'bpf_lsm_', kind: 'FUNC', what: 'LSM hook', example: 'file_open' },
  tp_btf: { prefix: 'btf_trace_', kind: 'TYPEDEF', what: 'tracepoint', example: 'sched_switch' },
  iter: { prefix: 'bpf_iter_', kind: 'FUNC', what: 'iterator target', example: 'task' },
};

function findAttachBtfId(p: ProgramObjectSpec, kbtf: Btf): number {
  const t = p.attachTarget;
  const b = BTF_TARGET[p.def.btfTarget!];
  if (!t) throw new Error(`${p.name}: SEC("${p.section}") needs a target, e.g. ${p.def.prefix}/${b.example}`);
  const name = `${b.prefix}${t}`;
  const ids = kbtf.idsByName(name, b.kind);
  if (ids.length === 0) {
    throw new BtfError(`${p.name}: the kernel's BTF has no ${b.kind === 'FUNC' ? 'function' : 'type'} ${name}: this kernel has no ${b.what} ${t} for SEC("${p.section}")`);
  }
  return ids[0]!;
}

/** A program of the object as the loader takes it: externs and CO-RE patched in, maps named by reference. */
function programSpec(spec: ObjectSpec, p: ProgramObjectSpec, kbtf: () => Btf, logLevel: 1 | 2 | undefined, externs: Map<string, ResolvedExtern>): CollectionProgramSpec {
  const insns = Buffer.from(p.instructions);
  const mapReferences: MapReference[] = [];
  for (const r of p.relocations) {
    if (r.kind === 'extern') { patchExtern(insns, r.insn, externs.get(r.extern), spec.externs.findIndex((e) => e.name === r.extern)); continue; }
    mapReferences.push({ index: r.insn, map: r.map, kind: r.kind === 'map' ? 'fd' : 'value', valueOffset: r.kind === 'data' ? r.offset : 0 });
  }
  if (p.coreRelos.length) {
    if (!spec.btf) throw new BtfError(`${p.name} has CO-RE relocations but the object has no BTF`);
    for (const r of p.coreRelos) patchCoreInsn(insns, r.insn, r.kind, resolveCoreRelo(spec.btf, kbtf(), r.typeId, r.accessString, r.kind));
  }
  return {
    type: p.type, ...(p.expectedAttachType ? { expectedAttachType: p.expectedAttachType } : {}),
    name: p.name.slice(0, 15).replace(/[^A-Za-z0-9_.]/g, '_'), license: p.license,
    program: lazyProgram(insns, mapReferences),
    ...(p.funcInfo.length ? { funcInfo: p.funcInfo, lineInfo: p.lineInfo } : {}),
    ...(p.def.btfTarget ? { attachBtfId: findAttachBtfId(p, kbtf()) } : {}),
    ...(p.def.sleepable ? { flags: ProgLoadFlag.F_SLEEPABLE } : {}),
    ...(logLevel ? { logLevel } : {}),
    verifierLog: {
      what: `${p.type} program ${p.name} (SEC("${p.section}"))`, prefix: `${p.name}: `,
      hints: {
        EPERM: p.def.btfTarget && p.def.btfTarget !== 'tp_btf' && p.def.btfTarget !== 'iter'
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
    },
  };
}

/**
 * The program as the toolkit's AssembledProgram: the kernel loader needs only its bytes, so the
 * instructions are decoded when something (the interpreter, a disassembly) first asks.
 */
function lazyProgram(bytes: Buffer, mapReferences: MapReference[]): AssembledProgram {
  let decoded: Instruction[] | undefined;
  return { get instructions() { return (decoded ??= decodeInstructions(bytes)); }, bytes, mapReferences, labels: new Map() };
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
