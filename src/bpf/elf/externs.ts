// Externs: what an object leaves for the loader to fill in from the running kernel. libbpf's three
// kinds, with its semantics (the names and types a C programmer declares do not change):
//   extern int CONFIG_HZ __kconfig;          the kernel's configuration, in a frozen .kconfig map
//   extern const void sym __ksym;            a kernel symbol's address from /proc/kallsyms
//   extern const struct rq runqueues __ksym; a kernel variable by BTF id (the verifier types it)
//   extern int bpf_foo(...) __ksym;          a kernel function (kfunc) by BTF id
// A __weak extern the kernel lacks reads as zero (a kfunc call then must be unreachable).
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { Btf, BtfError, type BtfType } from '../btf/btf.js';
import { typesCompat } from '../btf/core.js';
import { readKallsyms } from '../kallsyms.js';
import type { ElfFile } from './elf.js';
import { STB, STT } from './elf.js';
import { probeHelper } from '../features.js';

export type KconfigType = 'bool' | 'char' | 'tristate' | 'int' | 'string';

export interface ExternSpec {
  name: string;
  kind: 'kconfig' | 'ksym' | 'kfunc';
  weak: boolean;
  /** In the object's BTF: the variable's type (0 for an untyped `void` ksym), or the kfunc's FUNC_PROTO. */
  typeId: number;
  /** Where a kconfig extern lives in the .kconfig map, and how its text is stored. */
  kconfig?: { type: KconfigType; size: number; signed: boolean; align: number; offset: number };
}

/** libbpf's "call to a missing kfunc" marker: helper id base + extern index; unreachable if guarded. */
export const POISON_KFUNC_BASE = 2002000000;

const VAR_GLOBAL = 1;
const FUNC_GLOBAL = 1;
const FUNC_EXTERN = 2;

/**
 * The externs of an object, from its undefined symbols and the .kconfig / .ksyms DATASECs of its
 * BTF, with .kconfig laid out (largest alignment first, then by name, as libbpf does).
 */
export function collectExterns(elf: ElfFile, btf: Btf | undefined, fail: (m: string) => never): { externs: ExternSpec[]; kconfigSize: number } {
  const syms = elf.symbols.filter((s) => s.section === 0 && s.name && (s.bind === STB.GLOBAL || s.bind === STB.WEAK) && s.type !== STT.SECTION && s.type !== STT.FILE);
  if (syms.length === 0) return { externs: [], kconfigSize: 0 };
  if (!btf) fail(`${syms[0]!.name} is an extern (__kconfig or __ksym), which needs the object's BTF; compile with -g`);
  const bySection = new Map<string, BtfType>();
  for (const sec of ['.kconfig', '.ksyms']) {
    const id = btf.idsByName(sec, 'DATASEC')[0];
    if (id === undefined) continue;
    for (const si of btf.type(id).secinfos!) bySection.set(btf.type(si.type).name, btf.type(si.type));
  }
  const kconfigIds = new Set(btf.idsByName('.kconfig', 'DATASEC').flatMap((id) => btf.type(id).secinfos!.map((s) => s.type)));
  const externs: ExternSpec[] = [];
  for (const s of syms) {
    const t = bySection.get(s.name);
    const weak = s.bind === STB.WEAK;
    if (!t) fail(`${s.name} is undefined: neither a __kconfig nor a __ksym extern (declare it with one of them, or define it)`);
    if (kconfigIds.has(t.id)) {
      if (t.kind !== 'VAR') fail(`extern ${s.name}: a __kconfig extern must be a variable`);
      if (!s.name.startsWith('CONFIG_') && !LINUX_VALUES.has(s.name)) {
        fail(`extern ${s.name}: __kconfig names are CONFIG_* options or one of ${[...LINUX_VALUES.keys()].join(', ')}`);
      }
      externs.push({ name: s.name, kind: 'kconfig', weak, typeId: t.type!, kconfig: { ...kconfigType(btf, t.type!, s.name, fail), offset: 0 } });
    } else if (t.kind === 'FUNC') {
      externs.push({ name: s.name, kind: 'kfunc', weak, typeId: t.type! });
    } else if (t.kind === 'VAR') {
      externs.push({ name: s.name, kind: 'ksym', weak, typeId: btf.resolve(t.type!).kind === 'UNKN' ? 0 : t.type! });
    } else {
      fail(`extern ${s.name}: a ${t.kind} in .ksyms; expected a variable or a function`);
    }
  }
  // libbpf's order: larger alignment first, then smaller size, then by name.
  const kc = externs.filter((e) => e.kconfig).sort((a, b) => b.kconfig!.align - a.kconfig!.align || a.kconfig!.size - b.kconfig!.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let off = 0;
  for (const e of kc) {
    off = Math.ceil(off / e.kconfig!.align) * e.kconfig!.align;
    e.kconfig!.offset = off;
    off += e.kconfig!.size;
  }
  return { externs, kconfigSize: off };
}

function kconfigType(btf: Btf, typeId: number, name: string, fail: (m: string) => never): { type: KconfigType; size: number; signed: boolean; align: number } {
  const t = btf.resolve(typeId);
  // As libbpf: any 1-byte integer but bool is a char (clang does not mark `char` as one in BTF).
  if (t.kind === 'INT' && t.int!.bool && t.size === 1) return { type: 'bool', size: 1, signed: false, align: 1 };
  if (t.kind === 'INT' && t.size === 1) return { type: 'char', size: 1, signed: t.int!.signed, align: 1 };
  if ((t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name === 'libbpf_tristate') return { type: 'tristate', size: t.size!, signed: false, align: t.size! };
  if (t.kind === 'INT' && [2, 4, 8].includes(t.size!)) return { type: 'int', size: t.size!, signed: t.int!.signed, align: t.size! };
  if (t.kind === 'ARRAY') {
    const e = btf.resolve(t.array!.type);
    if (e.kind === 'INT' && e.size === 1 && !e.int!.bool && t.array!.nelems > 0) return { type: 'string', size: t.array!.nelems, signed: false, align: 1 };
  }
  return fail(`extern ${name}: a __kconfig extern is a bool, char, enum libbpf_tristate, integer or char array, not ${btf.typeName(typeId)}`);
}

/**
 * The object's BTF made acceptable to the kernel (whose BTF checks refuse extern linkage): .kconfig
 * variables get the map's layout, .ksyms entries become 4-byte int variables (functions are
 * represented by one added variable), extern functions become global ones and their unnamed
 * parameters take that variable's name. Types are appended, so existing ids keep their meaning.
 */
export function sanitizeExternBtf(btf: Btf, externs: ExternSpec[], kconfigSize: number): Btf {
  if (externs.length === 0) return btf;
  const bytes = Buffer.from(btf.bytes);
  const types = btf.typesOffset;
  const setVarLinkage = (t: BtfType) => bytes.writeUInt32LE(VAR_GLOBAL, types + t.recordOffset + 12);
  const kc = btf.idsByName('.kconfig', 'DATASEC')[0];
  if (kc !== undefined) {
    const ds = btf.type(kc);
    bytes.writeUInt32LE(kconfigSize, types + ds.recordOffset + 8);
    // The kernel wants the variables in offset order.
    const placed = ds.secinfos!.map((si) => {
      const v = btf.type(si.type);
      if (v.kind === 'VAR') setVarLinkage(v);
      const kc = externs.find((x) => x.name === v.name)?.kconfig;
      return { type: si.type, offset: kc?.offset ?? si.offset, size: kc?.size ?? si.size };
    }).sort((a, b) => a.offset - b.offset);
    placed.forEach((si, i) => {
      const at = types + ds.recordOffset + 12 + i * 12;
      bytes.writeUInt32LE(si.type, at);
      bytes.writeUInt32LE(si.offset, at + 4);
      bytes.writeUInt32LE(si.size, at + 8);
    });
  }
  const ks = btf.idsByName('.ksyms', 'DATASEC')[0];
  if (ks === undefined) return Btf.parse(bytes, '.BTF');
  // Append: int (when the object has no 4-byte signed int), then VAR "dummy_ksym" of it.
  let intId = btf.types.find((t) => t.kind === 'INT' && t.size === 4 && t.int!.signed && !t.int!.bool && !t.int!.char)?.id;
  const added: Buffer[] = [];
  const newStrings: string[] = [];
  const stringAt = (s: string) => { const off = btf.strings.length + newStrings.reduce((n, x) => n + x.length + 1, 0); newStrings.push(s); return off; };
  let nextId = btf.types.length;
  if (intId === undefined) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(stringAt('int'), 0);
    rec.writeUInt32LE(1 << 24, 4); // kind INT
    rec.writeUInt32LE(4, 8);
    rec.writeUInt32LE((1 << 24) | 32, 12); // signed, 32 bits
    added.push(rec);
    intId = nextId++;
  }
  const dummyName = stringAt('dummy_ksym');
  const dummy = Buffer.alloc(16);
  dummy.writeUInt32LE(dummyName, 0);
  dummy.writeUInt32LE(14 << 24, 4); // kind VAR
  dummy.writeUInt32LE(intId, 8);
  dummy.writeUInt32LE(VAR_GLOBAL, 12);
  added.push(dummy);
  const dummyId = nextId++;
  const ds = btf.type(ks);
  bytes.writeUInt32LE(ds.secinfos!.length * 4, types + ds.recordOffset + 8);
  ds.secinfos!.forEach((si, i) => {
    const at = types + ds.recordOffset + 12 + i * 12;
    const v = btf.type(si.type);
    if (v.kind === 'FUNC') bytes.writeUInt32LE(dummyId, at);
    else if (v.kind === 'VAR') { setVarLinkage(v); bytes.writeUInt32LE(intId!, types + v.recordOffset + 8); }
    bytes.writeUInt32LE(i * 4, at + 4);
    bytes.writeUInt32LE(4, at + 8);
  });
  for (const t of btf.types) {
    if (t.kind !== 'FUNC' || t.linkage !== FUNC_EXTERN) continue;
    const info = bytes.readUInt32LE(types + t.recordOffset + 4);
    bytes.writeUInt32LE((info & ~0xffff) | FUNC_GLOBAL, types + t.recordOffset + 4);
    const proto = btf.type(t.type!);
    proto.params?.forEach((p, i) => { if (!p.name && p.type !== 0) bytes.writeUInt32LE(dummyName, types + proto.recordOffset + 12 + i * 8); });
  }
  // Rebuild: header, types + added, strings + added (offsets relative to each section).
  const typeLen = bytes.readUInt32LE(12);
  const typeSec = bytes.subarray(types, types + typeLen);
  const addedTypes = Buffer.concat(added);
  const addedStrings = Buffer.from(newStrings.map((s) => `${s}\0`).join(''), 'latin1');
  const header = Buffer.alloc(24);
  bytes.copy(header, 0, 0, 8);
  header.writeUInt32LE(24, 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(typeLen + addedTypes.length, 12);
  header.writeUInt32LE(typeLen + addedTypes.length, 16);
  header.writeUInt32LE(btf.strings.length + addedStrings.length, 20);
  return Btf.parse(Buffer.concat([header, typeSec, addedTypes, btf.strings, addedStrings]), '.BTF');
}

// ---- Load time: values from the running kernel. ----

/** What an extern resolved to: a kernel BTF id (typed ksym, kfunc), an address, or nothing (weak). */
export type ResolvedExtern = { kind: 'btf'; id: number } | { kind: 'address'; address: bigint } | { kind: 'missing' };

export interface KernelFacts {
  btf: Btf;
  /** Parsed kernel configuration (CONFIG_X → "y", "m", "250", "\"text\""), or why there is none. */
  config(): Map<string, string> | string;
  /** Address of a kernel symbol in /proc/kallsyms; undefined when absent; throws when ambiguous or hidden. */
  kallsyms(name: string): bigint | undefined;
  /** Whether /proc/kallsyms names it (names show even when addresses are hidden). */
  hasSymbol(name: string): boolean;
  /** Whether a tracepoint program can call bpf_get_attach_cookie (5.15): a probe, the one fact bpf(2) tells. */
  bpfCookie(): boolean;
}

const LINUX_VALUES = new Map<string, (k: KernelFacts) => bigint>([
  ['LINUX_KERNEL_VERSION', () => kernelVersionCode(release())],
  // As libbpf: can a tracepoint program call bpf_get_attach_cookie (5.15)?
  ['LINUX_HAS_BPF_COOKIE', (k) => (k.bpfCookie() ? 1n : 0n)],
  // Whether syscalls enter through an arch wrapper (__x64_sys_bpf): what ksyscall probes must name.
  ['LINUX_HAS_SYSCALL_WRAPPER', (k) => (SYSCALL_PREFIX[process.arch] && k.hasSymbol(`${SYSCALL_PREFIX[process.arch]}sys_bpf`) ? 1n : 0n)],
]);
const SYSCALL_PREFIX: Record<string, string> = { x64: '__x64_', ia32: '__ia32_', arm64: '__arm64_', s390x: '__s390x_', riscv64: '__riscv_', ppc64: '__powerpc_', arm: '__arm_' };

/** KERNEL_VERSION(a, b, c) of a release string like "6.18.44-foo" (c capped at 255, as the kernel does). */
export function kernelVersionCode(rel: string): bigint {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  if (!m) return 0n;
  return BigInt((Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255));
}

/**
 * Parse a kernel .config: its CONFIG_X=value lines. "# CONFIG_X is not set" is a comment, as for
 * libbpf: such an option is absent (a __weak extern reads 0, a strong one fails the load).
 */
export function parseKconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) out.set(set[1]!, set[2]!);
  }
  return out;
}

let config: Map<string, string> | string | undefined;
/** The running kernel's configuration: /boot/config-$(uname -r), else /proc/config.gz; read once per process. */
function kernelConfig(): Map<string, string> | string {
  if (config !== undefined) return config;
  const boot = `/boot/config-${release()}`;
  try { config = parseKconfig(readFileSync(boot, 'utf8')); } catch {
    try { config = parseKconfig(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8')); } catch {
      config = `neither ${boot} nor /proc/config.gz is readable (a kernel with CONFIG_IKCONFIG_PROC, or its config file in /boot, is needed)`;
    }
  }
  return config;
}

/**
 * The running kernel as externs see it: `btf` (vmlinux), its configuration and a snapshot of
 * /proc/kallsyms taken on first use. Take new facts for each load: modules come and go.
 */
export function kernelFacts(btf: () => Btf = () => Btf.kernel()): KernelFacts {
  let syms: ReturnType<typeof readKallsyms> | undefined;
  const table = () => (syms === undefined ? (syms = readKallsyms()) : syms);
  return {
    get btf() { return btf(); },
    config: kernelConfig,
    hasSymbol: (name) => (table()?.addressesOf(name).length ?? 0) > 0,
    bpfCookie: () => probeHelper('TRACEPOINT', 'get_attach_cookie').supported,
    kallsyms(name) {
      const t = table();
      if (!t) throw new BtfError('/proc/kallsyms is not readable');
      if (t.hidden) throw new BtfError('/proc/kallsyms shows zero addresses (run as root; kernel.kptr_restrict hides them otherwise)');
      const l = t.addressesOf(name);
      if (l.length > 1) throw new BtfError(`kernel symbol ${name} is ambiguous in /proc/kallsyms (${l.length} addresses)`);
      return l[0];
    },
  };
}

/** The .kconfig map's value: each kconfig extern's value from the kernel's configuration. */
export function kconfigValue(externs: ExternSpec[], size: number, k: KernelFacts): Buffer {
  const out = Buffer.alloc(size);
  for (const e of externs) {
    const kc = e.kconfig;
    if (!kc) continue;
    const fail: (m: string) => never = (m) => { throw new BtfError(`extern (kconfig) ${e.name}: ${m}`); };
    const special = LINUX_VALUES.get(e.name);
    const cfg = special ? undefined : k.config();
    if (typeof cfg === 'string') { if (e.weak) continue; fail(cfg); }
    const text = special ? String(special(k)) : cfg!.get(e.name);
    if (text === undefined) { if (e.weak) continue; fail(`not in the kernel's configuration; declare it __weak to read 0 when it is absent`); }
    const tri = text === 'y' || text === 'm' || text === 'n' ? text : undefined;
    if (tri) {
      // libbpf's set_kcfg_value_tri.
      if (kc.type === 'bool') {
        if (tri === 'm') fail('the option is "m" (module); declare it as char or enum libbpf_tristate to tell "m" from "y"');
        out[kc.offset] = tri === 'y' ? 1 : 0;
      } else if (kc.type === 'char') out[kc.offset] = tri.charCodeAt(0);
      else if (kc.type === 'tristate') out.writeUIntLE(tri === 'y' ? 1 : tri === 'm' ? 2 : 0, kc.offset, Math.min(kc.size, 6));
      else fail(`"${text}" is a yes/module/no value; declare it as bool, char or enum libbpf_tristate`);
      continue;
    }
    if (text.startsWith('"')) {
      // libbpf's set_kcfg_value_str: the bytes between the quotes, as written, NUL-terminated.
      if (kc.type !== 'string') fail(`${text} is a string; declare it as a char array`);
      if (text.length < 2 || !text.endsWith('"')) fail(`${text} is not a quoted string`);
      const raw = Buffer.from(text.slice(1, -1), 'utf8');
      raw.copy(out, kc.offset, 0, Math.min(raw.length, kc.size - 1));
      continue;
    }
    if (kc.type !== 'int' && kc.type !== 'char' && kc.type !== 'bool') fail(`"${text}" is a number; declare it as an integer, char or bool`);
    let n: bigint;
    try { n = BigInt(/^-?0[0-7]+$/.test(text.trim()) ? text.trim().replace(/^(-?)0/, '$10o') : text.trim()); } catch { return fail(`"${text}" is neither y/m/n, a number nor a quoted string`); }
    if (kc.type === 'bool') n = n !== 0n ? 1n : 0n;
    const bits = BigInt(kc.size * 8);
    const [min, max] = kc.signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
    if (n < min || n > max) fail(`${text} does not fit in a ${kc.signed ? '' : 'un'}signed ${kc.size}-byte integer`);
    const v = BigInt.asUintN(Number(bits), n);
    for (let i = 0; i < kc.size; i++) out[kc.offset + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  }
  return out;
}

/** Resolve every ksym and kfunc extern against the kernel (vmlinux BTF, /proc/kallsyms). */
export function resolveKernelExterns(local: Btf, externs: ExternSpec[], k: KernelFacts): Map<string, ResolvedExtern> {
  const out = new Map<string, ResolvedExtern>();
  for (const e of externs) {
    if (e.kind === 'kconfig') continue;
    const missing = (why: string): void => {
      if (!e.weak) throw new BtfError(`extern ${e.name}: ${why}; declare it __weak if the program can run without it`);
      out.set(e.name, { kind: 'missing' });
    };
    if (e.kind === 'ksym' && e.typeId === 0) {
      const a = k.kallsyms(e.name);
      if (a === undefined) missing('no such symbol in /proc/kallsyms');
      else out.set(e.name, { kind: 'address', address: a });
      continue;
    }
    const kind = e.kind === 'kfunc' ? 'FUNC' : 'VAR';
    const ids = k.btf.idsByName(e.name, kind);
    if (ids.length === 0) {
      missing(`the kernel's BTF has no ${e.kind === 'kfunc' ? 'function' : 'variable'} ${e.name} (kernel modules' BTF is not searched)`);
      continue;
    }
    const target = k.btf.type(ids[0]!);
    // Modifiers and typedefs aside on both sides, as libbpf compares them.
    if (!typesCompat(local, local.resolve(e.typeId).id, k.btf, k.btf.resolve(target.type!).id)) {
      throw new BtfError(`extern ${e.name}: declared as ${local.typeName(e.typeId)}${e.kind === 'kfunc' ? ` (a function of ${local.type(e.typeId).params?.length ?? 0} parameters)` : ''}, which does not match the kernel's ${k.btf.typeName(target.type!)}${e.kind === 'kfunc' ? ` (${k.btf.type(target.type!).params?.length ?? 0} parameters)` : ''}`);
    }
    out.set(e.name, { kind: 'btf', id: target.id });
  }
  return out;
}
