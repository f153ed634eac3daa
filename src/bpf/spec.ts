// Specs: what a set of maps and programs is, before any of it exists in a kernel. A spec is plain
// data — map shapes with their initial contents, programs whose instructions name their maps —
// made without a syscall (by a compiler, an object-file parser, a test) and loaded by one loader
// into the kernel (collection.ts) or into the interpreter (vm/collection.ts). As cilium/ebpf's
// CollectionSpec → Collection, and aya-obj beside aya.
import type { AssembledProgram } from './asm/builder.js';
import { PseudoLdImm64 } from './asm/opcodes.js';
import type { Btf } from './btf/btf.js';
import type { MapSlot, MapSpec } from './map.js';
import type { AttachTypeName, FuncInfoRecord, LineInfoRecord, ProgTypeName, ProgramLogOptions } from './prog.js';

const PER_CPU = new Set<string>(['PERCPU_HASH', 'PERCPU_ARRAY', 'LRU_PERCPU_HASH', 'PERCPU_CGROUP_STORAGE']);
/** Per-CPU map types: user space reads and writes one value per possible CPU. Here rather than in
 * map.ts: the interpreter's loader needs it, and map.ts brings the syscall layer with it. */
export const isPerCpu = (type: string): boolean => PER_CPU.has(type);

/** A map: its shape, and optionally its initial contents (the toolkit's one MapSpec, map.ts). */
export type { MapSlot, MapSpec };

export interface CollectionProgramSpec {
  type: ProgTypeName;
  expectedAttachType?: AttachTypeName;
  /** The kernel object's name (15 characters at most). */
  name?: string;
  license?: string;
  /**
   * Instructions whose map references name maps of the same collection: the map itself
   * (Assembler.ldMapFd('name')) or an address in its value (ldMapValue('name', offset); global data).
   */
  program: AssembledProgram;
  /** Function and line info in the collection's `btf`; left out when that BTF does not load. */
  funcInfo?: readonly FuncInfoRecord[];
  lineInfo?: readonly LineInfoRecord[];
  /** The kernel's BTF id of what a tracing or LSM program attaches to. */
  attachBtfId?: number;
  /**
   * Maps of the collection the program holds though its code may not use them (PROG_BIND_MAP,
   * Linux 5.10; skipped where the kernel lacks it): libbpf binds an object's .rodata to each program
   * so its metadata stays findable from the program.
   */
  bindMaps?: readonly string[];
  /** prog_flags (ProgLoadFlag.F_SLEEPABLE, …). */
  flags?: number;
  /** Verifier log level when a load fails, and words of its own on a refusal. */
  logLevel?: 1 | 2;
  verifierLog?: ProgramLogOptions;
}

export interface CollectionSpec {
  /** What the collection is, for messages ("sysctl.bpf.o"). */
  name?: string;
  /**
   * The BTF the maps' and programs' type ids are in. Loaded with the collection; a kernel that
   * refuses it gets maps and programs without types, and the loader says why (btfWarning).
   */
  btf?: Btf;
  maps: Record<string, MapSpec<unknown, unknown>>;
  programs: Record<string, CollectionProgramSpec>;
}

/** The maps a program refers to by name that its collection does not define. */
export function missingMaps(spec: CollectionSpec): { program: string; map: string }[] {
  const out: { program: string; map: string }[] = [];
  for (const [program, p] of Object.entries(spec.programs)) {
    for (const r of p.program.mapReferences) if (typeof r.map === 'string' && !(r.map in spec.maps)) out.push({ program, map: r.map });
  }
  return out;
}

/** The slots of maps of maps and program arrays that name what the collection does not define. */
export function missingSlotTargets(spec: CollectionSpec): { map: string; slot: MapSlot }[] {
  const out: { map: string; slot: MapSlot }[] = [];
  for (const [map, m] of Object.entries(spec.maps)) {
    for (const slot of m.slots ?? []) if (!(slot.target in (slot.kind === 'map' ? spec.maps : spec.programs))) out.push({ map, slot });
  }
  return out;
}

/**
 * The program's instructions with each map named by reference given the number `fdOf` returns:
 * the ld_imm64 says which (the map, or an address `valueOffset` into its value) as the reference does.
 */
export function withMapFds(p: AssembledProgram, fdOf: (name: string) => number): AssembledProgram['instructions'] {
  const insns = [...p.instructions];
  for (const r of p.mapReferences) {
    if (typeof r.map !== 'string') continue;
    insns[r.index] = { ...insns[r.index]!, src: r.kind === 'value' ? PseudoLdImm64.MAP_VALUE : PseudoLdImm64.MAP_FD, imm: fdOf(r.map) };
    insns[r.index + 1] = { ...insns[r.index + 1]!, imm: r.valueOffset };
  }
  return insns;
}

/**
 * The program's wire bytes (AssembledProgram.bytes, already encoded) with each map named by
 * reference given its fd: the same bytes withMapFds + encodeInstructions make, without decoding
 * and encoding every instruction again at each load.
 */
export function withMapFdBytes(p: AssembledProgram, fdOf: (name: string) => number): Buffer {
  const out = Buffer.from(p.bytes);
  for (const r of p.mapReferences) {
    if (typeof r.map !== 'string') continue;
    const o = r.index * 8;
    out[o + 1] = (out[o + 1]! & 0x0f) | ((r.kind === 'value' ? PseudoLdImm64.MAP_VALUE : PseudoLdImm64.MAP_FD) << 4);
    out.writeInt32LE(fdOf(r.map), o + 4);
    out.writeInt32LE(r.valueOffset, o + 12);
  }
  return out;
}


/** What both the kernel's and the interpreter's maps offer for filling. */
export interface Fillable { set(k: unknown, v: unknown): unknown; updateBatch(e: readonly (readonly [unknown, unknown])[]): number }

/** Write a spec's initial contents (a per-CPU value to each of `cpus` CPUs). */
export function fillMap(m: Fillable, spec: MapSpec<unknown, unknown>, cpus: number): void {
  const contents = spec.contents ?? [];
  if (!contents.length) return;
  const entries = isPerCpu(spec.type) ? contents.map(([k, v]) => [k, Array(cpus).fill(v)] as const) : contents;
  // One syscall for many entries where the kernel has batches (hash maps, 5.6+); else one each.
  if (spec.type === 'HASH' && entries.length > 1) {
    try { m.updateBatch(entries); return; } catch { /* an older kernel: one by one below */ }
  }
  for (const [k, v] of entries) m.set(k, v);
}
