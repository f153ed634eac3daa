// `sysward bpf load OBJECT.o`, `bpf prog ls`, `bpf prog dump ID`: bpftool's verbs for objects built
// by clang. Parsing and printing only; the work is in src/bpf/elf and src/bpf/btf.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, printJson } from '../command.js';
import { UsageError } from '../errors.js';
import { readObject, type ProgramObjectSpec } from '../../bpf/elf/object.js';
import { Collection } from '../../bpf/elf/collection.js';
import { isProbeSection } from '../../bpf/elf/probe.js';
import { programSourceLines } from '../../bpf/btf/source.js';
import { readMapDecoded } from '../../bpf/btf/maps.js';
import { programIds } from '../../bpf/ids.js';
import { Program, type ProgramInfo } from '../../bpf/prog.js';
import { BpfMap } from '../../bpf/map.js';
import { ensureBpffs, DEFAULT_BPFFS } from '../../bpf/pin.js';
import { Cmd, getFdById } from '../../bpf/sys/index.js';
import { decodeInstructions } from '../../bpf/asm/index.js';
import { dumpXlated } from '../../bpf/xlated.js';
import { out } from '../output.js';

export const LOAD_HELP = `usage: sysward bpf load OBJECT.o [--pin DIR] [--attach-cgroup PATH] [--attach] [--set NAME=VALUE]... [--json]

Load an eBPF object built by clang (clang -O2 -g -target bpf -c prog.bpf.c -o prog.bpf.o): its
maps (BTF-defined .maps, global data), its programs (typed by SEC() names as libbpf does), with
CO-RE relocations resolved against this kernel's BTF. Everything is pinned under DIR so it
outlives the command (default: ${DEFAULT_BPFFS}/OBJECT-NAME): DIR/PROG for programs,
DIR/maps/MAP for maps, DIR/links/PROG for links. Maps of maps and program arrays (tail calls)
get the maps and programs their initial values (.values) name; the pin keeps a program array's
slots, which the kernel empties once nothing in user space holds the array.
  --pin DIR             where to pin (on bpffs)
  --attach-cgroup PATH  attach cgroup programs (cgroup/sysctl, cgroup_skb/…) to this cgroup
  --attach              attach the others as their section says: raw_tp/NAME, lsm/HOOK,
                        fentry/FUNC, fexit/FUNC, tp_btf/NAME, tracepoint/CAT/NAME,
                        kprobe/FUNC, uprobe/BINARY:FUNC (BINARY a path or a library name
                        such as libc.so.6); a uprobe section without BINARY:FUNC stays
                        loaded, not attached. A program the kernel will not attach stays
                        loaded and pinned, the others attach, and the command says why
                        and exits with 1
  --set NAME=VALUE      set a global variable before load (const volatile in .rodata included);
                        VALUE is an integer or a string
  --json                what was loaded, as JSON
Example: sysward bpf load deny.bpf.o --attach-cgroup /sys/fs/cgroup/box
`;

export const MAP_HELP = `usage: sysward bpf map dump ID|PINNED-PATH [--json]

A map's entries, keys and values decoded by the BTF the map was created with (struct fields by
name, strings for char arrays, enum names), as bpftool map dump prints them; hex when the map has
no BTF.
`;

export const PROG_HELP = `usage: sysward bpf prog <ls|dump|run> [options]

A program is its id (from bpf prog ls) or the path it is pinned at on bpffs.

  sysward bpf prog ls [--json]           loaded programs (bpftool prog show): id, type, name,
                                         tag, instructions, maps
  sysward bpf prog dump PROG [--opcodes] [--linum] [--json]
                                         the program as the kernel holds it, with its functions'
                                         signatures and C source lines when it was loaded with
                                         BTF, calls named by kernel symbol (bpftool prog dump
                                         xlated); --linum adds each line's file, line and column
  sysward bpf prog run PROG [--data-in FILE] [--ctx-in FILE] [--repeat N] [--json]
                                         run it once (or N times) in the kernel on FILE's bytes
                                         (bpftool prog run; BPF_PROG_TEST_RUN): SEC("syscall")
                                         programs (context only), XDP, tc, socket filters, …;
                                         prints the return value and the mean duration
`;

/** A program named on the command line: its id, or the path it is pinned at. */
function openProgram(arg: string | undefined, verb: string): Program {
  if (arg?.startsWith('/')) return Program.openPinned(arg);
  const id = Number(arg);
  if (!Number.isInteger(id) || id <= 0) throw new UsageError(`bpf prog ${verb} needs a program id or a pinned path; list programs with \`sysward bpf prog ls\``);
  return Program.fromId(id);
}

/** Types whose test run takes a context and no packet: give them no data unless asked. */
const CONTEXT_ONLY = new Set(['SYSCALL', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'TRACING', 'STRUCT_OPS', 'NETFILTER']);

/** sysward bpf load OBJECT.o … */
export function runLoad(argv: string[]): number {
  const { values, positionals } = parse('bpf load', argv, {
    pin: { type: 'string' }, 'attach-cgroup': { type: 'string' }, attach: { type: 'boolean' },
    set: { type: 'string', multiple: true }, json: { type: 'boolean' },
  });
  if (values.help) { out(LOAD_HELP); return 0; }
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('bpf load needs one object file: sysward bpf load OBJECT.o [--pin DIR]; see `sysward bpf load --help`');
  const spec = readObject(file);
  for (const s of values.set ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${s}: expected NAME=VALUE`);
    const raw = s.slice(eq + 1);
    spec.setVariable(s.slice(0, eq), /^-?(0x[0-9a-f]+|\d+)$/i.test(raw) ? BigInt(raw) : raw);
  }
  const dir = values.pin ?? join(DEFAULT_BPFFS, basename(file).replace(/\.(bpf\.)?o$/, '').replace(/[^A-Za-z0-9_.-]/g, '_'));
  if (dir.startsWith(`${DEFAULT_BPFFS}/`) || dir === DEFAULT_BPFFS) ensureBpffs();
  using coll = Collection.load(spec);
  // Directories this command created (the first of each mkdir -p): removed again on failure.
  const madeDirs = [mkdirSync(join(dir, 'maps'), { recursive: true })];
  const pinned: string[] = [];
  // bpffs refuses names with dots: "obj.rodata" is pinned as "obj_rodata", as libbpf does.
  const pinName = (n: string) => n.replace(/\./g, '_');
  const loaded = { pinDir: dir, programs: [] as object[], maps: [] as object[], warnings: coll.btfWarning ? [coll.btfWarning] : [] };
  try {
  for (const [name, m] of coll.maps) {
    const path = join(dir, 'maps', pinName(name));
    m.pin(path);
    pinned.push(path);
    const info = m.info();
    // Maps of maps and program arrays: which map or program each initial value put in which slot.
    const slots = spec.maps.find((x) => x.name === name)?.slots?.map((x) => ({ index: x.index, [x.kind]: x.target }));
    loaded.maps.push({ name, id: info.id, type: info.typeName.toLowerCase(), pinned: path, ...(slots ? { slots } : {}) });
  }
  for (const [name, p] of coll.programs) {
    const ps = spec.program(name);
    const path = join(dir, pinName(name));
    p.pin(path);
    pinned.push(path);
    let link: string | undefined;
    let attachError: string | undefined;
    const wantCgroup = ps.def.attach === 'cgroup' && values['attach-cgroup'];
    const wantOther = values.attach && attachable(ps);
    if (wantCgroup || wantOther) {
      let l: ReturnType<typeof coll.attach> | undefined;
      // What cannot attach (a missing kernel function, a refused trampoline) stays loaded and
      // pinned, as bpftool's autoattach leaves it; the others attach.
      try { l = coll.attach(name, wantCgroup ? { cgroup: values['attach-cgroup']! } : {}); } catch (e) {
        if (!(e instanceof Error) || e instanceof UsageError) throw e;
        attachError = e.message;
      }
      if (!l) { /* reported below */ } else if ('pin' in l) {
        madeDirs.push(mkdirSync(join(dir, 'links'), { recursive: true }));
        link = join(dir, 'links', pinName(name));
        l.pin(link);
        pinned.push(link);
      } else {
        link = `attached to ${values['attach-cgroup']} with PROG_ATTACH (no link on this kernel); detach with bpftool cgroup detach`;
      }
    }
    loaded.programs.push({ name, section: ps.section, id: p.info().id, type: ps.type.toLowerCase(), pinned: path, ...(link ? { link } : {}), ...(attachError ? { attachError } : {}) });
  }
  } catch (e) {
    // A failure to pin (attach failures are reported, not thrown): what was pinned is removed again.
    for (const path of pinned) rmSync(path, { force: true });
    for (const d of madeDirs.reverse()) if (d) rmSync(d, { recursive: true, force: true });
    throw e;
  }
  const failed = (loaded.programs as { name: string; section: string; attachError?: string }[]).filter((p) => p.attachError);
  for (const f of failed) process.stderr.write(`not attached: ${f.name} (${f.section}): ${f.attachError}; it stays loaded and pinned\n`);
  if (values.json) { printJson(loaded); return failed.length ? 1 : 0; }
  for (const p of loaded.programs as { name: string; section: string; id: number; pinned: string; link?: string }[]) {
    out(`program ${p.name} (SEC("${p.section}")) id ${p.id} pinned at ${p.pinned}${p.link ? `, link ${p.link}` : ''}\n`);
  }
  for (const m of loaded.maps as { name: string; id: number; type: string; pinned: string; slots?: { index: number; map?: string; program?: string }[] }[]) {
    const slots = m.slots ? `; slots ${m.slots.map((x) => `${x.index}: ${x.map ?? x.program}`).join(', ')}` : '';
    out(`map ${m.name} (${m.type}) id ${m.id} pinned at ${m.pinned}${slots}\n`);
  }
  for (const w of loaded.warnings) process.stderr.write(`warning: loaded without BTF: ${w}\n`);
  const unattached = spec.programs.filter((p) => !failed.some((f) => f.name === p.name) && !(loaded.programs as { link?: string; name: string }[]).find((x) => x.name === p.name)?.link);
  const later = unattached.filter((p) => p.def.attach === 'cgroup' || attachable(p));
  const never = unattached.filter((p) => !later.includes(p));
  const list = (ps: ProgramObjectSpec[]) => ps.map((p) => `${p.name} (${p.section})`).join(', ');
  if (later.length) out(`not attached: ${list(later)}; ${later.some((p) => p.def.attach === 'cgroup') ? 'use --attach-cgroup PATH for cgroup programs' : 'use --attach'}\n`);
  const run = never.filter((p) => p.type === 'SYSCALL');
  const other = never.filter((p) => p.type !== 'SYSCALL');
  if (run.length) out(`not attached: ${list(run)}; SEC("syscall") programs are run, not attached: sysward bpf prog run PINNED-PATH\n`);
  if (other.length) out(`not attached: ${list(other)}; sysward cannot attach these from their section name (a uprobe needs uprobe/BINARY:FUNC); they stay loaded and pinned\n`);
  return failed.length ? 1 : 0;
}

/** What --attach attaches: the section names its target (a uprobe without BINARY:FUNC does not). */
const attachable = (p: ProgramObjectSpec): boolean =>
  ['raw_tracepoint', 'tracepoint', 'btf'].includes(p.def.attach) || (isProbeSection(p.def.prefix) && p.attachTarget !== '');

const progInfo = (id: number): ProgramInfo | undefined => {
  const fd = getFdById(Cmd.PROG_GET_FD_BY_ID, id, 'program');
  if (!fd) return undefined;
  try { return Program.fromFD(fd).info(); } finally { fd.close(); }
};

/** sysward bpf prog ls|dump … */
export function runProg(argv: string[]): number {
  if (argv[0] === '--help' || argv[0] === '-h') { out(PROG_HELP); return 0; }
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(`bpf prog ${sub ?? ''}`.trim(), rest, {
    json: { type: 'boolean' }, opcodes: { type: 'boolean' }, linum: { type: 'boolean' },
    'data-in': { type: 'string' }, 'ctx-in': { type: 'string' }, repeat: { type: 'string' },
  });
  if (values.help || sub === undefined) { out(PROG_HELP); return sub === undefined ? 2 : 0; }
  switch (sub) {
    case 'ls': case 'list': case 'show': {
      const progs: ProgramInfo[] = [];
      for (const id of programIds()) { const p = progInfo(id); if (p) progs.push(p); }
      if (values.json) { printJson(progs); return 0; }
      // bpftool's layout: "ID: TYPE  name NAME  tag TAG" then the details indented.
      for (const p of progs) {
        out(`${p.id}: ${p.typeName.toLowerCase()}  name ${p.name || '-'}  tag ${p.tag}\n`);
        out(`\tloaded by uid ${p.createdByUid}\n\txlated ${p.xlatedBytes}B  jited ${p.jitedBytes}B${p.mapIds.length ? `  map_ids ${p.mapIds.join(',')}` : ''}\n`);
        if (p.runCount) out(`\trun_cnt ${p.runCount}  run_time_ns ${p.runTimeNs}\n`);
      }
      return 0;
    }
    case 'dump': {
      using p = openProgram(positionals[0], 'dump');
      const id = p.info().id;
      if (values.json) {
        const { lines, functions } = programSourceLines(p.handle);
        printJson({ id, instructions: decodeInstructions(p.xlated()), sourceLines: Object.fromEntries(lines), functions: Object.fromEntries(functions) });
        return 0;
      }
      out(dumpXlated(p.handle, { opcodes: values.opcodes ?? false, linum: values.linum ?? false }));
      return 0;
    }
    case 'run': {
      const repeat = values.repeat === undefined ? undefined : Number(values.repeat);
      if (repeat !== undefined && (!Number.isInteger(repeat) || repeat < 1)) throw new UsageError(`--repeat ${values.repeat}: give a whole number of runs, 1 or more`);
      const file = (flag: string, path: string | undefined) => {
        if (path === undefined) return undefined;
        try { return readFileSync(path === '-' ? 0 : path); } catch (e) { throw new UsageError(`--${flag} ${path}: ${(e as Error).message}`); }
      };
      const dataIn = file('data-in', values['data-in']);
      const ctx = file('ctx-in', values['ctx-in']);
      using p = openProgram(positionals[0], 'run');
      const info = p.info();
      if (info.typeName === 'SYSCALL' && repeat && repeat > 1) throw new UsageError('SEC("syscall") programs run once per call (the kernel refuses --repeat); loop in the shell instead');
      const data = dataIn ?? (CONTEXT_ONLY.has(info.typeName) ? null : undefined);
      const r = p.testRun({ data, ...(ctx ? { ctx } : {}), ...(repeat ? { repeat } : {}) });
      if (values.json) { printJson({ id: info.id, name: info.name, retval: r.retval, durationNs: r.durationNs }); return 0; }
      out(`Return value: ${r.retval}, duration${repeat && repeat > 1 ? ' (average)' : ''}: ${r.durationNs}ns\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown bpf prog subcommand "${sub}"; use ls, dump or run`);
  }
}

/** sysward bpf map dump ID */
export function runMap(argv: string[]): number {
  if (argv[0] === '--help' || argv[0] === '-h') { out(MAP_HELP); return 0; }
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(`bpf map ${sub ?? ''}`.trim(), rest, { json: { type: 'boolean' } });
  if (values.help || sub === undefined) { out(MAP_HELP); return sub === undefined ? 2 : 0; }
  if (sub !== 'dump') throw new UsageError(`unknown bpf map subcommand "${sub}"; use dump`);
  let id = Number(positionals[0]);
  if (positionals[0]?.startsWith('/')) { using pinned = BpfMap.openPinnedBytes(positionals[0]); id = pinned.info().id; }
  if (!Number.isInteger(id) || id <= 0) throw new UsageError('bpf map dump needs a map id or a pinned path; list maps with `sysward bpf maps`');
  const m = readMapDecoded(id);
  if (values.json) { printJson(m); return 0; }
  const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? (x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString()) : x));
  for (const e of m.entries) out(`${show(e.key)}: ${show(e.value)}\n`);
  if (!m.typed) process.stderr.write(`map ${id} has no BTF: keys and values are hex\n`);
  return 0;
}
