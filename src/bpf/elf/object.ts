// An ELF object built by clang -target bpf, read into a kernel-independent specification: programs
// (typed by their SEC() name, with bpf-to-bpf callees linked in), maps (BTF-defined in .maps, with
// the inner definition and initial values of maps of maps and program arrays, and global data as
// single-entry arrays), license, and the relocations that need kernel objects.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Btf, BtfError } from '../btf/btf.js';
import { parseBtfExt, type BtfExt, type CoreRelo } from '../btf/ext.js';
import { MapFlag, MapType } from '../sys/abi.js';
import type { MapSlot, MapTypeName } from '../map.js';
import type { AttachTypeName, FuncInfoRecord, LineInfoRecord, ProgTypeName } from '../prog.js';
import { ElfError, ElfFile, SHF, SHT, STB, STT, STV, type ElfRelocation, type ElfSection } from './elf.js';
import { collectExterns, sanitizeExternBtf, type ExternSpec } from './externs.js';
import { matchSection, type SectionDef } from './sections.js';

const R_BPF_64_64 = 1;
const R_BPF_64_ABS64 = 2;
const R_BPF_64_32 = 10;
const INSN = 8;
const OP_LD_IMM64 = 0x18;
const OP_CALL = 0x85;
const PSEUDO_CALL = 1;
const PSEUDO_FUNC = 4;
const BTF_FUNC_STATIC = 0;
const BTF_FUNC_GLOBAL = 1;
/** A slot of `values` is a BPF pointer, whatever the host's. */
const SLOT_BYTES = 8;
const MAP_IN_MAP = new Set<MapTypeName>(['ARRAY_OF_MAPS', 'HASH_OF_MAPS']);

/** A load-time fix of one instruction: the kernel object's fd (or a value address) goes in. */
export type InsnRelocation =
  | { insn: number; kind: 'map'; map: string }
  | { insn: number; kind: 'data'; map: string; offset: number }
  /** A __ksym extern: a 64-bit load of its address or BTF id, or a kfunc call. */
  | { insn: number; kind: 'extern'; extern: string };

/** A CO-RE relocation at an instruction of the linked program. */
export interface ProgramCoreRelo extends Omit<CoreRelo, 'insnOffset'> { insn: number }

export interface ProgramObjectSpec {
  /** The C function's name. */
  name: string;
  section: string;
  type: ProgTypeName;
  expectedAttachType?: AttachTypeName;
  /** What follows the SEC() prefix: "sys_enter", "socket_create", "irq/softirq_entry". */
  attachTarget: string;
  def: SectionDef;
  license: string;
  /** Linked: the function, then any subprograms it calls. Relocations not yet applied. */
  instructions: Buffer;
  relocations: InsnRelocation[];
  /** Instruction indexes, sorted; for PROG_LOAD with the object's BTF. */
  funcInfo: FuncInfoRecord[];
  lineInfo: LineInfoRecord[];
  coreRelos: ProgramCoreRelo[];
}

export interface MapObjectSpec {
  name: string;
  type: MapTypeName;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** BTF ids in the object's BTF (0: none). */
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** Global data: the section it holds, its initial value, and whether it is frozen after load (.rodata). */
  section?: string;
  data?: Buffer;
  freeze?: boolean;
  /** LIBBPF_PIN_BY_NAME (1) in the map definition. */
  pinByName?: boolean;
  /**
   * Maps of maps: the inner maps' definition (`__array(values, struct …)`), named OUTER.inner. The
   * loader creates it as the template the kernel checks every inner map against (inner_map_fd).
   */
  inner?: MapObjectSpec;
  /** Initial values (`.values = { [0] = &m }`), by slot: filled in by the loader. */
  slots?: MapSlot[];
}

/** Slot `index` of a map of maps or a program array holds that map's or program's fd once loaded. */
export type { MapSlot };

export interface VariableSpec { name: string; map: string; offset: number; size: number; typeId: number; readOnly: boolean }

export class ObjectSpec {
  constructor(
    readonly name: string,
    readonly license: string,
    readonly programs: ProgramObjectSpec[],
    readonly maps: MapObjectSpec[],
    readonly variables: Map<string, VariableSpec>,
    /** The object's BTF with section sizes and variable offsets filled in, ready for BTF_LOAD. */
    readonly btf: Btf | undefined,
    readonly btfExt: BtfExt | undefined,
    /** What the loader fills in from the running kernel (__kconfig, __ksym). */
    readonly externs: ExternSpec[] = [],
  ) {}

  program(name: string): ProgramObjectSpec {
    const p = this.programs.find((x) => x.name === name);
    if (!p) throw new Error(`${this.name} has no program ${name}; it has ${this.programs.map((x) => x.name).join(', ') || 'none'}`);
    return p;
  }

  map(name: string): MapObjectSpec {
    const m = this.maps.find((x) => x.name === name);
    if (!m) throw new Error(`${this.name} has no map ${name}; it has ${this.maps.map((x) => x.name).join(', ') || 'none'}`);
    return m;
  }

  /**
   * Set a global variable before load (libbpf's skeleton `rodata->x = …`): `const volatile` ones in
   * .rodata are frozen once loaded, so this is the only time they can change.
   */
  setVariable(name: string, value: Buffer | number | bigint | string): void {
    const v = this.variables.get(name);
    if (!v) throw new Error(`${this.name} has no global variable ${name}; it has ${[...this.variables.keys()].join(', ') || 'none'}`);
    if (this.externs.some((e) => e.name === name)) throw new Error(`${name} is a __kconfig extern: the loader sets it from the kernel's configuration`);
    let bytes: Buffer;
    if (Buffer.isBuffer(value)) bytes = value;
    else if (typeof value === 'string') bytes = Buffer.from(value);
    else {
      bytes = Buffer.alloc(v.size);
      const n = BigInt(value);
      for (let i = 0; i < v.size; i++) bytes[i] = Number((n >> BigInt(8 * i)) & 0xffn);
    }
    if (bytes.length > v.size) throw new RangeError(`${name} is ${v.size} bytes; ${bytes.length} do not fit`);
    const data = this.map(v.map).data!;
    data.fill(0, v.offset, v.offset + v.size);
    bytes.copy(data, v.offset);
  }
}

/** Read an object file (see parseObject). */
export function readObject(path: string): ObjectSpec {
  return parseObject(readFileSync(path), basename(path));
}

/** Parse a BPF ELF object. Malformed input throws ElfError (BTF problems included), nothing else. */
export function parseObject(bytes: Buffer, name = 'object.o'): ObjectSpec {
  try {
    return new ObjectParser(ElfFile.parse(bytes, name), name).parse();
  } catch (e) {
    if (e instanceof ElfError) throw e;
    if (e instanceof BtfError) throw new ElfError(name, e.message);
    // A bounds slip in a corrupt file must still read as "this file is bad".
    if (e instanceof RangeError) throw new ElfError(name, `malformed (${e.message})`);
    throw e;
  }
}

const isDataSection = (s: ElfSection) =>
  (s.flags & SHF.ALLOC) !== 0 && (s.flags & SHF.EXECINSTR) === 0 && (s.type === SHT.PROGBITS || s.type === SHT.NOBITS) &&
  /^\.(rodata|data|bss)(\.|$)/.test(s.name);

/**
 * libbpf's name for a global-data map (internal_map_name): the object's name up to its first dot
 * ("externs" for externs.bpf.o), cut to leave room for a suffix of at least 7 characters, then the
 * section name ("externs.kconfig", "callback.bss", "my_objec.rodata"); a section with a second dot
 * (".rodata.str1.1", ".data.counters") is named by itself alone. Cut to the kernel's 15
 * characters and sanitized.
 */
export function internalMapName(objectFile: string, section: string): string {
  const object = objectFile.split('.')[0]!;
  const suffix = Math.min(15, Math.max(7, section.length));
  const prefix = section.indexOf('.', 1) > 0 ? 0 : Math.min(15 - suffix, object.length);
  return `${object.slice(0, prefix)}${section.slice(0, suffix)}`.replace(/[^A-Za-z0-9_.]/g, '_');
}

class ObjectParser {
  #btf?: Btf;
  #ext?: BtfExt;
  readonly #maps: MapObjectSpec[] = [];
  /** Map name by "section index:symbol offset" for .maps, and by section index for global data. */
  readonly #mapAt = new Map<string, string>();
  readonly #dataMap = new Map<number, string>();
  readonly #variables = new Map<string, VariableSpec>();
  #externs: ExternSpec[] = [];
  #kconfigMap?: string;
  /** Functions of .text (subprograms), and relocations by instruction, read once for every program. */
  readonly #functions = new Map<number, { from: number; count: number; name: string }[]>();
  readonly #relocsByOffset = new Map<number, Map<number, ElfRelocation>>();

  constructor(readonly elf: ElfFile, readonly name: string) {}

  fail(what: string): never { this.elf.fail(what); }

  parse(): ObjectSpec {
    const license = this.#license();
    this.#readBtf();
    const { externs, kconfigSize } = collectExterns(this.elf, this.#btf, (m) => this.fail(m));
    this.#externs = externs;
    if (this.#btf) this.#btf = sanitizeExternBtf(this.#btf, externs, kconfigSize);
    this.#markHiddenSubprogramsStatic();
    this.#readMaps();
    this.#readGlobalData(kconfigSize);
    const programs = this.#readPrograms(license);
    for (const m of this.#maps) {
      for (const s of m.slots ?? []) {
        if (s.kind === 'program' && !programs.some((p) => p.name === s.target)) {
          this.fail(`slot ${s.index} of ${m.type} map ${m.name} points to ${s.target}, which is not a program (a global function in a SEC() section; .text holds subprograms)`);
        }
      }
    }
    return new ObjectSpec(this.name, license, programs, this.#maps, this.#variables, this.#btf, this.#ext, externs);
  }

  #license(): string {
    const s = this.elf.section('license');
    if (!s) return ''; // the kernel treats a missing license as proprietary: no GPL-only helpers
    const end = s.data.indexOf(0);
    return s.data.toString('latin1', 0, end < 0 ? s.data.length : end);
  }

  #readBtf(): void {
    const s = this.elf.section('.BTF');
    if (!s) return;
    // clang leaves DATASEC sizes and variable offsets for the loader (libbpf's btf_fixup_datasec).
    const fixed = Buffer.from(s.data);
    const btf = Btf.parse(fixed, '.BTF');
    for (const t of btf.types) {
      if (t.kind !== 'DATASEC') continue;
      const sec = this.elf.section(t.name);
      if (!sec) continue;
      const rec = btf.typesOffset + t.recordOffset;
      fixed.writeUInt32LE(sec.size, rec + 8);
      t.size = sec.size;
      t.secinfos!.forEach((si, i) => {
        const varName = btf.type(si.type).name;
        const sym = this.elf.symbols.find((y) => y.section === sec.index && y.name === varName && y.type === STT.OBJECT);
        if (!sym) return;
        fixed.writeUInt32LE(sym.value, rec + 12 + i * 12 + 4);
        si.offset = sym.value;
      });
    }
    this.#btf = btf;
    const e = this.elf.section('.BTF.ext');
    if (e) this.#ext = parseBtfExt(e.data, btf, '.BTF.ext');
  }

  /**
   * A global function of .text that is __hidden (libbpf's usdt.bpf.h, bpf_helpers' __hidden) is a
   * subprogram no one outside the object can call: libbpf marks its BTF static so the verifier
   * checks it in its caller's context, not alone against its declared argument types (a global
   * function's pointer arguments may be NULL, which its body need not check when only its callers
   * pass them). Done in place on the object's BTF bytes, as libbpf's bpf_object__sanitize_btf.
   */
  #markHiddenSubprogramsStatic(): void {
    const btf = this.#btf;
    const text = this.elf.section('.text');
    if (!btf || !text) return;
    for (const y of this.elf.symbols) {
      if (y.section !== text.index || y.type !== STT.FUNC || y.bind === STB.LOCAL) continue;
      if (y.visibility !== STV.HIDDEN && y.visibility !== STV.INTERNAL) continue;
      for (const id of btf.idsByName(y.name, 'FUNC')) {
        const t = btf.type(id);
        if (t.linkage !== BTF_FUNC_GLOBAL) continue;
        const at = btf.typesOffset + t.recordOffset + 4;
        btf.bytes.writeUInt32LE(btf.bytes.readUInt32LE(at) & ~0xffff, at); // vlen holds a FUNC's linkage
        t.linkage = BTF_FUNC_STATIC;
      }
    }
  }

  #readMaps(): void {
    const sec = this.elf.section('.maps');
    if (!sec) {
      if (this.elf.section('maps')) this.fail('legacy "maps" section (struct bpf_map_def) is not supported; declare maps in SEC(".maps") with __uint/__type');
      return;
    }
    const btf = this.#btf;
    if (!btf) this.fail('.maps needs BTF to describe the maps; compile with -g');
    const ds = btf.idsByName('.maps', 'DATASEC')[0];
    if (ds === undefined) this.fail('.maps has no DATASEC in BTF; compile with -g');
    const defs: { map: MapObjectSpec; offset: number; size: number; valuesOffset?: number }[] = [];
    for (const si of btf.type(ds).secinfos!) {
      const v = btf.type(si.type);
      if (v.kind !== 'VAR') this.fail(`.maps entry ${si.type} is a ${v.kind}, not a variable`);
      const { map, valuesOffset } = this.#mapDefinition(v.name, v.type!, false);
      this.#maps.push(map);
      this.#mapAt.set(`${sec.index}:${si.offset}`, map.name);
      defs.push({ map, offset: si.offset, size: si.size, ...(valuesOffset !== undefined ? { valuesOffset } : {}) });
    }
    this.#readMapSlots(sec, defs);
  }

  /**
   * One definition of .maps (libbpf's parse_btf_map_def): a struct of __uint / __type members, and
   * for maps of maps and program arrays a last member `__array(values, …)`, a zero-length array of
   * pointers to the inner maps' definition (parsed by the same rules) or to a function prototype.
   */
  #mapDefinition(name: string, typeId: number, isInner: boolean): { map: MapObjectSpec; valuesOffset?: number } {
    const btf = this.#btf!;
    const def = btf.resolve(typeId);
    if (def.kind !== 'STRUCT') this.fail(`map ${name}: its definition is a ${def.kind}, expected a struct of __uint/__type fields`);
    const m: MapObjectSpec = { name, type: 'UNSPEC', keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, btfKeyTypeId: 0, btfValueTypeId: 0 };
    let valuesOffset: number | undefined;
    const uintOf = (member: string, type: number): number => {
      const p = btf.resolve(type);
      const a = p.kind === 'PTR' ? btf.resolve(p.type!) : undefined;
      if (!a || a.kind !== 'ARRAY') this.fail(`map ${name}: ${member} is not declared with __uint()`);
      return a.array!.nelems;
    };
    const typeOf = (member: string, type: number): number => {
      const p = btf.resolve(type);
      if (p.kind !== 'PTR') this.fail(`map ${name}: ${member} is not declared with __type()`);
      return p.type!;
    };
    const members = def.members!;
    for (const [i, mem] of members.entries()) {
      switch (mem.name) {
        case 'type': {
          const t = uintOf(mem.name, mem.type);
          const typeName = Object.entries(MapType).find(([, n]) => n === t)?.[0];
          m.type = (typeName ?? 'UNSPEC') as MapTypeName;
          if (!typeName) this.fail(`map ${name}: unknown map type ${t}`);
          break;
        }
        case 'max_entries': m.maxEntries = uintOf(mem.name, mem.type); break;
        case 'map_flags': m.flags = uintOf(mem.name, mem.type); break;
        case 'key_size': m.keySize = uintOf(mem.name, mem.type); break;
        case 'value_size': m.valueSize = uintOf(mem.name, mem.type); break;
        case 'key': m.btfKeyTypeId = typeOf(mem.name, mem.type); m.keySize = btf.sizeOf(m.btfKeyTypeId); break;
        case 'value': m.btfValueTypeId = typeOf(mem.name, mem.type); m.valueSize = btf.sizeOf(m.btfValueTypeId); break;
        case 'pinning':
          if (isInner) this.fail(`map ${name}: an inner map definition cannot be pinned; pin the maps put in the slots instead`);
          m.pinByName = uintOf(mem.name, mem.type) === 1;
          break;
        case 'numa_node': case 'map_extra': break;
        case 'values': {
          // The kernel nests maps one level: an inner map cannot itself hold maps.
          if (isInner) this.fail(`map ${name}: an inner map definition has __array(values, …) itself; maps of maps nest one level only`);
          if (i !== members.length - 1) this.fail(`map ${name}: __array(values, …) must be the last member of the definition`);
          if (m.type === 'UNSPEC') this.fail(`map ${name}: declare __uint(type, …) before __array(values, …)`);
          if (!MAP_IN_MAP.has(m.type) && m.type !== 'PROG_ARRAY') {
            this.fail(`map ${name}: __array(values, …) is for maps of maps (ARRAY_OF_MAPS, HASH_OF_MAPS) and program arrays (PROG_ARRAY), not ${m.type} maps`);
          }
          if (m.valueSize && m.valueSize !== 4) this.fail(`map ${name}: value size ${m.valueSize} conflicts with __array(values, …), whose slots hold 4-byte fds`);
          m.valueSize = 4;
          const what = m.type === 'PROG_ARRAY' ? 'int (void *)' : 'struct { … }';
          const a = btf.resolve(mem.type);
          if (a.kind !== 'ARRAY' || a.array!.nelems !== 0) this.fail(`map ${name}: values is not declared with __array(values, ${what}) (a zero-length array)`);
          const p = btf.resolve(a.array!.type);
          if (p.kind !== 'PTR') this.fail(`map ${name}: values holds ${p.kind}s, not pointers; declare it with __array(values, ${what})`);
          if (mem.bitOffset % 8) this.fail(`map ${name}: values is not byte-aligned`);
          valuesOffset = mem.bitOffset / 8;
          const target = btf.resolve(p.type!);
          if (m.type === 'PROG_ARRAY') {
            if (target.kind !== 'FUNC_PROTO') this.fail(`map ${name}: a program array's values point to a ${target.kind}, not a function; declare it with __array(values, int (void *))`);
            break;
          }
          if (target.kind !== 'STRUCT') this.fail(`map ${name}: the inner map definition is a ${target.kind}, not a struct; declare it with __array(values, struct { __uint(type, …); … })`);
          m.inner = this.#mapDefinition(`${name}.inner`, p.type!, true).map;
          if (MAP_IN_MAP.has(m.inner.type)) this.fail(`map ${name}: its inner maps are ${m.inner.type} maps; maps of maps nest one level only`);
          break;
        }
        default: this.fail(`map ${name}: unknown definition field ${mem.name}`);
      }
    }
    if (m.type === 'UNSPEC') this.fail(`map ${name} has no type; add __uint(type, BPF_MAP_TYPE_…)`);
    return { map: m, ...(valuesOffset !== undefined ? { valuesOffset } : {}) };
  }

  /**
   * Initial values of maps of maps and program arrays (libbpf's bpf_object__collect_map_relos): clang
   * leaves `.values = { [2] = &m }` as a 64-bit relocation in .rel.maps at the slot's offset, against
   * the symbol of the map or program. Program slots are checked against the programs once read.
   */
  #readMapSlots(sec: ElfSection, defs: { map: MapObjectSpec; offset: number; size: number; valuesOffset?: number }[]): void {
    for (const r of this.elf.relocations.get(sec.index) ?? []) {
      const sym = r.symbol;
      const where = `.maps+${r.offset} (${sym.name || 'a section symbol'})`;
      const d = defs.find((x) => x.offset <= r.offset && r.offset + SLOT_BYTES <= x.offset + x.size);
      if (!d) this.fail(`${where}: a relocation outside every map definition`);
      const m = d.map;
      if (d.valuesOffset === undefined) this.fail(`${where}: map ${m.name} has no __array(values, …), so nothing in it can point to ${sym.name || 'a symbol'}`);
      if (r.type !== R_BPF_64_ABS64) this.fail(`${where}: a relocation of type ${r.type} in map ${m.name}; slots are 64-bit addresses (R_BPF_64_ABS64)`);
      const at = r.offset - d.offset - d.valuesOffset;
      if (at < 0 || at % SLOT_BYTES) this.fail(`${where}: not on a slot of map ${m.name}'s values`);
      const index = at / SLOT_BYTES;
      const slot = `slot ${index} of ${m.type} map ${m.name}`;
      let s: MapSlot;
      if (m.type === 'PROG_ARRAY') {
        const tsec = this.elf.sections[sym.section];
        const isFunc = sym.type === STT.FUNC && tsec !== undefined && (tsec.flags & SHF.EXECINSTR) !== 0;
        if (!isFunc) this.fail(`${slot} points to ${sym.name || 'a symbol'}, which is not a program (a function in a SEC() section)`);
        s = { index, kind: 'program', target: sym.name };
      } else {
        const target = sym.section === sec.index ? this.#mapAt.get(`${sec.index}:${sym.value}`) : undefined;
        if (!target) this.fail(`${slot} points to ${sym.name || 'a symbol'}, which is not a map declared in SEC(".maps")`);
        this.#checkInnerMap(m, this.#maps.find((x) => x.name === target)!, slot);
        s = { index, kind: 'map', target };
      }
      // The slot index is the key: an array's index, or a hash map's 4-byte key (libbpf's rule).
      if (m.keySize !== 4) this.fail(`${slot}: initial values need 4-byte keys (the slot index); the map's key is ${m.keySize} bytes`);
      if (m.type !== 'HASH_OF_MAPS' && index >= m.maxEntries) this.fail(`${slot} is past the map's max_entries (${m.maxEntries})`);
      const slots = (m.slots ??= []);
      const i = slots.findIndex((x) => x.index === index);
      if (i >= 0) slots[i] = s; else slots.push(s);
      slots.sort((a, b) => a.index - b.index);
      if (slots.length > m.maxEntries) this.fail(`map ${m.name}: ${slots.length} initial values do not fit its max_entries (${m.maxEntries})`);
    }
  }

  /** What the kernel's bpf_map_meta_equal checks when an inner map goes into a slot, said before load. */
  #checkInnerMap(outer: MapObjectSpec, inner: MapObjectSpec, slot: string): void {
    const t = outer.inner!;
    if (inner.name === outer.name || MAP_IN_MAP.has(inner.type)) this.fail(`${slot} points to map ${inner.name}, a map of maps; maps of maps nest one level only`);
    const differ: string[] = [];
    if (inner.type !== t.type) differ.push(`type ${inner.type}, expected ${t.type}`);
    if (inner.keySize !== t.keySize) differ.push(`key size ${inner.keySize}, expected ${t.keySize}`);
    if (inner.valueSize !== t.valueSize) differ.push(`value size ${inner.valueSize}, expected ${t.valueSize}`);
    if (inner.flags !== t.flags) differ.push(`map_flags 0x${inner.flags.toString(16)}, expected 0x${t.flags.toString(16)}`);
    // Arrays inline lookups by size: theirs must match unless the template says BPF_F_INNER_MAP (Linux 5.10).
    if (t.type === 'ARRAY' && !(t.flags & MapFlag.F_INNER_MAP) && inner.maxEntries !== t.maxEntries) {
      differ.push(`max_entries ${inner.maxEntries}, expected ${t.maxEntries} (or set BPF_F_INNER_MAP in the inner definition's map_flags)`);
    }
    if (differ.length) this.fail(`${slot} points to map ${inner.name}, which does not match the inner map definition: ${differ.join('; ')}`);
  }

  #readGlobalData(kconfigSize: number): void {
    if (kconfigSize > 0) {
      // libbpf's .kconfig map: read-only to programs, filled from the kernel's configuration at load, frozen.
      const name = internalMapName(this.name, '.kconfig');
      const ds = this.#btf?.idsByName('.kconfig', 'DATASEC')[0];
      this.#maps.push({
        name, type: 'ARRAY', keySize: 4, valueSize: kconfigSize, maxEntries: 1, flags: MapFlag.F_RDONLY_PROG | MapFlag.F_MMAPABLE,
        btfKeyTypeId: 0, btfValueTypeId: ds ?? 0, section: '.kconfig', data: Buffer.alloc(kconfigSize), freeze: true,
      });
      this.#kconfigMap = name;
      for (const e of this.#externs) {
        if (e.kconfig) this.#variables.set(e.name, { name: e.name, map: name, offset: e.kconfig.offset, size: e.kconfig.size, typeId: e.typeId, readOnly: true });
      }
    }
    for (const s of this.elf.sections.filter(isDataSection)) {
      if (s.size === 0) continue;
      const name = internalMapName(this.name, s.name);
      const readOnly = s.name.startsWith('.rodata');
      const ds = this.#btf?.idsByName(s.name, 'DATASEC')[0];
      // Mappable where libbpf makes it so (map_is_mmapable, Linux 5.5): the section holds a
      // non-static variable, one a skeleton would show. String literals (.rodata.str1.1) and
      // static-only sections are not.
      const mappable = ds !== undefined && this.#btf!.type(ds).secinfos!.some((si) => { const v = this.#btf!.type(si.type); return v.kind === 'VAR' && v.linkage !== 0; });
      this.#maps.push({
        name, type: 'ARRAY', keySize: 4, valueSize: s.size, maxEntries: 1,
        flags: (readOnly ? MapFlag.F_RDONLY_PROG : 0) | (mappable ? MapFlag.F_MMAPABLE : 0), btfKeyTypeId: 0, btfValueTypeId: ds ?? 0,
        section: s.name, data: Buffer.from(s.data), freeze: readOnly,
      });
      this.#dataMap.set(s.index, name);
      for (const sym of this.elf.symbols) {
        if (sym.section !== s.index || sym.type !== STT.OBJECT || !sym.name) continue;
        if (sym.value + sym.size > s.size) this.fail(`variable ${sym.name} (${sym.size} bytes at ${sym.value}) lies outside ${s.name} (${s.size} bytes)`);
        const si = ds !== undefined ? this.#btf!.type(ds).secinfos!.find((x) => this.#btf!.type(x.type).name === sym.name) : undefined;
        this.#variables.set(sym.name, { name: sym.name, map: name, offset: sym.value, size: sym.size, typeId: si ? this.#btf!.type(si.type).type! : 0, readOnly });
      }
    }
  }

  #readPrograms(license: string): ProgramObjectSpec[] {
    const out: ProgramObjectSpec[] = [];
    for (const s of this.elf.sections) {
      if (s.type !== SHT.PROGBITS || (s.flags & SHF.EXECINSTR) === 0 || s.name === '.text' || s.size === 0) continue;
      const m = matchSection(s.name);
      if (!m) this.fail(`section ${s.name}: not a program section libbpf knows (e.g. cgroup/sysctl, raw_tp/NAME, lsm/HOOK, kprobe/FUNC)`);
      if (s.size % INSN) this.fail(`section ${s.name}: ${s.size} bytes is not a whole number of instructions`);
      const funcs = this.elf.symbols.filter((y) => y.section === s.index && y.type === STT.FUNC && y.bind === STB.GLOBAL);
      if (funcs.length === 0) this.fail(`section ${s.name} has no global function symbol`);
      for (const f of funcs) {
        if (f.value % INSN || f.size % INSN || f.size === 0 || f.value + f.size > s.size) this.fail(`function ${f.name} (${f.size} bytes at ${f.value}) does not lie on instructions of ${s.name}`);
        out.push(this.#link(s, f.name, f.value / INSN, f.size / INSN, m.def, m.target, license));
      }
    }
    return out;
  }

  /**
   * The functions of a code section other than programs' own (.text): [start, count) in
   * instructions, by start. A section without function symbols (hand-written) is one function.
   */
  #functionsOf(section: ElfSection): { from: number; count: number; name: string }[] {
    let fs = this.#functions.get(section.index);
    if (fs) return fs;
    if (section.size % INSN) this.fail(`section ${section.name} is not a whole number of instructions`);
    fs = this.elf.symbols
      .filter((y) => y.section === section.index && y.type === STT.FUNC && y.size > 0)
      .map((y) => {
        if (y.value % INSN || y.size % INSN || y.value + y.size > section.size) this.fail(`function ${y.name} (${y.size} bytes at ${y.value}) does not lie on instructions of ${section.name}`);
        return { from: y.value / INSN, count: y.size / INSN, name: y.name };
      })
      .sort((x, y) => x.from - y.from);
    if (fs.length === 0) fs = [{ from: 0, count: section.size / INSN, name: section.name }];
    this.#functions.set(section.index, fs);
    return fs;
  }

  /**
   * The function, then each function of .text it reaches (by call or by address, transitively),
   * laid end to end and calls fixed to the new layout. As libbpf's bpf_object__reloc_code: a
   * function is appended at the first instruction that reaches it, and what it reaches follows at
   * once (depth first), so the layout, and the kernel's func_info, match what libbpf loads.
   */
  #link(sec: ElfSection, name: string, start: number, count: number, def: SectionDef, target: string, license: string): ProgramObjectSpec {
    interface Piece { section: ElfSection; from: number; count: number; base: number }
    const pieces: Piece[] = [];
    const chunks: Buffer[] = [];
    let total = 0;
    const relocations: InsnRelocation[] = [];
    const relocsAt = (section: ElfSection): Map<number, ElfRelocation> => {
      let m = this.#relocsByOffset.get(section.index);
      if (!m) {
        m = new Map();
        for (const r of this.elf.relocations.get(section.index) ?? []) {
          if (r.offset % INSN) this.fail(`relocation at ${r.offset} in ${section.name} is not on an instruction`);
          m.set(r.offset / INSN, r);
        }
        this.#relocsByOffset.set(section.index, m);
      }
      return m;
    };
    const place = (section: ElfSection, from: number, n: number): Piece => {
      const p: Piece = { section, from, count: n, base: total };
      const local = Buffer.from(section.data.subarray(from * INSN, (from + n) * INSN));
      pieces.push(p);
      chunks.push(local);
      total += n;
      fix(p, local);
      return p;
    };
    const pieceFor = (section: ElfSection, insn: number, where: string): Piece => {
      const p = pieces.find((x) => x.section === section && insn >= x.from && insn < x.from + x.count);
      if (p) return p;
      if (section === sec) this.fail(`${name}: calls a function in its own section ${sec.name} outside itself; put subprograms in .text (static functions)`);
      const f = this.#functionsOf(section).find((x) => insn >= x.from && insn < x.from + x.count);
      if (!f) this.fail(`${where}: instruction ${insn} of ${section.name} lies in no function`);
      if (insn !== f.from) this.fail(`${where}: reaches instruction ${insn} of ${section.name}, inside function ${f.name} rather than at its start`);
      return place(section, f.from, f.count);
    };
    const fix = (p: Piece, local: Buffer): void => {
      const relos = relocsAt(p.section);
      for (let i = 0; i < p.count; i++) {
        const r = relos.get(p.from + i);
        const code = local[i * INSN]!;
        const imm = local.readInt32LE(i * INSN + 4);
        if (!r) {
          // A call without relocation is relative inside its own section.
          if (code !== OP_CALL || (local[i * INSN + 1]! >> 4) !== PSEUDO_CALL) continue;
          const targetInsn = p.from + i + imm + 1;
          if (p.section === sec) {
            if (targetInsn < p.from || targetInsn >= p.from + p.count) this.fail(`${name}: calls instruction ${targetInsn} of ${sec.name}, outside itself; put subprograms in .text`);
            continue;
          }
          if (targetInsn < 0 || targetInsn >= p.section.size / INSN) this.fail(`${p.section.name}: call without relocation leaves the section`);
          const tp = pieceFor(p.section, targetInsn, `${p.section.name}+${(p.from + i) * INSN}`);
          local.writeInt32LE(tp.base + (targetInsn - tp.from) - (p.base + i + 1), i * INSN + 4);
          continue;
        }
        const sym = r.symbol;
        const where = `${p.section.name}+${r.offset} (${sym.name || 'section symbol'})`;
        const ext = sym.section === 0 ? this.#externs.find((e) => e.name === sym.name) : undefined;
        if (sym.section === 0 && !ext) this.fail(`${where}: ${sym.name || 'a symbol'} is undefined and not a __kconfig or __ksym extern`);
        if (code === OP_CALL && ext) {
          if (ext.kind !== 'kfunc') this.fail(`${where}: calls ${ext.name}, which is declared as a variable, not a function`);
          relocations.push({ insn: p.base + i, kind: 'extern', extern: ext.name });
          continue;
        }
        if (code === OP_CALL && (local[i * INSN + 1]! >> 4) === PSEUDO_CALL) {
          if (r.type !== R_BPF_64_32 && r.type !== R_BPF_64_64) this.fail(`${where}: call relocation of unexpected type ${r.type}`);
          const tsec = this.elf.sections[sym.section];
          if (!tsec || (tsec.flags & SHF.EXECINSTR) === 0) this.fail(`${where}: call to ${sym.name || 'a symbol'} outside any code section`);
          if (sym.value % INSN) this.fail(`${where}: call target is not on an instruction`);
          const targetInsn = sym.value / INSN + imm + 1;
          if (targetInsn < 0 || targetInsn >= tsec.size / INSN) this.fail(`${where}: call target ${targetInsn} lies outside ${tsec.name}`);
          const tp = pieceFor(tsec, targetInsn, where);
          local.writeInt32LE(tp.base + (targetInsn - tp.from) - (p.base + i + 1), i * INSN + 4);
          continue;
        }
        if (code !== OP_LD_IMM64) this.fail(`${where}: relocation on an instruction (opcode 0x${code.toString(16)}) that is neither a call nor a 64-bit load`);
        if (i + 1 >= p.count) this.fail(`${where}: 64-bit load at the end of the code`);
        if (ext?.kconfig) { relocations.push({ insn: p.base + i, kind: 'data', map: this.#kconfigMap!, offset: ext.kconfig.offset + imm }); continue; }
        if (ext) { relocations.push({ insn: p.base + i, kind: 'extern', extern: ext.name }); continue; }
        const mapName = this.#mapAt.get(`${sym.section}:${sym.value}`) ?? this.#mapAt.get(`${sym.section}:${sym.value + imm}`);
        if (mapName) { relocations.push({ insn: p.base + i, kind: 'map', map: mapName }); continue; }
        const dataName = this.#dataMap.get(sym.section);
        if (dataName) { relocations.push({ insn: p.base + i, kind: 'data', map: dataName, offset: sym.value + imm }); continue; }
        const tsec = this.elf.sections[sym.section];
        if (tsec && (tsec.flags & SHF.EXECINSTR)) {
          // A function's address: a callback for bpf_loop, bpf_for_each_map_elem, timers. The
          // kernel takes it as BPF_PSEUDO_FUNC with the callee's offset, like a bpf-to-bpf call.
          const byteOffset = sym.value + imm;
          if (byteOffset % INSN || byteOffset < 0 || byteOffset >= tsec.size) this.fail(`${where}: function address ${byteOffset} is not an instruction of ${tsec.name}`);
          const tp = pieceFor(tsec, byteOffset / INSN, where);
          local[i * INSN + 1] = (local[i * INSN + 1]! & 0x0f) | (PSEUDO_FUNC << 4);
          local.writeInt32LE(tp.base + (byteOffset / INSN - tp.from) - (p.base + i + 1), i * INSN + 4);
          local.writeInt32LE(0, i * INSN + 12);
          continue;
        }
        this.fail(`${where}: refers to section ${tsec?.name ?? sym.section}, which holds no map or global data`);
      }
    };
    place(sec, start, count);
    relocations.sort((a, b) => a.insn - b.insn);
    const out = Buffer.concat(chunks);
    const ext = this.#ext;
    const remap = <T extends { insnOffset: number }>(records: Map<string, T[]> | undefined): (Omit<T, 'insnOffset'> & { insn: number })[] => {
      const res: (Omit<T, 'insnOffset'> & { insn: number })[] = [];
      for (const p of pieces) {
        for (const r of records?.get(p.section.name) ?? []) {
          const at = r.insnOffset / INSN;
          if (at < p.from || at >= p.from + p.count) continue;
          const { insnOffset: _drop, ...rest } = r;
          void _drop;
          res.push({ ...rest, insn: p.base + at - p.from });
        }
      }
      return res.sort((a, b) => a.insn - b.insn);
    };
    return {
      name, section: sec.name, type: def.type, ...(def.attachType ? { expectedAttachType: def.attachType } : {}),
      attachTarget: target, def, license, instructions: out, relocations,
      funcInfo: remap(ext?.funcInfo), lineInfo: remap(ext?.lineInfo), coreRelos: remap(ext?.coreRelos),
    };
  }
}
