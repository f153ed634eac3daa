// A small ELF64 reader for BPF objects: sections, symbols and relocations, every offset checked
// against the file so a truncated or corrupt object is an ElfError, never a crash.

/** A malformed or unsupported object file. `what` names the part that is wrong. */
export class ElfError extends Error {
  override name = 'ElfError';
  constructor(readonly file: string, readonly what: string) {
    super(`${file}: ${what}`);
  }
}

export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9 } as const;
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
const EM_BPF = 247;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
// Global data becomes a single-entry array map; the kernel caps values far below this.
const MAX_NOBITS_BYTES = 1 << 26;

export interface ElfSection {
  index: number; name: string; type: number; flags: number; offset: number; size: number;
  link: number; info: number; align: number; entsize: number;
  /** The section's bytes (zeros for NOBITS). */
  data: Buffer;
}

export interface ElfSymbol {
  index: number; name: string; value: number; size: number; type: number; bind: number;
  /** Section index; 0 when undefined, >= 0xff00 for special (ABS, COMMON). */
  section: number;
}

export interface ElfRelocation { offset: number; symbol: ElfSymbol; type: number }

export class ElfFile {
  readonly sections: ElfSection[] = [];
  readonly symbols: ElfSymbol[] = [];
  /** Relocations by the index of the section they apply to. */
  readonly relocations = new Map<number, ElfRelocation[]>();

  private constructor(readonly file: string, readonly bytes: Buffer) {}

  fail(what: string): never { throw new ElfError(this.file, what); }

  section(name: string): ElfSection | undefined { return this.sections.find((s) => s.name === name); }

  /** Parse a little-endian ELF64 relocatable object for EM_BPF. `file` names it in errors. */
  static parse(bytes: Buffer, file = 'object'): ElfFile {
    const elf = new ElfFile(file, bytes);
    elf.#parse();
    return elf;
  }

  #parse(): void {
    const b = this.bytes;
    if (b.length < 4 || b.readUInt32BE(0) !== 0x7f454c46) this.fail('not an ELF file (no \\x7fELF magic)');
    if (b.length < 64) this.fail(`truncated: ${b.length} bytes is shorter than the 64-byte ELF header`);
    if (b[4] !== 2) this.fail(`not a 64-bit ELF file (class ${b[4]}); compile with clang -target bpf`);
    if (b[5] !== 1) this.fail(b[5] === 2 ? 'a big-endian object; compile with -target bpfel (or -target bpf on a little-endian host)' : `unknown data encoding ${b[5]}`);
    const machine = b.readUInt16LE(18);
    if (machine !== EM_BPF) this.fail(`not a BPF object (machine ${machine}, expected ${EM_BPF}); compile with clang -target bpf`);
    const type = b.readUInt16LE(16);
    if (type !== 1) this.fail(`not a relocatable object (ELF type ${type}); compile with -c`);
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
    if (symtabs.length === 0) this.fail('no symbol table (.symtab); was the object stripped? BPF objects need their symbols');
    if (symtabs.length > 1) this.fail('more than one symbol table');
    const symtab = symtabs[0]!;
    if (symtab.entsize !== 24) this.fail(`symbol table entry size ${symtab.entsize}, expected 24`);
    const strtab = this.sections[symtab.link];
    if (!strtab || strtab.type !== SHT.STRTAB) this.fail(`symbol table links to section ${symtab.link}, which is not a string table`);
    for (let i = 0; i * 24 + 24 <= symtab.data.length; i++) {
      const o = i * 24;
      const d = symtab.data;
      const info = d[o + 4]!;
      const section = d.readUInt16LE(o + 6);
      if (section !== SHN_UNDEF && section < SHN_LORESERVE && section >= this.sections.length) this.fail(`symbol ${i} refers to section ${section}, which does not exist`);
      this.symbols.push({
        index: i, name: this.#str(strtab.data, d.readUInt32LE(o), `name of symbol ${i}`), type: info & 0xf, bind: info >> 4, section,
        value: this.#num(d.readBigUInt64LE(o + 8), `value of symbol ${i}`), size: this.#num(d.readBigUInt64LE(o + 16), `size of symbol ${i}`),
      });
    }
    for (const s of this.sections) {
      if (s.type === SHT.RELA) this.fail(`section ${s.name} holds RELA relocations; BPF objects use REL`);
      if (s.type !== SHT.REL) continue;
      if (s.link !== symtab.index) this.fail(`relocation section ${s.name} links to section ${s.link}, not the symbol table`);
      if (s.info >= this.sections.length) this.fail(`relocation section ${s.name} applies to section ${s.info}, which does not exist`);
      if (s.entsize !== 16) this.fail(`relocation section ${s.name} entry size ${s.entsize}, expected 16`);
      const list: ElfRelocation[] = [];
      for (let o = 0; o + 16 <= s.data.length; o += 16) {
        const info = s.data.readBigUInt64LE(o + 8);
        const symIndex = Number(info >> 32n);
        const symbol = this.symbols[symIndex];
        if (!symbol) this.fail(`relocation ${o / 16} of ${s.name} refers to symbol ${symIndex}, which does not exist`);
        list.push({ offset: this.#num(s.data.readBigUInt64LE(o), `offset of relocation ${o / 16} of ${s.name}`), symbol, type: Number(info & 0xffffffffn) });
      }
      this.relocations.set(s.info, list);
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
