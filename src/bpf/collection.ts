// The loader: a CollectionSpec (spec.ts) → kernel objects, for every spec: the guard's, an object
// file's (elf/collection.ts). The spec's BTF is loaded first (maps and programs go without types
// when the kernel refuses it), maps are created and filled, slots of maps of maps filled, each
// program's map references given the maps' fds, programs loaded (with the verifier log on
// failure, prog.ts), then put in the program arrays that name them. A map may be supplied instead
// of created (`replaceMaps`: a reload that keeps the readers of an existing ring buffer).
// Whatever was made is closed again on failure.
import type { Btf } from './btf/btf.js';
import { BpfMap } from './map.js';
import { Program } from './prog.js';
import { possibleCpuCount } from './cpus.js';
import { fillMap, missingMaps, missingSlotTargets, withMapFdBytes, type CollectionSpec, type MapSlot, type MapSpec } from './spec.js';
import { FD, SysError, btfLoadRaw, cString, mapUpdateElem, progBindMap, type MapCreateOptions } from './sys/index.js';

const MAP_IN_MAP = new Set(['ARRAY_OF_MAPS', 'HASH_OF_MAPS']);

/** A BTF object in the kernel (BTF_LOAD, Linux 4.18): what maps' and programs' type ids refer to. */
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

export class LoadedCollection implements Disposable {
  /** Why the spec's BTF was not given to the kernel, when it was not (maps and programs load without it). */
  btfWarning?: string;
  /** Maps the caller supplied: not closed with the collection. */
  readonly #borrowed: Set<string>;

  constructor(
    readonly maps: Record<string, BpfMap<unknown, unknown>>, readonly programs: Record<string, Program>, borrowed: Set<string>,
    readonly btf?: BtfHandle,
  ) {
    this.#borrowed = borrowed;
  }

  close(): void {
    for (const p of Object.values(this.programs)) p.close();
    for (const [name, m] of Object.entries(this.maps)) if (!this.#borrowed.has(name)) m.close();
    this.btf?.close();
  }

  [Symbol.dispose](): void { this.close(); }
}

/**
 * Map types whose keys and values the kernel refuses BTF for (their map_check_btf is
 * map_check_no_btf, or they hold fds): libbpf creates them untyped, whatever the object declares
 * (bpf_object__create_map). PROG_ARRAY too: the kernel refuses it, libbpf retries without.
 */
const UNTYPED_MAPS = new Set([
  'PERF_EVENT_ARRAY', 'CGROUP_ARRAY', 'STACK_TRACE', 'ARRAY_OF_MAPS', 'HASH_OF_MAPS', 'DEVMAP', 'DEVMAP_HASH', 'CPUMAP',
  'XSKMAP', 'SOCKMAP', 'SOCKHASH', 'QUEUE', 'STACK', 'ARENA', 'PROG_ARRAY',
]);

/**
 * Types whose max_entries is 0 by rule (local storage: one value per socket, inode, task or cgroup).
 * Any other type needs a size.
 */
const NO_MAX_ENTRIES = new Set(['CGROUP_STORAGE', 'PERCPU_CGROUP_STORAGE', 'SK_STORAGE', 'INODE_STORAGE', 'TASK_STORAGE', 'CGRP_STORAGE']);

/** max_entries as libbpf sends it: a PERF_EVENT_ARRAY declared without one gets a slot per possible CPU. */
export function effectiveMaxEntries(spec: Pick<MapSpec<unknown, unknown>, 'type' | 'maxEntries'>): number {
  return spec.type === 'PERF_EVENT_ARRAY' && spec.maxEntries === 0 ? possibleCpuCount() : spec.maxEntries;
}

/** Create and fill one map from its spec; `btf` holds the types it names, when loaded. */
export function createMapFromSpec(name: string, spec: MapSpec<unknown, unknown>, btf?: BtfHandle): BpfMap<unknown, unknown> {
  const label = spec.name ?? name.slice(0, 15);
  const maxEntries = effectiveMaxEntries(spec);
  let inner: BpfMap<unknown, unknown> | undefined;
  if (MAP_IN_MAP.has(spec.type)) {
    if (!spec.inner) throw new Error(`map ${name}: a ${spec.type} map is made from the shape of its inner maps; give its spec an inner map spec`);
    // A template the kernel copies the inner maps' shape from; only needed until the outer map exists, as for libbpf.
    inner = createMapFromSpec(`${name}.inner`, spec.inner, btf);
  }
  let m: BpfMap<unknown, unknown> | undefined;
  try {
    const typed: MapCreateOptions = btf && !UNTYPED_MAPS.has(spec.type) && (spec.btfKeyTypeId || spec.btfValueTypeId)
      ? { btf_fd: btf.handle.value, btf_key_type_id: spec.btfKeyTypeId ?? 0, btf_value_type_id: spec.btfValueTypeId ?? 0 } : {};
    const attrs: MapCreateOptions = inner ? { inner_map_fd: inner.fd } : {};
    // Flags the spec can do without (mappable arrays, 5.5) are dropped after EINVAL; a type the
    // kernel's BTF checks refuse (a value with a kernel pointer, a type this kernel cannot check)
    // is dropped after any error, as libbpf retries without BTF. Each fallback is tried once.
    const shape = { ...spec, name: label, maxEntries };
    const plain = spec.optionalFlags && spec.flags !== undefined && spec.flags & spec.optionalFlags ? { ...shape, flags: spec.flags & ~spec.optionalFlags } : undefined;
    const attempts: { spec: MapSpec<unknown, unknown>; attrs: MapCreateOptions; after: (e: SysError) => boolean }[] = [
      { spec: shape, attrs: { ...attrs, ...typed }, after: () => false },
    ];
    if (plain) attempts.push({ spec: plain, attrs: { ...attrs, ...typed }, after: (e) => e.code === 'EINVAL' });
    if (typed.btf_fd !== undefined) attempts.push({ spec: plain ?? shape, attrs, after: () => true });
    for (let i = 0; !m;) {
      try { m = BpfMap.create(attempts[i]!.spec, attempts[i]!.attrs) as BpfMap<unknown, unknown>; } catch (e) {
        if (!(e instanceof SysError)) throw e;
        const next = attempts.findIndex((x, j) => j > i && x.after(e));
        if (next >= 0) { i = next; continue; }
        if (e.code === 'EINVAL' && maxEntries === 0 && !NO_MAX_ENTRIES.has(spec.type)) {
          throw new SysError(`creating ${spec.type} map ${label}`, e.errno, {
            EINVAL: 'give the map a size: __uint(max_entries, N) in its definition (only local-storage maps are created with 0)',
          }, 'sysward sent max_entries 0, as the definition declares none');
        }
        throw e;
      }
    }
  } finally {
    inner?.close();
  }
  if (!m) throw new Error(`map ${label} was not created`);
  try {
    fillMap(m, spec, possibleCpuCount());
    // .rodata: the verifier then knows these values and prunes code on them (Linux 5.2).
    if (spec.freeze) m.freeze();
    return m;
  } catch (e) { m.close(); throw e; }
}

/**
 * Write the fds of the maps or programs a map's slots name (libbpf's init_map_in_map_slots,
 * init_prog_array_slots); the key is the slot's index, 4 bytes.
 */
function fillSlots(name: string, spec: MapSpec<unknown, unknown>, map: BpfMap<unknown, unknown>, kind: MapSlot['kind'], fdOf: (target: string) => number): void {
  for (const s of spec.slots ?? []) {
    if (s.kind !== kind) continue;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(s.index);
    const value = Buffer.alloc(4);
    value.writeUInt32LE(fdOf(s.target));
    try {
      mapUpdateElem(map.handle, key, value);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      throw new SysError(`setting slot ${s.index} of ${spec.type} map ${name} to ${s.kind} ${s.target}`, e.errno, {
        EINVAL: s.kind === 'map'
          ? `the kernel finds ${s.target} unlike the inner map definition (type, key and value sizes, flags, an array's max_entries, or timers and locks in the value)`
          : `a program array holds programs of one type (the first program that uses it decides); ${s.target} is not of that type`,
      });
    }
  }
}

export function loadCollection(spec: CollectionSpec, o: { replaceMaps?: Record<string, BpfMap<unknown, unknown>> } = {}): LoadedCollection {
  const missing = missingMaps(spec);
  if (missing.length) throw new Error(`program ${missing[0]!.program} refers to map "${missing[0]!.map}", which its collection does not define; add it to the spec's maps`);
  const noTarget = missingSlotTargets(spec)[0];
  if (noTarget) throw new Error(`slot ${noTarget.slot.index} of map ${noTarget.map} names ${noTarget.slot.kind} ${noTarget.slot.target}, which its collection does not define`);
  const maps: Record<string, BpfMap<unknown, unknown>> = {};
  const borrowed = new Set<string>();
  const programs: Record<string, Program> = {};
  let btf: BtfHandle | undefined;
  let btfWarning: string | undefined;
  try {
    if (spec.btf) {
      try { btf = BtfHandle.load(spec.btf, `BTF of ${spec.name ?? 'the collection'}`); } catch (e) {
        // libbpf goes on without BTF too: maps and programs lose their types, not their function.
        if (!(e instanceof SysError)) throw e;
        btfWarning = e.message;
      }
    }
    for (const [name, m] of Object.entries(spec.maps)) {
      const given = o.replaceMaps?.[name];
      if (given) { maps[name] = given; borrowed.add(name); } else maps[name] = createMapFromSpec(name, m, btf);
    }
    // Maps of maps once every map exists (a slot may name a map declared after its outer map).
    for (const [name, m] of Object.entries(spec.maps)) fillSlots(name, m, maps[name]!, 'map', (t) => maps[t]!.fd);
    for (const [name, p] of Object.entries(spec.programs)) {
      programs[name] = Program.load({
        type: p.type, instructions: withMapFdBytes(p.program, (map) => maps[map]!.fd), ...(p.expectedAttachType ? { expectedAttachType: p.expectedAttachType } : {}),
        name: p.name ?? name.slice(0, 15), license: p.license ?? 'GPL',
        ...(p.flags ? { flags: p.flags } : {}), ...(p.attachBtfId ? { attachBtfId: p.attachBtfId } : {}),
        ...(btf && p.funcInfo?.length ? { btf: { fd: btf.handle.value, funcInfo: p.funcInfo, lineInfo: p.lineInfo ?? [] } } : {}),
        ...(p.logLevel ? { logLevel: p.logLevel } : {}), ...(p.verifierLog ? { verifierLog: p.verifierLog } : {}),
      });
      for (const b of p.bindMaps ?? []) {
        const m = maps[b];
        if (!m) throw new Error(`program ${name} binds map "${b}", which its collection does not define`);
        // As libbpf: a kernel without the command (before 5.10) loses only the binding.
        try { progBindMap(programs[name]!.handle, m.handle); } catch (e) { if (!(e instanceof SysError)) throw e; }
      }
    }
    for (const [name, m] of Object.entries(spec.maps)) fillSlots(name, m, maps[name]!, 'program', (t) => programs[t]!.fd);
  } catch (e) {
    for (const p of Object.values(programs)) p.close();
    for (const [name, m] of Object.entries(maps)) if (!borrowed.has(name)) m.close();
    btf?.close();
    throw e;
  }
  const c = new LoadedCollection(maps, programs, borrowed, btf);
  if (btfWarning) c.btfWarning = btfWarning;
  return c;
}
