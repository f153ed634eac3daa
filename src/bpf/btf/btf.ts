// BTF, the BPF Type Format (Documentation/bpf/btf.rst): the types of a kernel (/sys/kernel/btf/vmlinux)
// or of an object file's .BTF section, read into plain records. Malformed input is a BtfError.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mapFileReadOnly } from '../sys/mmap.js';

export class BtfError extends Error {
  override name = 'BtfError';
}

export const BtfKind = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;
export type BtfKindName = keyof typeof BtfKind;
const KIND_NAMES = Object.keys(BtfKind) as BtfKindName[];

export interface BtfMember { name: string; type: number; bitOffset: number; bitfieldSize: number }
export interface BtfParam { name: string; type: number }
export interface BtfEnumValue { name: string; value: bigint }
export interface BtfVarSecinfo { type: number; offset: number; size: number }

/** One type. Fields beyond id/kind/name are present for the kinds that have them. */
export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** Byte size: INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT. */
  size?: number;
  /** Referenced type: PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO (return), VAR, DECL_TAG. */
  type?: number;
  int?: { signed: boolean; char: boolean; bool: boolean; bitOffset: number; bits: number };
  array?: { type: number; indexType: number; nelems: number };
  members?: BtfMember[];
  params?: BtfParam[];
  values?: BtfEnumValue[];
  /** VAR linkage, FUNC linkage. */
  linkage?: number;
  secinfos?: BtfVarSecinfo[];
  /** FWD: union when true. ENUM: signed when true. */
  kindFlag: boolean;
  /** Byte offset of this type's record in the type section (for fixups before loading). */
  recordOffset: number;
}

const MAGIC = 0xeb9f;
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
/**
 * The type section as little-endian u32 words (every record is a multiple of 4 bytes): a view of
 * the bytes when they are aligned on a little-endian host (vmlinux BTF is), else a copy. Reading
 * a 6 MB section word by word is several times faster than Buffer.readUInt32LE.
 */
const wordsOf = (d: Buffer): Uint32Array => {
  if (LITTLE_ENDIAN && d.byteOffset % 4 === 0) return new Uint32Array(d.buffer, d.byteOffset, d.length >>> 2);
  const w = new Uint32Array(d.length >>> 2);
  for (let i = 0; i < w.length; i++) w[i] = d.readUInt32LE(i * 4);
  return w;
};
/** A string of a checked string section (NUL-terminated, in bounds). */
const nameAt = (strings: Buffer, off: number): string => strings.toString('latin1', off, strings.indexOf(0, off));
const VOID: BtfType = { id: 0, kind: 'UNKN', name: 'void', kindFlag: false, recordOffset: -1 };

/** Words (u32) a record of each kind takes after its 3-word header: fixed, and per member (vlen). */
const TAIL_FIXED_WORDS = Uint8Array.from(KIND_NAMES.map((k) => (k === 'INT' || k === 'VAR' || k === 'DECL_TAG' ? 1 : k === 'ARRAY' ? 3 : 0)));
const TAIL_MEMBER_WORDS = Uint8Array.from(KIND_NAMES.map((k) =>
  (k === 'STRUCT' || k === 'UNION' || k === 'DATASEC' || k === 'ENUM64' ? 3 : k === 'ENUM' || k === 'FUNC_PROTO' ? 2 : 0)));

/**
 * Parsed BTF. Parsing checks every record (bounds, kinds, names, references) but makes no objects:
 * a type becomes a BtfType when it is asked for (vmlinux has over 100,000 of them, and a loader
 * needs a few hundred), and names are looked up in the string section, not indexed in advance.
 */
export class Btf {
  /** Byte offset of each type's record in the type section, by id ([0]: void has none). */
  readonly #offsets: Uint32Array;
  readonly #typeSection: Buffer;
  /** The type section as words; a record at byte offset o starts at word o / 4. */
  readonly #w: Uint32Array;
  readonly #cache: (BtfType | undefined)[];
  #all?: BtfType[];
  /** Each type's name offset, by id, read at the first lookup by name: a scan of it finds a name's types. */
  #nameOffsets?: Uint32Array;
  /** Ids (from 1) sorted by name, then id, when a cache provides them: lookups by binary search. */
  #idsSortedByName?: Uint32Array;
  #byName = new Map<string, number[]>();

  private constructor(
    readonly bytes: Buffer, readonly headerBytes: number, readonly typesOffset: number, readonly strings: Buffer,
    typeSection: Buffer, words: Uint32Array, offsets: Uint32Array, index?: { nameOffsets: Uint32Array; byName: Uint32Array },
  ) {
    this.#typeSection = typeSection;
    this.#w = words;
    this.#offsets = offsets;
    this.#cache = [VOID];
    if (index) { this.#nameOffsets = index.nameOffsets; this.#idsSortedByName = index.byName; }
  }

  /**
   * Parse raw BTF (the .BTF section or /sys/kernel/btf/vmlinux). `trusted`: BTF the kernel checked
   * itself (its own, at boot): only bounds and kinds are checked, not every name and reference.
   */
  static parse(bytes: Buffer, what = 'BTF', { trusted = false } = {}): Btf {
    const fail = (m: string): never => { throw new BtfError(`${what}: ${m}`); };
    if (bytes.length < 24) fail(`truncated: ${bytes.length} bytes is shorter than the BTF header`);
    if (bytes.readUInt16LE(0) !== MAGIC) fail(bytes.readUInt16BE(0) === MAGIC ? 'big-endian BTF is not supported' : 'no BTF magic 0xeB9F');
    if (bytes[2] !== 1) fail(`BTF version ${bytes[2]} is not supported (only 1)`);
    const hdrLen = bytes.readUInt32LE(4);
    if (hdrLen < 24 || hdrLen > bytes.length) fail(`header length ${hdrLen} is out of range`);
    const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => bytes.readUInt32LE(o)) as [number, number, number, number];
    if (hdrLen + typeOff + typeLen > bytes.length) fail('truncated: the type section ends past the end of the data');
    if (hdrLen + strOff + strLen > bytes.length) fail('truncated: the string section ends past the end of the data');
    const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    const d = bytes.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
    if (typeLen % 4) fail(`the type section's length ${typeLen} is not a multiple of 4`);
    const words = wordsOf(d);
    return new Btf(bytes, hdrLen, hdrLen + typeOff, strings, d, words, Btf.#check(words, strings, fail, trusted));
  }

  /** Every record's offset, after checking what later reads rely on: bounds, kinds, names, references. */
  static #check(w: Uint32Array, strings: Buffer, fail: (m: string) => never, trusted: boolean): Uint32Array {
    let offsets = new Uint32Array(1024);
    let n = 1;
    const words = w.length;
    const kinds = KIND_NAMES.length;
    for (let i = 0; i < words; n++) {
      if (i + 3 > words) fail(`truncated: type ${n} ends past the end of the type section`);
      const info = w[i + 1]!;
      const kindNum = (info >>> 24) & 0x1f;
      if (kindNum === 0 || kindNum >= kinds) fail(`type ${n} has unknown kind ${kindNum}`);
      const end = i + 3 + TAIL_FIXED_WORDS[kindNum]! + TAIL_MEMBER_WORDS[kindNum]! * (info & 0xffff);
      if (end > words) fail(`truncated: type ${n} ends past the end of the type section`);
      if (n === offsets.length) { const grown = new Uint32Array(n * 2); grown.set(offsets); offsets = grown; }
      offsets[n] = i * 4;
      i = end;
    }
    offsets = offsets.subarray(0, n);
    if (trusted) return offsets;
    // Names and references: a later walk then needs no checks.
    const terminated = strings.length > 0 && strings[strings.length - 1] === 0;
    const checkName = (id: number, off: number) => {
      if (off >= strings.length) fail(`type ${id}: string offset ${off} is past the end of the string section (${strings.length} bytes)`);
      if (!terminated && strings.indexOf(0, off) < 0) fail(`type ${id}: string at offset ${off} is not NUL-terminated`);
    };
    const checkRef = (id: number, ref: number) => {
      if (ref >= n) fail(`type ${id} (${KIND_NAMES[(w[offsets[id]! / 4 + 1]! >>> 24) & 0x1f]} ${nameAt(strings, w[offsets[id]! / 4]!)}) refers to type ${ref}, which does not exist`);
    };
    for (let id = 1; id < n; id++) {
      const i = offsets[id]! / 4;
      checkName(id, w[i]!);
      const info = w[i + 1]!;
      const kind = KIND_NAMES[(info >>> 24) & 0x1f]!;
      const vlen = info & 0xffff;
      const body = i + 3;
      switch (kind) {
        case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'FUNC': case 'TYPE_TAG': case 'VAR': case 'DECL_TAG': case 'FUNC_PROTO':
          checkRef(id, w[i + 2]!);
          if (kind === 'FUNC_PROTO') for (let k = 0; k < vlen; k++) { checkName(id, w[body + k * 2]!); checkRef(id, w[body + k * 2 + 1]!); }
          break;
        case 'ARRAY': checkRef(id, w[body]!); checkRef(id, w[body + 1]!); break;
        case 'STRUCT': case 'UNION': for (let k = 0; k < vlen; k++) { checkName(id, w[body + k * 3]!); checkRef(id, w[body + k * 3 + 1]!); } break;
        case 'ENUM': for (let k = 0; k < vlen; k++) checkName(id, w[body + k * 2]!); break;
        case 'ENUM64': for (let k = 0; k < vlen; k++) checkName(id, w[body + k * 3]!); break;
        case 'DATASEC': for (let k = 0; k < vlen; k++) checkRef(id, w[body + k * 3]!); break;
        default: break;
      }
    }
    return offsets;
  }

  /**
   * The running kernel's BTF (Linux 5.4 with CONFIG_DEBUG_INFO_BTF), read once per process. The
   * kernel checked it when it booted (btf_parse_vmlinux), so only its bounds are checked here.
   * As root, a copy with its type index is kept for this boot in KERNEL_BTF_CACHE_DIR and mapped
   * by later processes: sysfs hands the 5 MB out 4 KB per read(2) (before Linux 6.16, which maps
   * it), and indexing 100,000 types costs more than reading them. Its bytes are read-only.
   */
  static kernel(): Btf {
    kernelBtf ??= Btf.loadKernel();
    return kernelBtf;
  }

  /** The running kernel's BTF as Btf.kernel reads it, not kept: from the cache in `cacheDir`, or read and cached there. */
  static loadKernel(cacheDir = KERNEL_BTF_CACHE_DIR): Btf {
    return Btf.#kernelCached(cacheDir) ?? Btf.#kernelRead(cacheDir);
  }

  static #kernelRead(cacheDir: string): Btf {
    // Mapped where the kernel allows it (Linux 6.16), else read 4 KB at a time.
    const btf = Btf.parse(mapFileReadOnly(VMLINUX_PATH) ?? readFileSync(VMLINUX_PATH), VMLINUX_PATH, { trusted: true });
    try { btf.#writeKernelCache(cacheDir); } catch { /* not root, or no room: the next process reads sysfs again */ }
    return btf;
  }

  /** The cache file's name: this boot and this kernel's BTF size (a new kernel means a new boot). */
  static #kernelCachePath(cacheDir: string): string | undefined {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
      return join(cacheDir, `vmlinux-${boot}-${statSync(VMLINUX_PATH).size}.btfidx`);
    } catch { return undefined; }
  }

  static #kernelCached(cacheDir: string): Btf | undefined {
    const path = Btf.#kernelCachePath(cacheDir);
    if (!path) return undefined;
    try {
      const st = statSync(path);
      // Only what root wrote and no one else can change: the types are trusted, not checked.
      if (st.uid !== 0 || (st.mode & 0o022) !== 0) return undefined;
      const f = mapFileReadOnly(path);
      if (!f) return undefined;
      if (f.length < 16 || f.toString('latin1', 0, 8) !== CACHE_MAGIC || f.byteOffset % 4 !== 0 || !LITTLE_ENDIAN) return undefined;
      const n = f.readUInt32LE(8);
      const btfBytes = f.readUInt32LE(12);
      const arrays = 16 + 3 * 4 * n;
      if (arrays + btfBytes !== f.length) return undefined;
      const word = (i: number) => new Uint32Array(f.buffer, f.byteOffset + 16 + i * 4 * n, n);
      const bytes = f.subarray(arrays);
      const hdrLen = bytes.readUInt32LE(4);
      const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => bytes.readUInt32LE(o)) as [number, number, number, number];
      const d = bytes.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
      const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
      return new Btf(bytes, hdrLen, hdrLen + typeOff, strings, d, wordsOf(d), word(0), { nameOffsets: word(1), byName: word(2).subarray(1) });
    } catch { return undefined; }
  }

  #writeKernelCache(cacheDir: string): void {
    const path = Btf.#kernelCachePath(cacheDir);
    if (!path || process.getuid?.() !== 0) return;
    const n = this.#offsets.length;
    this.#namedAt([]); // builds the name offsets
    const names = this.#nameOffsets!;
    // Ids by name, then id: what idsWithNamePrefix searches by halves.
    const text = Array.from(names, (off) => nameAt(this.strings, off));
    const order = Array.from({ length: n - 1 }, (_, k) => k + 1);
    order.sort((a, b) => (text[a]! < text[b]! ? -1 : text[a]! > text[b]! ? 1 : a - b));
    const byName = new Uint32Array(n);
    byName.set(order, 1);
    const head = Buffer.alloc(16);
    head.write(CACHE_MAGIC, 0, 'latin1');
    head.writeUInt32LE(n, 8);
    head.writeUInt32LE(this.bytes.length, 12);
    const arr = (a: Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    mkdirSync(dirname(cacheDir), { recursive: true });
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    // Earlier boots' files go; a new one appears whole (rename) or not at all.
    for (const f of readdirSync(cacheDir)) if (f.startsWith('vmlinux-') && join(cacheDir, f) !== path) rmSync(join(cacheDir, f), { force: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([head, arr(this.#offsets), arr(names), arr(byName), this.bytes]), { mode: 0o600 });
    renameSync(tmp, path);
  }

  string(off: number): string {
    if (off >= this.strings.length) throw new BtfError(`string offset ${off} is past the end of the string section (${this.strings.length} bytes)`);
    const end = this.strings.indexOf(0, off);
    if (end < 0) throw new BtfError(`string at offset ${off} is not NUL-terminated`);
    return this.strings.toString('latin1', off, end);
  }

  /** How many types, void (id 0) included. */
  get typeCount(): number { return this.#offsets.length; }

  /** Every type, void first: makes an object of each (for object files; a loader asks by id or name). */
  get types(): BtfType[] {
    if (!this.#all) {
      const all: BtfType[] = [];
      for (let id = 0; id < this.#offsets.length; id++) all.push(this.type(id));
      this.#all = all;
    }
    return this.#all;
  }

  /** The kind of a type, without making its object. */
  kindOf(id: number): BtfKindName {
    if (id === 0) return 'UNKN';
    return KIND_NAMES[(this.#w[this.#offsetOf(id) / 4 + 1]! >>> 24) & 0x1f]!;
  }

  /** Whether this BTF was read with a cached name index (Btf.loadKernel from its cache). */
  get indexed(): boolean { return this.#idsSortedByName !== undefined; }

  /** Whether any type's record says so, read without making objects: `(kind, kindFlag) => …`. */
  someRecord(test: (kind: BtfKindName, kindFlag: boolean) => boolean): boolean {
    const w = this.#w;
    for (let id = 1; id < this.#offsets.length; id++) {
      const info = w[this.#offsets[id]! / 4 + 1]!;
      if (test(KIND_NAMES[(info >>> 24) & 0x1f]!, info >>> 31 === 1)) return true;
    }
    return false;
  }

  #offsetOf(id: number): number {
    if (!(id >= 0 && id < this.#offsets.length)) throw new BtfError(`no BTF type ${id} (there are ${this.#offsets.length})`);
    return this.#offsets[id]!;
  }

  /** The ids named at any of the string offsets `at` (a few), in id order. */
  #namedAt(at: number[]): number[] {
    if (!this.#nameOffsets) {
      const names = new Uint32Array(this.#offsets.length);
      const w = this.#w;
      const offsets = this.#offsets;
      for (let id = 1; id < offsets.length; id++) names[id] = w[offsets[id]! / 4]!;
      this.#nameOffsets = names;
    }
    const names = this.#nameOffsets;
    const ids: number[] = [];
    if (at.length === 1) {
      const off = at[0]!;
      for (let id = 1; id < names.length; id++) if (names[id] === off) ids.push(id);
    } else if (at.length > 1) {
      const set = new Set(at);
      for (let id = 1; id < names.length; id++) if (set.has(names[id]!)) ids.push(id);
    }
    return ids;
  }

  type(id: number): BtfType {
    const cached = this.#cache[id];
    if (cached) return cached;
    const t = this.#decode(id, this.#offsetOf(id));
    this.#cache[id] = t;
    return t;
  }

  #decode(id: number, o: number): BtfType {
    const d = this.#typeSection;
    const str = (off: number) => nameAt(this.strings, off);
    const recordOffset = o;
    const name = str(d.readUInt32LE(o));
    const info = d.readUInt32LE(o + 4);
    const sizeOrType = d.readUInt32LE(o + 8);
    o += 12;
    const vlen = info & 0xffff;
    const kindFlag = (info >>> 31) === 1;
    const kind = KIND_NAMES[(info >>> 24) & 0x1f]!;
    const t: BtfType = { id, kind, name, kindFlag, recordOffset };
    switch (kind) {
      case 'INT': {
        const v = d.readUInt32LE(o);
        const enc = (v >>> 24) & 0xf;
        t.size = sizeOrType;
        t.int = { signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0, bitOffset: (v >>> 16) & 0xff, bits: v & 0xff };
        break;
      }
      case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'FUNC': case 'TYPE_TAG':
        t.type = sizeOrType;
        if (kind === 'FUNC') t.linkage = vlen;
        break;
      case 'FWD': break;
      case 'FLOAT': t.size = sizeOrType; break;
      case 'ARRAY':
        t.array = { type: d.readUInt32LE(o), indexType: d.readUInt32LE(o + 4), nelems: d.readUInt32LE(o + 8) };
        break;
      case 'STRUCT': case 'UNION':
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = d.readUInt32LE(o + 8);
          t.members.push({
            name: str(d.readUInt32LE(o)), type: d.readUInt32LE(o + 4),
            bitOffset: kindFlag ? off & 0xffffff : off, bitfieldSize: kindFlag ? off >>> 24 : 0,
          });
        }
        break;
      case 'ENUM':
        t.size = sizeOrType;
        t.values = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          t.values.push({ name: str(d.readUInt32LE(o)), value: kindFlag ? BigInt(d.readInt32LE(o + 4)) : BigInt(d.readUInt32LE(o + 4)) });
        }
        break;
      case 'ENUM64':
        t.size = sizeOrType;
        t.values = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const v = (BigInt(d.readUInt32LE(o + 8)) << 32n) | BigInt(d.readUInt32LE(o + 4));
          t.values.push({ name: str(d.readUInt32LE(o)), value: kindFlag ? BigInt.asIntN(64, v) : v });
        }
        break;
      case 'FUNC_PROTO':
        t.type = sizeOrType;
        t.params = [];
        for (let i = 0; i < vlen; i++, o += 8) t.params.push({ name: str(d.readUInt32LE(o)), type: d.readUInt32LE(o + 4) });
        break;
      case 'VAR':
        t.type = sizeOrType;
        t.linkage = d.readUInt32LE(o);
        break;
      case 'DATASEC':
        t.size = sizeOrType;
        t.secinfos = [];
        for (let i = 0; i < vlen; i++, o += 12) t.secinfos.push({ type: d.readUInt32LE(o), offset: d.readUInt32LE(o + 4), size: d.readUInt32LE(o + 8) });
        break;
      case 'DECL_TAG':
        t.type = sizeOrType;
        break;
      default: break;
    }
    return t;
  }

  /** Ids of every type named `name`, optionally of one kind. */
  idsByName(name: string, kind?: BtfKindName): number[] {
    let ids = this.#byName.get(name);
    if (!ids) {
      ids = name ? this.idsWithNamePrefix(name).filter((id) => this.type(id).name === name) : [];
      this.#byName.set(name, ids);
    }
    return kind ? ids.filter((id) => this.kindOf(id) === kind) : ids;
  }

  /**
   * Ids of the types whose names start with `prefix` (a non-empty string), in id order: matches in
   * the string section, then the types named at those offsets (an offset may point into the middle
   * of a longer string, so every match counts, not only those after a NUL).
   */
  idsWithNamePrefix(prefix: string): number[] {
    const needle = Buffer.from(prefix, 'latin1');
    const sorted = this.#idsSortedByName;
    if (sorted) {
      const names = this.#nameOffsets!;
      const strings = this.strings;
      // The name's first bytes against the prefix (a shorter name ends in NUL, which sorts first).
      const cmp = (id: number) => { const off = names[id]!; return strings.compare(needle, 0, needle.length, off, Math.min(off + needle.length, strings.length)); };
      let lo = 0, hi = sorted.length;
      while (lo < hi) { const mid = (lo + hi) >>> 1; if (cmp(sorted[mid]!) < 0) lo = mid + 1; else hi = mid; }
      const ids: number[] = [];
      for (let k = lo; k < sorted.length && cmp(sorted[k]!) === 0; k++) ids.push(sorted[k]!);
      return ids.sort((x, y) => x - y);
    }
    // A name that starts with the prefix has its offset where a match begins.
    const at: number[] = [];
    for (let i = this.strings.indexOf(needle); i >= 0; i = this.strings.indexOf(needle, i + 1)) at.push(i);
    return this.#namedAt(at);
  }

  /** The one type of that name (and kind); throws naming the choices when there is none. */
  typeByName(name: string, kind?: BtfKindName): BtfType {
    const ids = this.idsByName(name, kind);
    if (ids.length === 0) throw new BtfError(`no BTF type ${kind ? `${kind} ` : ''}${name}`);
    return this.type(ids[0]!);
  }

  /** Skip typedefs and modifiers (const, volatile, restrict, type tags). */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let depth = 0; depth < 64; depth++) {
      if (t.kind !== 'TYPEDEF' && t.kind !== 'VOLATILE' && t.kind !== 'CONST' && t.kind !== 'RESTRICT' && t.kind !== 'TYPE_TAG') return t;
      t = this.type(t.type!);
    }
    throw new BtfError(`type ${id}: typedef chain too deep (a loop?)`);
  }

  /** Size in bytes of a type as C's sizeof would say. */
  sizeOf(id: number): number {
    for (let depth = 0; depth < 64; depth++) {
      const t = this.resolve(id);
      if (t.kind === 'PTR') return 8;
      if (t.kind === 'ARRAY') {
        const n = t.array!.nelems;
        return n === 0 ? 0 : n * this.sizeOf(t.array!.type);
      }
      if (t.kind === 'VAR') { id = t.type!; continue; }
      if (t.size !== undefined) return t.size;
      throw new BtfError(`type ${id} (${t.kind} ${t.name}) has no size`);
    }
    throw new BtfError(`type ${id}: nesting too deep`);
  }

  /** A C-like name: "struct task_struct", "u32", "char[16]", "int *". */
  typeName(id: number): string {
    const t = this.type(id);
    switch (t.kind) {
      case 'UNKN': return 'void';
      case 'STRUCT': case 'UNION': case 'ENUM': case 'ENUM64': return `${t.kind === 'ENUM64' ? 'enum' : t.kind.toLowerCase()} ${t.name || '(anon)'}`;
      case 'PTR': return `${this.typeName(t.type!)} *`;
      case 'ARRAY': return `${this.typeName(t.array!.type)}[${t.array!.nelems}]`;
      case 'CONST': case 'VOLATILE': case 'RESTRICT': return `${t.kind.toLowerCase()} ${this.typeName(t.type!)}`;
      case 'TYPE_TAG': return this.typeName(t.type!);
      default: return t.name || `(anon ${t.kind.toLowerCase()})`;
    }
  }
}

export const VMLINUX_PATH = '/sys/kernel/btf/vmlinux';
/** Where root keeps the running kernel's BTF with its index, for this boot (Btf.kernel). */
export const KERNEL_BTF_CACHE_DIR = process.env.SYSWARD_BTF_CACHE_DIR ?? '/run/sysward/btf';
const CACHE_MAGIC = 'SWBTFIX2';
let kernelBtf: Btf | undefined;
