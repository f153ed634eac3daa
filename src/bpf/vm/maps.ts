// In-memory maps for the interpreter, with the kernel's semantics for the types the guard and the
// toolkit use. Each has a fake fd, so the same Assembler code that references kernel maps by `fd`
// references these; user space gets the byte-level operations of bpf(2) (lookup, update, delete,
// next key) with the errors the kernel gives (E2BIG when full, EEXIST / ENOENT with the update
// flags, ...), and a typed view with the codecs BpfMap uses.
//
// Values a program looks up are live memory: the pointer the program gets is the element's bytes,
// so stores and atomics through it are visible to later lookups and to user space.
//
// Kernel references: kernel/bpf/hashtab.c, arraymap.c, lpm_trie.c, queue_stack_maps.c, ringbuf.c.

import { type Codec, perCpu } from '../codec.js';
import { Errno, VmMapError, type ErrnoName } from './errors.js';
import { Region, fault, zeroed } from './memory.js';

/** Map types the interpreter implements. */
export type VmMapType = 'HASH' | 'ARRAY' | 'PERCPU_HASH' | 'PERCPU_ARRAY' | 'LPM_TRIE' | 'RINGBUF' | 'QUEUE' | 'STACK';

/** Update flags, the values of MapUpdate in sys/abi.ts (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK). */
export const VmMapUpdate = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;
/** BPF_F_NO_PREALLOC: LPM tries must be created with it, as in the kernel. */
export const VM_F_NO_PREALLOC = 1;
/** BPF_F_RDONLY_PROG: programs may read but not write the map's values. */
export const VM_F_RDONLY_PROG = 1 << 7;
/** The page size ring buffers are sized in. */
export const VM_PAGE_SIZE = 4096;

export interface VmMapSpec {
  type: VmMapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Shown in traces and errors; like a kernel map name (up to 15 characters by convention). */
  name?: string;
  /** Per-CPU maps: how many CPUs hold a value (default 1). */
  cpus?: number;
}

/** A map spec with codecs, as BpfMap.create takes it (per-CPU maps: the codec of one CPU's value). */
export interface VmTypedMapSpec<K, V> {
  type: VmMapType;
  key: Codec<K>;
  value: Codec<V>;
  maxEntries: number;
  flags?: number;
  name?: string;
  cpus?: number;
}

/** Per-CPU maps give one value per CPU: the JS value type is V[] (as MapValue in map.ts). */
export type VmMapValue<T extends VmMapType, V> = T extends 'PERCPU_HASH' | 'PERCPU_ARRAY' ? V[] : V;

// Fake fds start high so that they are never mistaken for a real descriptor in a mixed program.
let nextFd = 0x4000;

const round8 = (n: number): number => Math.ceil(n / 8) * 8;
const keyString = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

/** Result of a program-side map operation: 0 or a negative errno. */
const err = (code: ErrnoName): number => -Errno[code];

/** One stored element: its key and one value per CPU, with the regions programs see. */
interface Element {
  key: Buffer;
  values: Uint8Array[];
  regions: (Region | undefined)[];
}

/**
 * A map of the interpreter. Create one with `createVmMap(spec)` (bytes) or `VmMap.create(spec)`
 * (codecs, like BpfMap.create); pass it to the Assembler like a kernel map (`ldMapFd(R1, map)`).
 */
export abstract class VmMap {
  readonly fd: number;
  readonly type: VmMapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly name: string;
  /** CPUs that hold a value in a per-CPU map; 1 otherwise. */
  readonly cpus: number;

  protected constructor(spec: VmMapSpec) {
    this.type = spec.type;
    this.keySize = spec.keySize;
    this.valueSize = spec.valueSize;
    this.maxEntries = spec.maxEntries;
    this.flags = spec.flags ?? 0;
    this.name = spec.name ?? '';
    this.cpus = spec.cpus ?? 1;
    if (!Number.isInteger(this.cpus) || this.cpus < 1) this.#createError(`cpus = ${spec.cpus}; give at least 1`);
    for (const [field, v] of [['keySize', this.keySize], ['valueSize', this.valueSize], ['maxEntries', this.maxEntries]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) this.#createError(`${field} = ${v} is not a u32`);
    }
    this.fd = nextFd++;
  }

  /** A map with key and value codecs, as BpfMap.create makes one (per-CPU values are arrays). */
  static create<K, V, T extends VmMapType>(spec: VmTypedMapSpec<K, V> & { type: T }): TypedVmMap<K, VmMapValue<T, V>> {
    const map = createVmMap({
      type: spec.type, keySize: spec.key.sizeBytes, valueSize: spec.value.sizeBytes, maxEntries: spec.maxEntries,
      ...(spec.flags !== undefined ? { flags: spec.flags } : {}), ...(spec.name !== undefined ? { name: spec.name } : {}),
      ...(spec.cpus !== undefined ? { cpus: spec.cpus } : {}),
    });
    const value = (map.isPerCpu ? perCpu(spec.value, map.cpus) : spec.value) as Codec<VmMapValue<T, V>>;
    return new TypedVmMap(map, spec.key, value);
  }

  get isPerCpu(): boolean {
    return this.type === 'PERCPU_HASH' || this.type === 'PERCPU_ARRAY';
  }

  /** Bytes of a value as user space reads and writes it: per-CPU maps give every CPU's, 8-byte aligned. */
  get userValueSize(): number {
    return this.isPerCpu ? round8(this.valueSize) * this.cpus : this.valueSize;
  }

  /** `HASH map counts` */
  protected get what(): string {
    return `${this.type} map${this.name ? ` ${this.name}` : ''}`;
  }

  /** How regions of this map are labelled in traces: `map_value(counts)`. */
  get label(): string {
    return this.name || `fd${this.fd}`;
  }

  #createError(details: string): never {
    throw new VmMapError('EINVAL', `creating ${this.type} map${this.name ? ` ${this.name}` : ''}`, details);
  }

  protected refuse(code: ErrnoName, verb: string, details?: string): never {
    throw new VmMapError(code, `${verb} ${this.what}`, details);
  }

  protected checkKey(key: Uint8Array | null, verb: string): Uint8Array {
    if (this.keySize === 0) return new Uint8Array(0);
    if (key === null || key.length !== this.keySize) {
      throw new RangeError(`${verb} ${this.what}: the key is ${key === null ? 'missing' : `${key.length} bytes`}; the map's keys are ${this.keySize} bytes`);
    }
    return key;
  }

  /**
   * bpf(2) refuses BPF_F_LOCK for maps without a bpf_spin_lock in their value (which needs BTF;
   * these maps never have one) before the map sees the update (kernel/bpf/syscall.c).
   */
  protected checkUserFlags(flags: number, verb: string): void {
    if (flags & VmMapUpdate.F_LOCK) this.refuse('EINVAL', verb, 'BPF_F_LOCK needs a bpf_spin_lock in the value');
  }

  protected checkUserValue(value: Uint8Array, verb: string): void {
    if (value.length !== this.userValueSize) {
      throw new RangeError(`${verb} ${this.what}: the value is ${value.length} bytes; the map's values are ${this.userValueSize} bytes${this.isPerCpu ? ` (${this.cpus} CPUs × ${round8(this.valueSize)})` : ''}`);
    }
  }

  // ---- user space (bpf(2) semantics) --------------------------------------------------------

  /** The value of `key` (a copy), or undefined when absent (the kernel's ENOENT). */
  abstract lookup(key: Uint8Array | null): Buffer | undefined;
  /** flags: VmMapUpdate.ANY (default), NOEXIST (create only), EXIST (update only). Throws VmMapError. */
  abstract update(key: Uint8Array | null, value: Uint8Array, flags?: number): void;
  /** false when the key was absent (ENOENT); throws VmMapError where the kernel refuses (EINVAL). */
  abstract delete(key: Uint8Array | null): boolean;
  /** The key after `key` (the first for null or an absent key); undefined at the end (ENOENT). */
  abstract nextKey(key: Uint8Array | null): Buffer | undefined;
  /** Number of elements stored. */
  abstract get size(): number;

  /** Remove and return the value (hash maps; queue and stack maps: pop). undefined when absent. */
  lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    const v = this.lookup(key);
    if (v !== undefined) this.delete(key);
    return v;
  }

  /** Every key in the order nextKey walks them. */
  *keys(): IterableIterator<Buffer> {
    let k = this.nextKey(null);
    while (k !== undefined) {
      yield k;
      k = this.nextKey(k);
    }
  }

  // ---- programs (helper semantics; results are 0 or -errno) ---------------------------------

  /** map_lookup_elem: the live value of `key` on `cpu`, or undefined (NULL). */
  abstract programLookup(key: Uint8Array, cpu: number): Region | undefined;
  /** map_update_elem from a program; per-CPU maps write only `cpu`'s value. */
  abstract programUpdate(key: Uint8Array, value: Uint8Array, flags: bigint, cpu: number): number;
  /** map_delete_elem from a program. */
  abstract programDelete(key: Uint8Array): number;

  /** ld_imm64 of a map value (BPF_PSEUDO_MAP_VALUE): only single-element arrays, as in the kernel. */
  directValue(_offset: number): Region {
    throw new VmMapError('EINVAL', `taking a direct value address of ${this.what}`, 'only ARRAY maps with maxEntries 1 have one');
  }

  /** Which of an element's values a program on `cpu` sees: its CPU's in a per-CPU map, else the one shared value. */
  protected slot(cpu: number): number { return this.isPerCpu ? cpu : 0; }

  protected valueRegion(el: Element, cpu: number): Region {
    const i = this.slot(cpu);
    let r = el.regions[i];
    if (r === undefined) {
      r = new Region('map_value', `map_value(${this.label})`, el.values[i]!, (this.flags & VM_F_RDONLY_PROG) === 0, this);
      el.regions[i] = r;
    }
    return r;
  }

  protected newElement(key: Uint8Array): Element {
    const values = Array.from({ length: this.isPerCpu ? this.cpus : 1 }, () => new Uint8Array(this.valueSize));
    return { key: Buffer.from(key), values, regions: [] };
  }

  /** User-space layout: per-CPU values side by side, each padded to 8 bytes. */
  protected userValue(el: Element): Buffer {
    if (!this.isPerCpu) return Buffer.from(el.values[0]!);
    const out = Buffer.alloc(this.userValueSize);
    const stride = round8(this.valueSize);
    el.values.forEach((v, cpu) => out.set(v, cpu * stride));
    return out;
  }

  protected setUserValue(el: Element, value: Uint8Array): void {
    if (!this.isPerCpu) {
      el.values[0]!.set(value);
      return;
    }
    const stride = round8(this.valueSize);
    el.values.forEach((v, cpu) => v.set(value.subarray(cpu * stride, cpu * stride + this.valueSize)));
  }

  protected checkCpu(cpu: number): void {
    if (cpu >= this.cpus) {
      throw fault('helper', `the program runs on CPU ${cpu}, but per-CPU map ${this.label} has ${this.cpus} CPU${this.cpus === 1 ? '' : 's'}`, `create the map with cpus: ${cpu + 1} or more`);
    }
  }
}

// ---- hash ---------------------------------------------------------------------------------------

/** HASH and PERCPU_HASH. Iteration order is insertion order (the kernel's is bucket order). */
export class VmHashMap extends VmMap {
  readonly #elements = new Map<string, Element>();

  constructor(spec: VmMapSpec) {
    super(spec);
    if (spec.keySize === 0 || spec.valueSize === 0 || spec.maxEntries === 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, 'keySize, valueSize and maxEntries must be at least 1');
    }
  }

  get size(): number { return this.#elements.size; }

  lookup(key: Uint8Array | null): Buffer | undefined {
    const el = this.#elements.get(keyString(this.checkKey(key, 'looking up in')));
    return el && this.userValue(el);
  }

  update(key: Uint8Array | null, value: Uint8Array, flags: number = VmMapUpdate.ANY): void {
    const k = this.checkKey(key, 'updating');
    this.checkUserValue(value, 'updating');
    this.checkUserFlags(flags, 'updating');
    const r = this.#prepare(k, BigInt(flags));
    if (typeof r === 'number') this.refuse(codeOf(r), 'updating');
    this.setUserValue(r, value);
  }

  delete(key: Uint8Array | null): boolean {
    return this.#elements.delete(keyString(this.checkKey(key, 'deleting from')));
  }

  override lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    const s = keyString(this.checkKey(key, 'looking up and deleting in'));
    const el = this.#elements.get(s);
    if (!el) return undefined;
    this.#elements.delete(s);
    return this.userValue(el);
  }

  override *keys(): IterableIterator<Buffer> {
    for (const el of [...this.#elements.values()]) yield Buffer.from(el.key);
  }

  nextKey(key: Uint8Array | null): Buffer | undefined {
    const keys = [...this.#elements.keys()];
    const at = key === null || key.length !== this.keySize ? -1 : keys.indexOf(keyString(key));
    const next = keys[at + 1];
    return next === undefined ? undefined : Buffer.from(this.#elements.get(next)!.key);
  }

  programLookup(key: Uint8Array, cpu: number): Region | undefined {
    const el = this.#elements.get(keyString(key));
    if (!el) return undefined;
    this.checkCpu(cpu);
    return this.valueRegion(el, cpu);
  }

  programUpdate(key: Uint8Array, value: Uint8Array, flags: bigint, cpu: number): number {
    this.checkCpu(cpu);
    const r = this.#prepare(key, flags);
    if (typeof r === 'number') return r;
    // A new per-CPU element holds zeros on the other CPUs (pcpu_init_value with onallcpus = false).
    r.values[this.slot(cpu)]!.set(value.subarray(0, this.valueSize));
    return 0;
  }

  programDelete(key: Uint8Array): number {
    return this.#elements.delete(keyString(key)) ? 0 : err('ENOENT');
  }

  /** htab_map_update_elem: flag checks, then the element to write (new or existing), or -errno. */
  #prepare(key: Uint8Array, flags: bigint): Element | number {
    const plain = flags & ~BigInt(VmMapUpdate.F_LOCK);
    if (plain > BigInt(VmMapUpdate.EXIST)) return err('EINVAL');
    // BPF_F_LOCK needs a bpf_spin_lock in the value (BTF), which these maps never have.
    if (flags & BigInt(VmMapUpdate.F_LOCK)) return err('EINVAL');
    const s = keyString(key);
    const old = this.#elements.get(s);
    if (old && plain === BigInt(VmMapUpdate.NOEXIST)) return err('EEXIST');
    if (!old && plain === BigInt(VmMapUpdate.EXIST)) return err('ENOENT');
    if (old) return old;
    if (this.#elements.size >= this.maxEntries) return err('E2BIG');
    const el = this.newElement(key);
    this.#elements.set(s, el);
    return el;
  }
}

// ---- array --------------------------------------------------------------------------------------

/** ARRAY and PERCPU_ARRAY: every element exists from the start, zeroed; keys are u32 indexes. */
export class VmArrayMap extends VmMap {
  /** Made on first use (a large array costs nothing until read): absent ones hold zeros. */
  readonly #elements: (Element | undefined)[];

  constructor(spec: VmMapSpec) {
    super(spec);
    if (spec.keySize !== 4 || spec.valueSize === 0 || spec.maxEntries === 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, 'array maps need 4-byte keys, valueSize and maxEntries of at least 1');
    }
    this.#elements = new Array(spec.maxEntries);
  }

  get size(): number { return this.maxEntries; }

  #index(key: Uint8Array): number {
    return Buffer.from(key.buffer, key.byteOffset, 4).readUInt32LE(0);
  }

  /** Element `i`, made (zeroed) on first use; undefined past maxEntries. */
  #at(i: number): Element | undefined {
    if (i >= this.maxEntries) return undefined;
    let el = this.#elements[i];
    if (!el) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(i);
      this.#elements[i] = el = this.newElement(key);
    }
    return el;
  }

  lookup(key: Uint8Array | null): Buffer | undefined {
    const el = this.#at(this.#index(this.checkKey(key, 'looking up in')));
    return el && this.userValue(el);
  }

  update(key: Uint8Array | null, value: Uint8Array, flags: number = VmMapUpdate.ANY): void {
    const k = this.checkKey(key, 'updating');
    this.checkUserValue(value, 'updating');
    this.checkUserFlags(flags, 'updating');
    const r = this.#check(k, BigInt(flags));
    if (typeof r === 'number') this.refuse(codeOf(r), 'updating');
    this.setUserValue(r, value);
  }

  delete(key: Uint8Array | null): boolean {
    this.checkKey(key, 'deleting from');
    this.refuse('EINVAL', 'deleting from', 'array elements cannot be deleted; write zeros instead');
  }

  override lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    this.checkKey(key, 'looking up and deleting in');
    this.refuse('ENOTSUPP', 'looking up and deleting in');
  }

  nextKey(key: Uint8Array | null): Buffer | undefined {
    const index = key === null || key.length !== 4 ? this.maxEntries : this.#index(key);
    const next = index >= this.maxEntries ? 0 : index + 1;
    if (next >= this.maxEntries) return undefined;
    return Buffer.from(this.#at(next)!.key);
  }

  programLookup(key: Uint8Array, cpu: number): Region | undefined {
    const el = this.#at(this.#index(key));
    if (!el) return undefined;
    this.checkCpu(cpu);
    return this.valueRegion(el, cpu);
  }

  programUpdate(key: Uint8Array, value: Uint8Array, flags: bigint, cpu: number): number {
    this.checkCpu(cpu);
    const r = this.#check(key, flags);
    if (typeof r === 'number') return r;
    r.values[this.slot(cpu)]!.set(value.subarray(0, this.valueSize));
    return 0;
  }

  programDelete(): number {
    return err('EINVAL');
  }

  override directValue(offset: number): Region {
    if (this.maxEntries !== 1 || this.isPerCpu) return super.directValue(offset);
    if (offset < 0 || offset >= this.valueSize) {
      throw new VmMapError('EINVAL', `taking a direct value address of ${this.what}`, `offset ${offset} is outside its ${this.valueSize}-byte value`);
    }
    return this.valueRegion(this.#at(0)!, 0);
  }

  /** array_map_update_elem's checks, in its order. */
  #check(key: Uint8Array, flags: bigint): Element | number {
    if ((flags & ~BigInt(VmMapUpdate.F_LOCK)) > BigInt(VmMapUpdate.EXIST)) return err('EINVAL');
    const el = this.#at(this.#index(key));
    if (!el) return err('E2BIG');
    if (flags & BigInt(VmMapUpdate.NOEXIST)) return err('EEXIST');
    if (flags & BigInt(VmMapUpdate.F_LOCK)) return err('EINVAL');
    return el;
  }
}

// ---- LPM trie -------------------------------------------------------------------------------------

interface LpmEntry extends Element {
  prefixLen: number;
}

/**
 * LPM_TRIE: keys are a u32 prefix length (bits) then the data, compared most significant bit
 * first. Lookups return the longest stored prefix that matches the key's first `prefixlen` bits;
 * updates and deletes address the exact prefix. Full: ENOSPC (not E2BIG, unlike hash maps).
 */
export class VmLpmTrie extends VmMap {
  readonly #dataSize: number;
  /** Entries by prefix length, then by their masked prefix bytes. */
  readonly #byLength = new Map<number, Map<string, LpmEntry>>();
  /** Prefix lengths present, longest first. */
  #lengths: number[] = [];
  #count = 0;

  constructor(spec: VmMapSpec) {
    super({ ...spec, flags: spec.flags ?? VM_F_NO_PREALLOC });
    this.#dataSize = spec.keySize - 4;
    if (this.#dataSize < 1 || this.#dataSize > 256 || spec.valueSize === 0 || spec.maxEntries === 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, 'LPM keys are 4 bytes of prefix length then 1 to 256 bytes of data; valueSize and maxEntries must be at least 1');
    }
    if ((this.flags & VM_F_NO_PREALLOC) === 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, 'LPM tries must be created with BPF_F_NO_PREALLOC (flags 1)');
    }
  }

  /** Longest prefix length the trie holds, in bits. */
  get maxPrefixLen(): number { return this.#dataSize * 8; }

  get size(): number { return this.#count; }

  #split(key: Uint8Array): { prefixLen: number; masked: string } {
    const prefixLen = Buffer.from(key.buffer, key.byteOffset, 4).readUInt32LE(0);
    return { prefixLen, masked: prefixLen > this.maxPrefixLen ? '' : this.#mask(key, prefixLen) };
  }

  /** The first `bits` bits of the key's data, as a string of ceil(bits / 8) bytes. */
  #mask(key: Uint8Array, bits: number): string {
    const n = Math.ceil(bits / 8);
    const b = Buffer.from(key.subarray(4, 4 + n));
    if (bits % 8) b[n - 1]! &= (0xff << (8 - (bits % 8))) & 0xff;
    return b.toString('latin1');
  }

  #longestMatch(key: Uint8Array): LpmEntry | undefined {
    const prefixLen = Buffer.from(key.buffer, key.byteOffset, 4).readUInt32LE(0);
    for (const len of this.#lengths) {
      if (len > prefixLen) continue;
      const el = this.#byLength.get(len)!.get(this.#mask(key, len));
      if (el) return el;
    }
    return undefined;
  }

  #exact(key: Uint8Array): LpmEntry | undefined {
    const { prefixLen, masked } = this.#split(key);
    return this.#byLength.get(prefixLen)?.get(masked);
  }

  lookup(key: Uint8Array | null): Buffer | undefined {
    const el = this.#longestMatch(this.checkKey(key, 'looking up in'));
    return el && this.userValue(el);
  }

  update(key: Uint8Array | null, value: Uint8Array, flags: number = VmMapUpdate.ANY): void {
    const k = this.checkKey(key, 'updating');
    this.checkUserValue(value, 'updating');
    this.checkUserFlags(flags, 'updating');
    const r = this.#update(k, value, BigInt(flags));
    if (r !== 0) this.refuse(codeOf(r), 'updating', r === err('EINVAL') ? `flags must be ANY, NOEXIST or EXIST and the prefix length at most ${this.maxPrefixLen}` : undefined);
  }

  delete(key: Uint8Array | null): boolean {
    const k = this.checkKey(key, 'deleting from');
    const r = this.programDelete(k);
    if (r === err('EINVAL')) this.refuse('EINVAL', 'deleting from', `the prefix length is more than ${this.maxPrefixLen}`);
    return r === 0;
  }

  override lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    this.checkKey(key, 'looking up and deleting in');
    this.refuse('ENOTSUPP', 'looking up and deleting in');
  }

  override *keys(): IterableIterator<Buffer> {
    const all = [...this.#byLength.values()].flatMap((m) => [...m.values()]);
    all.sort((a, b) => this.#postOrder(a, b));
    for (const el of all) yield Buffer.from(el.key);
  }

  /** Post-order of the kernel's trie: more specific prefixes before the prefix that covers them. */
  nextKey(key: Uint8Array | null): Buffer | undefined {
    const all = [...this.#byLength.values()].flatMap((m) => [...m.values()]);
    all.sort((a, b) => this.#postOrder(a, b));
    const at = key === null || key.length !== this.keySize ? -1 : all.indexOf(this.#exact(key)!);
    const next = all[at + 1];
    return next === undefined ? undefined : Buffer.from(next.key);
  }

  #postOrder(a: LpmEntry, b: LpmEntry): number {
    const min = Math.min(a.prefixLen, b.prefixLen);
    for (let bit = 0; bit < min; bit++) {
      const x = (a.key[4 + (bit >> 3)]! >> (7 - (bit & 7))) & 1;
      const y = (b.key[4 + (bit >> 3)]! >> (7 - (bit & 7))) & 1;
      if (x !== y) return x - y;
    }
    return b.prefixLen - a.prefixLen;
  }

  programLookup(key: Uint8Array): Region | undefined {
    const el = this.#longestMatch(key);
    return el && this.valueRegion(el, 0);
  }

  programUpdate(key: Uint8Array, value: Uint8Array, flags: bigint): number {
    return this.#update(key, value.subarray(0, this.valueSize), flags);
  }

  programDelete(key: Uint8Array): number {
    const { prefixLen, masked } = this.#split(key);
    if (prefixLen > this.maxPrefixLen) return err('EINVAL');
    const level = this.#byLength.get(prefixLen);
    if (!level?.delete(masked)) return err('ENOENT');
    this.#count--;
    if (level.size === 0) {
      this.#byLength.delete(prefixLen);
      this.#lengths = this.#lengths.filter((l) => l !== prefixLen);
    }
    return 0;
  }

  /** trie_update_elem: flags, prefix length, then replace (NOEXIST: EEXIST) or add (EXIST: ENOENT, full: ENOSPC). */
  #update(key: Uint8Array, value: Uint8Array, flags: bigint): number {
    if (flags > BigInt(VmMapUpdate.EXIST)) return err('EINVAL');
    const { prefixLen, masked } = this.#split(key);
    if (prefixLen > this.maxPrefixLen) return err('EINVAL');
    let level = this.#byLength.get(prefixLen);
    const old = level?.get(masked);
    if (old) {
      if (flags === BigInt(VmMapUpdate.NOEXIST)) return err('EEXIST');
    } else {
      if (flags === BigInt(VmMapUpdate.EXIST)) return err('ENOENT');
      if (this.#count >= this.maxEntries) return err('ENOSPC');
    }
    // The kernel swaps in a new node holding the key as given (bits past the prefix included).
    const el: LpmEntry = { ...this.newElement(key), prefixLen };
    el.values[0]!.set(value.subarray(0, this.valueSize));
    if (!level) {
      level = new Map();
      this.#byLength.set(prefixLen, level);
      this.#lengths = [...this.#lengths, prefixLen].sort((a, b) => b - a);
    }
    level.set(masked, el);
    if (!old) this.#count++;
    return 0;
  }
}

// ---- queue and stack ----------------------------------------------------------------------------

/** QUEUE (FIFO) and STACK (LIFO): no keys; push with flags EXIST overwrites the oldest when full. */
export class VmQueueMap extends VmMap {
  readonly #items: Uint8Array[] = [];

  constructor(spec: VmMapSpec) {
    super(spec);
    if (spec.keySize !== 0 || spec.valueSize === 0 || spec.maxEntries === 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, 'queue and stack maps have no key (keySize 0); valueSize and maxEntries must be at least 1');
    }
  }

  get size(): number { return this.#items.length; }

  /** Peek: the value pop would return, without removing it. */
  lookup(key: Uint8Array | null): Buffer | undefined {
    this.#noKey(key, 'looking up in');
    const v = this.#head();
    return v && Buffer.from(v);
  }

  /** Push. */
  update(key: Uint8Array | null, value: Uint8Array, flags: number = VmMapUpdate.ANY): void {
    this.#noKey(key, 'pushing to');
    this.checkUserValue(value, 'pushing to');
    this.checkUserFlags(flags, 'pushing to');
    const r = this.push(value, BigInt(flags));
    if (r !== 0) this.refuse(codeOf(r), 'pushing to', r === err('E2BIG') ? 'the map is full: pop first, or push with EXIST to overwrite the oldest value' : 'push takes flags ANY or EXIST');
  }

  delete(key: Uint8Array | null): boolean {
    this.#noKey(key, 'deleting from');
    this.refuse('EINVAL', 'deleting from', 'pop instead (lookupAndDelete)');
  }

  /** Pop. */
  override lookupAndDelete(key: Uint8Array | null): Buffer | undefined {
    this.#noKey(key, 'popping from');
    const v = this.pop();
    return v && Buffer.from(v);
  }

  nextKey(): Buffer | undefined {
    this.refuse('EINVAL', 'iterating', 'queue and stack maps have no keys');
  }

  /** queue_stack_map_push_elem: 0 or -errno. */
  push(value: Uint8Array, flags: bigint): number {
    if (flags & BigInt(VmMapUpdate.NOEXIST) || flags > BigInt(VmMapUpdate.EXIST)) return err('EINVAL');
    if (this.#items.length >= this.maxEntries) {
      if (!(flags & BigInt(VmMapUpdate.EXIST))) return err('E2BIG');
      this.#items.shift();
    }
    this.#items.push(Uint8Array.from(value.subarray(0, this.valueSize)));
    return 0;
  }

  pop(): Uint8Array | undefined {
    return this.type === 'STACK' ? this.#items.pop() : this.#items.shift();
  }

  peek(): Uint8Array | undefined {
    return this.#head();
  }

  #head(): Uint8Array | undefined {
    return this.type === 'STACK' ? this.#items[this.#items.length - 1] : this.#items[0];
  }

  #noKey(key: Uint8Array | null, verb: string): void {
    if (key !== null && key.length !== 0) throw new RangeError(`${verb} ${this.what}: queue and stack maps take no key (pass null)`);
  }

  programLookup(): Region | undefined {
    throw new VmMapError('EINVAL', `map_lookup_elem on ${this.what}`, 'use map_peek_elem / map_pop_elem');
  }
  programUpdate(_key: Uint8Array, value: Uint8Array, flags: bigint): number {
    return this.push(value, flags);
  }
  programDelete(): number {
    return err('EINVAL');
  }
}

// ---- ring buffer --------------------------------------------------------------------------------

/** ringbuf.c: the 8-byte header before every record. */
export const RINGBUF_HEADER_BYTES = 8;
/** Largest record the kernel reserves (RINGBUF_MAX_RECORD_SZ = UINT_MAX / 4). */
const RINGBUF_MAX_RECORD = Math.floor(0xffff_ffff / 4);

interface RingRecord {
  region: Region;
  /** Bytes it takes in the buffer: header and data, rounded up to 8. */
  lengthBytes: number;
  state: 'busy' | 'committed' | 'discarded';
}

export interface VmRingBufStats {
  /** Records delivered by drain() so far. */
  records: number;
  /** Records discarded by programs and skipped by drain(). */
  discarded: number;
  /** Reservations and outputs refused because the buffer was full. */
  refused: number;
}

/**
 * RINGBUF: max_entries is the data size in bytes (a power of two, a multiple of the page size).
 * A record takes 8 bytes of header plus its data, rounded up to 8; a reservation fails when the
 * bytes not yet consumed would exceed size - 1 (so a 4096-byte buffer holds at most 4088).
 * Records stay in the buffer until user space drains them, as with the kernel's consumer position.
 */
export class VmRingBuf extends VmMap {
  readonly #records: RingRecord[] = [];
  #producerPos = 0;
  #consumerPos = 0;
  readonly stats: VmRingBufStats = { records: 0, discarded: 0, refused: 0 };

  constructor(spec: VmMapSpec) {
    super(spec);
    const n = spec.maxEntries;
    if (spec.keySize !== 0 || spec.valueSize !== 0 || n < VM_PAGE_SIZE || (n & (n - 1)) !== 0) {
      throw new VmMapError('EINVAL', `creating ${this.what}`, `a ring buffer has no key or value size, and its size (maxEntries) is a power of two of at least ${VM_PAGE_SIZE}`);
    }
  }

  get size(): number { return this.#records.length; }

  /** Bytes reserved and not yet consumed (the kernel's producer_pos - consumer_pos). */
  get usedBytes(): number { return this.#producerPos - this.#consumerPos; }
  get producerPos(): number { return this.#producerPos; }
  get consumerPos(): number { return this.#consumerPos; }

  lookup(): Buffer | undefined { this.refuse('ENOTSUPP', 'looking up in', 'read ring buffer records with drain()'); }
  update(): void { this.refuse('ENOTSUPP', 'updating', 'programs write records with ringbuf_output / ringbuf_reserve'); }
  delete(): boolean { this.refuse('ENOTSUPP', 'deleting from'); }
  nextKey(): Buffer | undefined { this.refuse('ENOTSUPP', 'iterating'); }

  /**
   * Delivers committed records in order, as RingBufReader.drain does: stops at a record still
   * reserved, skips discarded ones, and frees their space. Returns how many were delivered.
   */
  drain(onRecord: (record: Buffer) => void): number {
    let n = 0;
    while (this.#records.length) {
      const rec = this.#records[0]!;
      if (rec.state === 'busy') break;
      this.#records.shift();
      this.#consumerPos += rec.lengthBytes;
      if (rec.state === 'discarded') {
        this.stats.discarded++;
        continue;
      }
      this.stats.records++;
      n++;
      onRecord(Buffer.from(rec.region.bytes));
    }
    return n;
  }

  /** drain() into an array. */
  takeRecords(): Buffer[] {
    const out: Buffer[] = [];
    this.drain((r) => out.push(r));
    return out;
  }

  /** Committed records not yet drained, without consuming them. */
  peekRecords(): Buffer[] {
    return this.#records.filter((r) => r.state === 'committed').map((r) => Buffer.from(r.region.bytes));
  }

  /** __bpf_ringbuf_reserve: the record's memory, or undefined when it does not fit. */
  reserve(sizeBytes: number): Region | undefined {
    if (sizeBytes > RINGBUF_MAX_RECORD) return undefined;
    const lengthBytes = round8(sizeBytes + RINGBUF_HEADER_BYTES);
    if (lengthBytes > this.maxEntries || this.usedBytes + lengthBytes > this.maxEntries - 1) {
      this.stats.refused++;
      return undefined;
    }
    const region = new Region('ringbuf_mem', `ringbuf_mem(${this.label})`, zeroed(sizeBytes), true, this);
    this.#records.push({ region, lengthBytes, state: 'busy' });
    this.#producerPos += lengthBytes;
    return region;
  }

  /** Submit or discard a reservation; false when `region` is not one of this buffer's busy records. */
  commit(region: Region, discard: boolean): boolean {
    const rec = this.#records.find((r) => r.region === region && r.state === 'busy');
    if (!rec) return false;
    rec.state = discard ? 'discarded' : 'committed';
    region.live = false;
    return true;
  }

  programLookup(): Region | undefined {
    throw new VmMapError('EINVAL', `map_lookup_elem on ${this.what}`, 'use ringbuf_reserve / ringbuf_output');
  }
  programUpdate(): number { return err('EINVAL'); }
  programDelete(): number { return err('EINVAL'); }
}

// ---- construction -------------------------------------------------------------------------------

const CLASSES: Record<VmMapType, new (spec: VmMapSpec) => VmMap> = {
  HASH: VmHashMap, PERCPU_HASH: VmHashMap, ARRAY: VmArrayMap, PERCPU_ARRAY: VmArrayMap,
  LPM_TRIE: VmLpmTrie, QUEUE: VmQueueMap, STACK: VmQueueMap, RINGBUF: VmRingBuf,
};

/** A map of raw bytes. Throws VmMapError (EINVAL) for specs the kernel would refuse. */
export function createVmMap(spec: VmMapSpec): VmMap {
  const Class = CLASSES[spec.type];
  if (!Class) {
    throw new VmMapError('EINVAL', `creating a ${String(spec.type)} map`, `the interpreter implements ${Object.keys(CLASSES).join(', ')}`);
  }
  return new Class(spec);
}

/** A ring buffer of `sizeBytes` (a power of two, at least 4096), like createRingBuf in ringbuf.ts. */
export function createVmRingBuf(sizeBytes: number, name?: string): VmRingBuf {
  return new VmRingBuf({ type: 'RINGBUF', keySize: 0, valueSize: 0, maxEntries: sizeBytes, ...(name ? { name } : {}) });
}

function codeOf(r: number): ErrnoName {
  const entry = Object.entries(Errno).find(([, v]) => v === -r);
  return (entry?.[0] ?? 'EINVAL') as ErrnoName;
}

// ---- typed view ---------------------------------------------------------------------------------

/**
 * A VmMap seen through key and value codecs, with BpfMap's methods and behaviour: get returns
 * undefined when absent, set throws (VmMapError) where the kernel refuses, delete returns false
 * when absent. It is MapLike (it has the map's fd), so the Assembler takes it as it takes a BpfMap.
 */
export class TypedVmMap<K, V> {
  readonly #key: Codec<K>;
  readonly #value: Codec<V>;

  constructor(readonly map: VmMap, key: Codec<K>, value: Codec<V>) {
    if (key.sizeBytes !== map.keySize || value.sizeBytes !== map.userValueSize) {
      throw new TypeError(`map ${map.label} has ${map.keySize}-byte keys and ${map.userValueSize}-byte values; the codecs given are ${key.sizeBytes} and ${value.sizeBytes} bytes`);
    }
    this.#key = key;
    this.#value = value;
  }

  get fd(): number { return this.map.fd; }
  get type(): VmMapType { return this.map.type; }
  get maxEntries(): number { return this.map.maxEntries; }

  #k(key: K): Buffer | null {
    if (this.#key.sizeBytes === 0) return null;
    const b = Buffer.alloc(this.#key.sizeBytes);
    this.#key.encode(key, b, 0);
    return b;
  }

  #v(value: V): Buffer {
    const b = Buffer.alloc(this.#value.sizeBytes);
    this.#value.encode(value, b, 0);
    return b;
  }

  #decode(b: Buffer | undefined): V | undefined {
    return b === undefined ? undefined : this.#value.decode(b, 0);
  }

  get(key: K): V | undefined { return this.#decode(this.map.lookup(this.#k(key))); }
  has(key: K): boolean { return this.get(key) !== undefined; }
  /** flags: VmMapUpdate.ANY (default), NOEXIST, EXIST. */
  set(key: K, value: V, flags: number = VmMapUpdate.ANY): this {
    this.map.update(this.#k(key), this.#v(value), flags);
    return this;
  }
  delete(key: K): boolean { return this.map.delete(this.#k(key)); }
  take(key: K): V | undefined { return this.#decode(this.map.lookupAndDelete(this.#k(key))); }
  /** Queue / stack: push (flags EXIST overwrites the oldest when full). */
  push(value: V, flags = 0): void { this.map.update(null, this.#v(value), flags); }
  pop(): V | undefined { return this.#decode(this.map.lookupAndDelete(null)); }
  peek(): V | undefined { return this.#decode(this.map.lookup(null)); }

  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.#key.decode(k, 0);
  }
  *entries(): IterableIterator<[K, V]> {
    for (const k of this.map.keys()) {
      const v = this.map.lookup(k);
      if (v !== undefined) yield [this.#key.decode(k, 0), this.#value.decode(v, 0)];
    }
  }
  [Symbol.iterator](): IterableIterator<[K, V]> { return this.entries(); }

  /** Writes every entry; stops at the first refused one, as MAP_UPDATE_BATCH does. Returns the count. */
  updateBatch(entries: readonly (readonly [K, V])[], flags: number = VmMapUpdate.ANY): number {
    for (const [k, v] of entries) this.set(k, v, flags);
    return entries.length;
  }
  lookupBatch(): [K, V][] { return [...this.entries()]; }
  deleteBatch(keys: readonly K[]): number {
    let n = 0;
    for (const k of keys) {
      if (!this.delete(k)) throw new VmMapError('ENOENT', `deleting from ${this.map.type} map ${this.map.label}`, 'a key of the batch is absent');
      n++;
    }
    return n;
  }
}
