// Maps: a typed view (key and value codecs) over a kernel map. Sizes are checked when the map is
// made or opened, so a codec that does not fit is an error at once, not garbage later.
import { type Codec, bytes, none, perCpu } from './codec.js';
import { isPerCpu } from './spec.js';
import { possibleCpuCount } from './cpus.js';
import {
  BPF_OBJ_NAME_LEN, Cmd, FD, MapFlag, MapInfo, MapType, MapUpdate, cString, getFdById,
  mapBatch, mapCreate, mapDeleteElem, mapFreeze, mapGetNextKey, mapLookupAndDeleteElem, mapLookupElem,
  mapUpdateElem, objGet, objGetInfo, objPin, type MapCreateOptions,
} from './sys/index.js';

export type MapTypeName = keyof typeof MapType;

export interface MapSpec<K, V> {
  type: MapTypeName;
  key: Codec<K>;
  /** For per-CPU maps: the codec of one CPU's value. */
  value: Codec<V>;
  maxEntries: number;
  flags?: number;
  /** Up to 15 characters: [A-Za-z0-9_.]. Shown by bpftool and `sysward bpf maps`. */
  name?: string;
  /** Initial contents, written by a loader after creation (spec.ts; BpfMap.create ignores them). */
  contents?: readonly (readonly [K, V])[];
  /** Made read-only for user space after filling (BPF_MAP_FREEZE), by a loader. */
  freeze?: boolean;
  /**
   * Bits of `flags` a loader drops when the kernel refuses the map with them (EINVAL): global data
   * is BPF_F_MMAPABLE where the kernel has it (5.5), and works without.
   */
  optionalFlags?: number;
  /**
   * Key and value types in the BTF of the spec's collection (CollectionSpec.btf), given to the
   * kernel with the map (bpftool then prints entries by field). A loader creates the map untyped
   * when the kernel refuses them or the BTF did not load.
   */
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  /** Maps of maps: the shape of the inner maps, made by a loader as the template (inner_map_fd) the kernel checks each against. */
  inner?: MapSpec<unknown, unknown>;
  /** Maps of maps and program arrays: slots a loader fills with the fd of a map or program of the same collection. */
  slots?: readonly MapSlot[];
}

/** Slot `index` of a map of maps or a program array holds that map's or program's fd once loaded. */
export interface MapSlot { index: number; kind: 'map' | 'program'; target: string }

// With the specs (spec.ts), which the interpreter's loader uses without this module.
export { isPerCpu };

/** Bytes of a value as user space sees it: per-CPU maps hold one 8-byte aligned value per possible CPU. */
export const userValueSize = (type: MapTypeName | string, valueSize: number): number =>
  (isPerCpu(type) ? Math.ceil(valueSize / 8) * 8 * possibleCpuCount() : valueSize);
/** Per-CPU maps give one value per CPU: the JS value type is V[]. */
export type MapValue<T extends MapTypeName, V> = T extends 'PERCPU_HASH' | 'PERCPU_ARRAY' | 'LRU_PERCPU_HASH' ? V[] : V;

export interface MapInfoData {
  type: number; typeName: string; id: number; keySize: number; valueSize: number; maxEntries: number;
  flags: number; name: string;
}

export function validateObjectName(name: string): void {
  if (name.length >= BPF_OBJ_NAME_LEN || !/^[A-Za-z0-9_.]*$/.test(name)) {
    throw new RangeError(`object name "${name}" is invalid: use at most ${BPF_OBJ_NAME_LEN - 1} characters of A-Z a-z 0-9 _ .`);
  }
}

const typeName = (t: number): string => Object.entries(MapType).find(([, v]) => v === t)?.[0] ?? `type ${t}`;

export function readMapInfo(fd: FD): MapInfoData {
  const buf = Buffer.alloc(MapInfo.size);
  objGetInfo(fd, buf, 'map');
  const i = MapInfo.decode(buf);
  return { type: i.type, typeName: typeName(i.type), id: i.id, keySize: i.key_size, valueSize: i.value_size, maxEntries: i.max_entries, flags: i.map_flags, name: cString(i.name) };
}

/**
 * A kernel map with typed keys and values. `BpfMap<K, V>` where V is already V[] for per-CPU maps.
 * Close it (or `using`) when done; the kernel map lives on while pinned or used by a program.
 */
export class BpfMap<K, V> implements Disposable {
  readonly #key: Codec<K>;
  readonly #value: Codec<V>;
  #keyBuf: Buffer;
  #valueBuf: Buffer;

  private constructor(readonly handle: FD, readonly type: MapTypeName, key: Codec<K>, value: Codec<V>, readonly maxEntries: number) {
    this.#key = key;
    this.#value = value;
    this.#keyBuf = Buffer.alloc(key.sizeBytes);
    this.#valueBuf = Buffer.alloc(value.sizeBytes);
  }

  /** The raw fd number, for program builders that reference maps by object. */
  get fd(): number { return this.handle.value; }

  /** `attrs`: more of MAP_CREATE for a loader (BTF types, the inner map template's fd). */
  static create<K, V, T extends MapTypeName>(spec: MapSpec<K, V> & { type: T }, attrs: MapCreateOptions = {}): BpfMap<K, MapValue<T, V>> {
    if (spec.name) validateObjectName(spec.name);
    const perCpuValues = isPerCpu(spec.type);
    const fd = mapCreate({
      map_type: MapType[spec.type], key_size: spec.key.sizeBytes, value_size: spec.value.sizeBytes,
      max_entries: spec.maxEntries, map_flags: spec.flags ?? (spec.type === 'LPM_TRIE' ? MapFlag.F_NO_PREALLOC : 0),
      map_name: spec.name ?? '', ...attrs,
    }, `creating ${spec.type} map${spec.name ? ` ${spec.name}` : ''}`);
    const value = (perCpuValues ? perCpu(spec.value, possibleCpuCount()) : spec.value) as Codec<MapValue<T, V>>;
    return new BpfMap(fd, spec.type, spec.key, value, spec.maxEntries);
  }

  /** Wrap an fd we own (from a pin, an id, or a program's map list) after checking the codecs fit. */
  static fromFD<K, V>(fd: FD, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    try {
      const info = readMapInfo(fd);
      const type = (info.typeName in MapType ? info.typeName : 'UNSPEC') as MapTypeName;
      const valueSize = userValueSize(type, info.valueSize);
      if (info.keySize !== key.sizeBytes || valueSize !== value.sizeBytes) {
        throw new TypeError(`map ${info.name || info.id} has ${info.keySize}-byte keys and ${info.valueSize}-byte values; the codecs given are ${key.sizeBytes} and ${value.sizeBytes} bytes (per-CPU maps: give perCpu(codec, n))`);
      }
      return new BpfMap(fd, type, key, value, info.maxEntries);
    } catch (e) { fd.close(); throw e; }
  }

  static openPinned<K, V>(path: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    return BpfMap.fromFD(objGet(path, 0, 'map'), key, value);
  }

  /** Open a pinned map of any sizes, keys and values as raw bytes. */
  static openPinnedBytes(path: string): BpfMap<Buffer, Buffer> {
    const fd = objGet(path, 0, 'map');
    try {
      const info = readMapInfo(fd);
      const valueSize = userValueSize(info.typeName, info.valueSize);
      return BpfMap.fromFD(fd, bytes(info.keySize), bytes(valueSize));
    } catch (e) { fd.close(); throw e; }
  }

  /** Open a map by id, keys and values as raw bytes of whatever sizes it has. */
  static openBytesById(id: number): BpfMap<Buffer, Buffer> {
    const fd = getFdById(Cmd.MAP_GET_FD_BY_ID, id, 'map');
    if (!fd) throw new Error(`map id ${id} does not exist (any more); list maps with \`sysward bpf maps\``);
    try {
      const info = readMapInfo(fd);
      const valueSize = userValueSize(info.typeName, info.valueSize);
      return BpfMap.fromFD(fd, bytes(info.keySize), bytes(valueSize));
    } catch (e) { fd.close(); throw e; }
  }

  static fromId<K, V>(id: number, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    const fd = getFdById(Cmd.MAP_GET_FD_BY_ID, id, 'map');
    if (!fd) throw new Error(`map id ${id} does not exist (any more); list maps with \`sysward bpf maps\``);
    return BpfMap.fromFD(fd, key, value);
  }

  info(): MapInfoData { return readMapInfo(this.handle); }

  #k(key: K): Buffer | null {
    if (this.#key.sizeBytes === 0) return null;
    this.#key.encode(key, this.#keyBuf, 0);
    return this.#keyBuf;
  }

  get(key: K): V | undefined {
    if (!mapLookupElem(this.handle, this.#k(key), this.#valueBuf)) return undefined;
    return this.#value.decode(this.#valueBuf, 0);
  }

  has(key: K): boolean { return this.get(key) !== undefined; }

  /** flags: MapUpdate.ANY (default), NOEXIST (create only), EXIST (update only). */
  set(key: K, value: V, flags: number = MapUpdate.ANY): this {
    this.#value.encode(value, this.#valueBuf, 0);
    mapUpdateElem(this.handle, this.#k(key), this.#valueBuf, flags);
    return this;
  }

  /** false when the key was absent. */
  delete(key: K): boolean { return mapDeleteElem(this.handle, this.#k(key)); }

  /** Queue / stack: push a value (flags EXIST overwrites the oldest when full). */
  push(value: V, flags = 0): void {
    this.#value.encode(value, this.#valueBuf, 0);
    mapUpdateElem(this.handle, null, this.#valueBuf, flags);
  }

  /** Queue / stack: remove and return the head; undefined when empty. */
  pop(): V | undefined {
    if (!mapLookupAndDeleteElem(this.handle, null, this.#valueBuf)) return undefined;
    return this.#value.decode(this.#valueBuf, 0);
  }

  /** Queue / stack: the head without removing it. */
  peek(): V | undefined {
    if (!mapLookupElem(this.handle, null, this.#valueBuf)) return undefined;
    return this.#value.decode(this.#valueBuf, 0);
  }

  /** Hash: remove and return the value of `key`. */
  take(key: K): V | undefined {
    if (!mapLookupAndDeleteElem(this.handle, this.#k(key), this.#valueBuf)) return undefined;
    return this.#value.decode(this.#valueBuf, 0);
  }

  /** Keys in kernel order. Deleting the current key while iterating restarts a hash walk: collect first. */
  *keys(): IterableIterator<K> {
    let prev: Buffer | null = null;
    const next = Buffer.alloc(this.#key.sizeBytes);
    while (mapGetNextKey(this.handle, prev, next)) {
      yield this.#key.decode(next, 0);
      prev = Buffer.from(next);
    }
  }

  *entries(): IterableIterator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> { return this.entries(); }

  /** All entries with MAP_LOOKUP_BATCH (hash, LRU, per-CPU and array maps), `chunk` at a time. */
  lookupBatch(chunk = 256): [K, V][] { return this.#batchRead(Cmd.MAP_LOOKUP_BATCH, chunk); }

  /** All entries, deleted as they are read (MAP_LOOKUP_AND_DELETE_BATCH; hash maps). */
  lookupAndDeleteBatch(chunk = 256): [K, V][] { return this.#batchRead(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, chunk); }

  #batchRead(cmd: number, chunk: number): [K, V][] {
    const ks = this.#key.sizeBytes, vs = this.#value.sizeBytes;
    const keys = Buffer.alloc(ks * chunk), values = Buffer.alloc(vs * chunk);
    // The batch cursor is opaque; the kernel wants it at least key-sized (hash maps use a u32 bucket).
    const cursorSize = Math.max(ks, 8);
    let inBatch: Buffer | null = null;
    const out: [K, V][] = [];
    for (;;) {
      const outBatch = Buffer.alloc(cursorSize);
      let r;
      try {
        r = mapBatch(cmd, this.handle, { inBatch, outBatch, keys, values, count: chunk });
      } catch (e) {
        // ENOSPC: a hash bucket holds more entries than `chunk`; retry with room for it.
        if ((e as { code?: string }).code === 'ENOSPC') { return this.#batchRead(cmd, chunk * 2); }
        throw e;
      }
      for (let i = 0; i < r.count; i++) out.push([this.#key.decode(keys, i * ks), this.#value.decode(values, i * vs)]);
      if (r.done) return out;
      inBatch = outBatch;
    }
  }

  /** Write many entries in one call (MAP_UPDATE_BATCH). Returns how many were written. */
  updateBatch(entries: readonly (readonly [K, V])[], flags: number = MapUpdate.ANY): number {
    if (entries.length === 0) return 0;
    const ks = this.#key.sizeBytes, vs = this.#value.sizeBytes;
    const keys = Buffer.alloc(ks * entries.length), values = Buffer.alloc(vs * entries.length);
    entries.forEach(([k, v], i) => { this.#key.encode(k, keys, i * ks); this.#value.encode(v, values, i * vs); });
    return mapBatch(Cmd.MAP_UPDATE_BATCH, this.handle, { keys, values, count: entries.length, elemFlags: flags }).count;
  }

  /** Delete many keys in one call (MAP_DELETE_BATCH; hash maps). Returns how many were deleted. */
  deleteBatch(keys: readonly K[]): number {
    if (keys.length === 0) return 0;
    const ks = this.#key.sizeBytes;
    const buf = Buffer.alloc(ks * keys.length);
    keys.forEach((k, i) => this.#key.encode(k, buf, i * ks));
    return mapBatch(Cmd.MAP_DELETE_BATCH, this.handle, { keys: buf, values: null, count: keys.length }).count;
  }

  /** Make the map read-only for user space from now on (programs may still write). */
  freeze(): void { mapFreeze(this.handle); }

  pin(path: string): void { objPin(this.handle, path); }

  close(): void { this.handle.close(); }
  [Symbol.dispose](): void { this.close(); }
}

export { none };
