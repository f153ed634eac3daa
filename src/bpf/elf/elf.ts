// A small ELF64 reader for BPF objects: sections, symbols and relocations, every offset checked
// against the file so a truncated or corrupt object is an ElfError, never a crash. It also reads
// host executables and shared libraries (sections, program headers, .symtab and .dynsym) to find
// where a function lives in the file, for uprobes.

/** A malformed or unsupported object file. `what` names the part that is wrong. */
export class ElfError extends Error {
  override name = 'ElfError';
  constructor(readonly file: string, readonly what: string) {
    super(`${file}: ${what}`);
  }
}

export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9, DYNSYM: 11, GNU_VERSYM: 0x6fffffff } as const;
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;
/** GNU_IFUNC: an indirect function; the symbol is its resolver, which picks the implementation at load. */
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4, GNU_IFUNC: 10 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
export const STV = { DEFAULT: 0, INTERNAL: 1, HIDDEN: 2, PROTECTED: 3 } as const;
export const ET = { REL: 1, EXEC: 2, DYN: 3 } as const;
export const PT = { LOAD: 1 } as const;
export const PF = { X: 1, W: 2, R: 4 } as const;
const EM_BPF = 247;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
// Global data becomes a single-entry array map; the kernel caps values far below this.
const MAX_NOBITS_BYTES = 1 << 26;

export interface ElfSection {
  index: number; name: string; type: number; flags: number; offset: number; size: number;
  link: number; info: number; align: number; entsize: number;
  /** The section's bytes (zeros for NOBITS in BPF objects; empty for NOBITS in binaries). */
  data: Buffer;
}

/** A program header of an executable or shared library: how the file is mapped at run time. */
export interface ElfSegment { type: number; flags: number; offset: number; vaddr: number; fileSize: number; memSize: number }

export interface ElfSymbol {
  index: number; name: string; value: number; size: number; type: number; bind: number;
  /** st_other's visibility: STV.DEFAULT, HIDDEN (__hidden), INTERNAL, PROTECTED. */
  visibility: number;
  /** Section index; 0 when undefined, >= 0xff00 for special (ABS, COMMON). */
  section: number;
  /** .dynsym: an old, non-default version (nm shows name@VER, not name@@VER); only old binaries bind to it. */
  hiddenVersion?: boolean;
}

export interface ElfRelocation { offset: number; symbol: ElfSymbol; type: number }

export class ElfFile {
  readonly sections: ElfSection[] = [];
  /** .symtab: every symbol of a BPF object; in a binary, none when it was stripped. */
  readonly symbols: ElfSymbol[] = [];
  /** .dynsym of a binary: what it exports (kept when stripped). Empty for BPF objects. */
  readonly dynamicSymbols: ElfSymbol[] = [];
  /** Program headers of a binary. Empty for BPF objects. */
  readonly segments: ElfSegment[] = [];
  /** Relocations by the index of the section they apply to (BPF objects only). */
  readonly relocations = new Map<number, ElfRelocation[]>();

  private constructor(readonly file: string, readonly bytes: Buffer, readonly kind: 'bpf' | 'binary') {}

  fail(what: string): never { throw new ElfError(this.file, what); }

  section(name: string): ElfSection | undefined { return this.sections.find((s) => s.name === name); }

  /** Parse a little-endian ELF64 relocatable object for EM_BPF. `file` names it in errors. */
  static parse(bytes: Buffer, file = 'object'): ElfFile {
    const elf = new ElfFile(file, bytes, 'bpf');
    elf.#parse();
    return elf;
  }

  /**
   * Parse a little-endian ELF64 executable or shared library (ET_EXEC or ET_DYN, any machine):
   * sections, program headers, .symtab and .dynsym; relocations are not read.
   */
  static parseBinary(bytes: Buffer, file = 'binary'): ElfFile {
    const elf = new ElfFile(file, bytes, 'binary');
    elf.#parse();
    return elf;
  }

  /** The file offset that virtual address `vaddr` is loaded from (its PT_LOAD segment), if any. */
  fileOffset(vaddr: number): number | undefined {
    const s = this.segments.find((g) => g.type === PT.LOAD && vaddr >= g.vaddr && vaddr < g.vaddr + g.fileSize);
    return s && vaddr - s.vaddr + s.offset;
  }

  #parse(): void {
    const b = this.bytes;
    if (b.length < 4 || b.readUInt32BE(0) !== 0x7f454c46) this.fail('not an ELF file (no \\x7fELF magic)');
    if (b.length < 64) this.fail(`truncated: ${b.length} bytes is shorter than the 64-byte ELF header`);
    const bpf = this.kind === 'bpf';
    if (b[4] !== 2) this.fail(`not a 64-bit ELF file (class ${b[4]}); ${bpf ? 'compile with clang -target bpf' : 'sysward reads 64-bit binaries only'}`);
    if (b[5] !== 1) {
      if (b[5] !== 2) this.fail(`unknown data encoding ${b[5]}`);
      this.fail(bpf ? 'a big-endian object; compile with -target bpfel (or -target bpf on a little-endian host)' : 'a big-endian binary; sysward reads little-endian binaries only');
    }
    const type = b.readUInt16LE(16);
    if (bpf) {
      const machine = b.readUInt16LE(18);
      if (machine !== EM_BPF) this.fail(`not a BPF object (machine ${machine}, expected ${EM_BPF}); compile with clang -target bpf`);
      if (type !== ET.REL) this.fail(`not a relocatable object (ELF type ${type}); compile with -c`);
    } else if (type !== ET.EXEC && type !== ET.DYN) {
      this.fail(`not an executable or shared library (ELF type ${type}${type === ET.REL ? ': an object file' : ''})`);
    }
    const shoff = this.#u64(40, 'section header offset');
    const shentsize = b.readUInt16LE(58);
    const shnum = b.readUInt16LE(60);
    const shstrndx = b.readUInt16LE(62);
    if (shnum === 0) this.fail('no section headers');
    if (shentsize < 64) this.fail(`section header entry size ${shentsize} is smaller than 64`);
    if (shoff + shnum * shentsize > b.length) this.fail(`truncated: section headers end at ${shoff + shnum * shentsize}, past the end of the file (${b.length} bytes)`);
    if (shstrndx >= shnum) this.fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);
    const raw: (Omit<ElfSection, 'index' | 'name' | 'data'> & { nameOff: number })[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({
        nameOff: b.readUInt32LE(o), type: b.readUInt32LE(o + 4), flags: Number(b.readBigUInt64LE(o + 8)),
        offset: this.#u64(o + 24, `section ${i} offset`), size: this.#u64(o + 32, `section ${i} size`),
        link: b.readUInt32LE(o + 40), info: b.readUInt32LE(o + 44), align: this.#u64(o + 48, `section ${i} alignment`),
        entsize: this.#u64(o + 56, `section ${i} entry size`),
      });
    }
    const dataOf = (i: number, r: { type: number; offset: number; size: number }): Buffer => {
      if (r.type === SHT.NULL) return Buffer.alloc(0);
      if (r.type === SHT.NOBITS) {
        if (!bpf) return Buffer.alloc(0);
        if (r.size > MAX_NOBITS_BYTES) this.fail(`section ${i} claims ${r.size} bytes of zeros; more than ${MAX_NOBITS_BYTES} is not a BPF object`);
        return Buffer.alloc(r.size);
      }
      if (r.offset + r.size > b.length) this.fail(`truncated: section ${i} (offset ${r.offset}, ${r.size} bytes) ends past the end of the file (${b.length} bytes)`);
      return b.subarray(r.offset, r.offset + r.size);
    };
    const shstr = raw[shstrndx]!;
    if (shstr.type !== SHT.STRTAB) this.fail(`section name table (section ${shstrndx}) is not a string table`);
    const shstrData = dataOf(shstrndx, shstr);
    raw.forEach((r, i) => {
      const { nameOff, ...rest } = r;
      this.sections.push({ index: i, name: this.#str(shstrData, nameOff, `name of section ${i}`), ...rest, data: dataOf(i, r) });
    });
    const symtabs = this.sections.filter((s) => s.type === SHT.SYMTAB);
    if (symtabs.length === 0 && bpf) this.fail('no symbol table (.symtab); was the object stripped? BPF objects need their symbols');
    if (symtabs.length > 1) this.fail('more than one symbol table');
    if (symtabs[0]) this.#symbolTable(symtabs[0], 'symbol table', this.symbols);
    if (!bpf) {
      this.#programHeaders();
      const dynsyms = this.sections.filter((s) => s.type === SHT.DYNSYM);
      if (dynsyms.length > 1) this.fail('more than one dynamic symbol table');
      if (dynsyms[0]) this.#symbolTable(dynsyms[0], 'dynamic symbol table', this.dynamicSymbols);
      // .gnu.version: one u16 per .dynsym entry; bit 15 marks a hidden (non-default) version.
      const versym = this.sections.find((s) => s.type === SHT.GNU_VERSYM);
      if (versym) this.dynamicSymbols.forEach((sym, i) => { if (2 * i + 2 <= versym.data.length && versym.data.readUInt16LE(2 * i) & 0x8000) sym.hiddenVersion = true; });
      return;
    }
    const symtab = symtabs[0]!;
    for (const s of this.sections) {
      if (s.type === SHT.RELA) this.fail(`section ${s.name} holds RELA relocations; BPF objects use REL`);
      if (s.type !== SHT.REL) continue;
      if (s.link !== symtab.index) this.fail(`relocation section ${s.name} links to section ${s.link}, not the symbol table`);
      if (s.info >= this.sections.length) this.fail(`relocation section ${s.name} applies to section ${s.info}, which does not exist`);
      if (s.entsize !== 16) this.fail(`relocation section ${s.name} entry size ${s.entsize}, expected 16`);
      // Relocations of DWARF and BTF sections (.rel.debug_info, .rel.BTF.ext: thousands of them)
      // matter to no loader; only those of code and data sections (SHF_ALLOC) are read.
      const target = this.sections[s.info];
      if (target && (target.flags & SHF.ALLOC) === 0) continue;
      const list: ElfRelocation[] = [];
      for (let o = 0; o + 16 <= s.data.length; o += 16) {
        // r_info: the symbol's index in the high 32 bits, the type in the low ones (little-endian).
        const symIndex = s.data.readUInt32LE(o + 12);
        const symbol = this.symbols[symIndex];
        if (!symbol) this.fail(`relocation ${o / 16} of ${s.name} refers to symbol ${symIndex}, which does not exist`);
        list.push({ offset: this.#num(s.data.readBigUInt64LE(o), `offset of relocation ${o / 16} of ${s.name}`), symbol, type: s.data.readUInt32LE(o + 8) });
      }
      this.relocations.set(s.info, list);
    }
  }

  #symbolTable(table: ElfSection, what: string, out: ElfSymbol[]): void {
    if (table.entsize !== 24) this.fail(`${what} entry size ${table.entsize}, expected 24`);
    const strtab = this.sections[table.link];
    if (!strtab || strtab.type !== SHT.STRTAB) this.fail(`${what} links to section ${table.link}, which is not a string table`);
    for (let i = 0; i * 24 + 24 <= table.data.length; i++) {
      const o = i * 24;
      const d = table.data;
      const info = d[o + 4]!;
      const section = d.readUInt16LE(o + 6);
      if (section !== SHN_UNDEF && section < SHN_LORESERVE && section >= this.sections.length) this.fail(`symbol ${i} refers to section ${section}, which does not exist`);
      out.push({
        index: i, name: this.#str(strtab.data, d.readUInt32LE(o), `name of symbol ${i}`), type: info & 0xf, bind: info >> 4, visibility: d[o + 5]! & 3, section,
        value: this.#num(d.readBigUInt64LE(o + 8), `value of symbol ${i}`), size: this.#num(d.readBigUInt64LE(o + 16), `size of symbol ${i}`),
      });
    }
  }

  #programHeaders(): void {
    const b = this.bytes;
    const phoff = this.#u64(32, 'program header offset');
    const phentsize = b.readUInt16LE(54);
    const phnum = b.readUInt16LE(56);
    if (phnum === 0) this.fail('no program headers: not a loadable binary');
    if (phentsize < 56) this.fail(`program header entry size ${phentsize} is smaller than 56`);
    if (phoff + phnum * phentsize > b.length) this.fail(`truncated: program headers end at ${phoff + phnum * phentsize}, past the end of the file (${b.length} bytes)`);
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      this.segments.push({
        type: b.readUInt32LE(o), flags: b.readUInt32LE(o + 4), offset: this.#u64(o + 8, `segment ${i} offset`),
        vaddr: this.#u64(o + 16, `segment ${i} address`), fileSize: this.#u64(o + 32, `segment ${i} file size`),
        memSize: this.#u64(o + 40, `segment ${i} memory size`),
      });
    }
  }

  #num(v: bigint, what: string): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} (${v}) is out of range`);
    return Number(v);
  }

  #u64(o: number, what: string): number { return this.#num(this.bytes.readBigUInt64LE(o), what); }

  #str(table: Buffer, off: number, what: string): string {
    if (off >= table.length) {
      if (off === 0) return '';
      this.fail(`${what}: string offset ${off} is past the end of its string table (${table.length} bytes)`);
    }
    const end = table.indexOf(0, off);
    if (end < 0) this.fail(`${what}: string at offset ${off} is not NUL-terminated`);
    return table.toString('latin1', off, end);
  }
}
