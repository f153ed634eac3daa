import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { linkIds, mapIds, programIds } from '../../bpf/ids.js';
import { Program, type ProgramInfo } from '../../bpf/prog.js';
import { readMapInfo, type MapInfoData } from '../../bpf/map.js';
import { Link, type LinkInfoData } from '../../bpf/link.js';
import { Cmd, getFdById } from '../../bpf/sys/index.js';
import { AttachType } from '../../bpf/sys/abi.js';
import { readFileSync } from 'node:fs';
import {
  ProgramTextError, VmError, VmProgram, VmRingBuf, createVmMap, formatScalar, formatTrace, parseProgramFile, parseProgramHex,
  type VmContext, type VmMap, type VmMapType, type VmRunResult, type VmSysctlRunResult,
} from '../../bpf/vm/index.js';
import { out } from '../output.js';

const HELP = `usage: sysward bpf <progs|maps|links|dump|run> [options]

Toolkit commands for developers: the kernel's eBPF objects, as bpftool shows them (needs root),
and the interpreter that runs a program without root.

  sysward bpf progs [--json]            loaded programs: id, type, name, tag, runs, maps
  sysward bpf maps [--json]             maps: id, type, name, key/value size, entries
  sysward bpf links [--json]            links: id, type, program, cgroup id, attach type
  sysward bpf dump ID [--opcodes] [--linum] [--json]
                                        the same as bpf prog dump ID
  sysward bpf run FILE|- [options]      run a program in sysward's eBPF interpreter (no root)
  sysward bpf load OBJECT.o [--pin DIR] [--attach-cgroup PATH] [--attach] [--set NAME=VALUE]
                                        load an object built by clang -target bpf (libbpf's SEC()
                                        names, BTF maps, global data, CO-RE from the live kernel)
  sysward bpf prog ls|dump|run PROG     programs as bpftool lists, dumps and test-runs them
                                        (PROG: an id or a pinned path; source lines from BTF)
  sysward bpf map dump ID|PATH [--json] a map's entries, decoded by its BTF into objects

Run-time statistics (run count and time) are counted only while kernel.bpf_stats_enabled=1.

bpf run: FILE holds the instructions as hex bytes, 8 per instruction, in any grouping, with
# comments (lines of disassembly are skipped), or raw struct bpf_insn bytes (a .bin); - reads
standard input. Programs are checked first: what the interpreter cannot run exits 2.
  --hex HEX             the instructions inline instead of FILE
  --sysctl NAME         run as a cgroup-sysctl program on an access to NAME (kernel.hostname or
                        kernel/hostname); without it the context is --ctx-hex bytes (or none)
  --write VALUE         the access is a write of VALUE, byte for byte (\\n, \\t, \\xHH escapes;
                        echo and sysctl -w write a trailing \\n); default: a read
  --current VALUE       the current value the helpers see (escapes as --write); default: this
                        host's /proc/sys value
  --current-fails       reading the current value fails (the helper gets -EINVAL)
  --pos N               the file position (ctx->file_pos), default 0
  --ctx-hex HEX         other program types: the context bytes (r1 points at them)
  --map FD:TYPE:KEY:VALUE:ENTRIES
                        an empty map for the program's ld_imm64 of map fd FD; TYPE is hash,
                        array, percpu_hash, percpu_array, lpm_trie, queue, stack or ringbuf
                        (ENTRIES = bytes); repeat for more maps. Ring buffer records are printed.
  --budget N            stop after N instructions (default 1000000)
  --trace               print every executed instruction and the registers it changed
  --json                the result (and trace) as JSON
Exit status: 0 when the program ran (and a sysctl access was allowed), 1 when it refused the
access or faulted (the fault names the instruction), 2 for a bad program or options.
Example: printf 'b7 00 00 00 00 00 00 00\\n95 00 00 00 00 00 00 00\\n' |
  sysward bpf run - --sysctl kernel.hostname --write 'x\\n' --trace
`;

/** Each id, opened and described; objects that vanish meanwhile are skipped. */
function collect<T>(ids: Iterable<number>, describe: (id: number) => T | undefined): T[] {
  const out: T[] = [];
  for (const id of ids) {
    const d = describe(id);
    if (d !== undefined) out.push(d);
  }
  return out;
}

const progInfo = (id: number): ProgramInfo | undefined => {
  const fd = getFdById(Cmd.PROG_GET_FD_BY_ID, id, 'program');
  if (!fd) return undefined;
  try { return Program.fromFD(fd).info(); } finally { fd.close(); }
};
const mapInfo = (id: number): MapInfoData | undefined => {
  const fd = getFdById(Cmd.MAP_GET_FD_BY_ID, id, 'map');
  if (!fd) return undefined;
  try { return readMapInfo(fd); } finally { fd.close(); }
};
const linkInfo = (id: number): LinkInfoData | undefined => {
  const fd = getFdById(Cmd.LINK_GET_FD_BY_ID, id, 'link');
  if (!fd) return undefined;
  try { return new Link(fd).info(); } finally { fd.close(); }
};

const attachName = (t: number) => Object.entries(AttachType).find(([, v]) => v === t)?.[0].toLowerCase() ?? String(t);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
}

const command: Command = {
  name: 'bpf',
  summary: 'toolkit commands: list programs, maps, links; disassemble; run in the interpreter',
  help: HELP,
  ownHelp: (argv) => ['load', 'prog', 'map', 'dump'].includes(argv[0] ?? ''),
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'run') return runInInterpreter(rest);
    // Objects built by clang: the bpftool verbs (src/cli/commands/bpf-object.ts).
    if (sub === 'load' || sub === 'prog' || sub === 'map' || sub === 'dump') {
      const o = await import('./bpf-object.js');
      // `bpf dump ID` is `bpf prog dump ID` (source lines included when the program carries BTF).
      return sub === 'load' ? o.runLoad(rest) : sub === 'prog' ? o.runProg(rest) : sub === 'dump' ? o.runProg(['dump', ...rest]) : o.runMap(rest);
    }
    const { values } = parse(`bpf ${sub ?? ''}`.trim(), rest, { json: { type: 'boolean' }, opcodes: { type: 'boolean' } });
    switch (sub) {
      case 'progs': {
        const progs = collect(programIds(), progInfo);
        if (values.json) { printJson(progs); return 0; }
        table([['ID', 'TYPE', 'NAME', 'TAG', 'RUNS', 'RUN_NS', 'MAPS'], ...progs.map((p) => [String(p.id), p.typeName.toLowerCase(), p.name, p.tag, String(p.runCount), String(p.runTimeNs), p.mapIds.join(',')])]);
        return 0;
      }
      case 'maps': {
        const maps = collect(mapIds(), mapInfo);
        if (values.json) { printJson(maps); return 0; }
        table([['ID', 'TYPE', 'NAME', 'KEY', 'VALUE', 'MAX_ENTRIES'], ...maps.map((m) => [String(m.id), m.typeName.toLowerCase(), m.name, String(m.keySize), String(m.valueSize), String(m.maxEntries)])]);
        return 0;
      }
      case 'links': {
        const links = collect(linkIds(), linkInfo);
        if (values.json) { printJson(links); return 0; }
        table([['ID', 'TYPE', 'PROG', 'CGROUP_ID', 'ATTACH'], ...links.map((l) => [String(l.id), l.typeName.toLowerCase(), String(l.programId), l.cgroupId ? String(l.cgroupId) : '-', l.cgroupId ? attachName(l.attachType) : '-'])]);
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown bpf subcommand "${sub}"; use progs, maps, links, dump or run` : 'bpf needs a subcommand: progs, maps, links, dump or run; see `sysward bpf --help`');
    }
  },
};
export default command;

// ---- bpf run: the interpreter -------------------------------------------------------------------

/** VALUE as bytes: \n \t \r \0 \\ and \xHH escapes, everything else as written (UTF-8). */
function unescapeValue(text: string): Buffer {
  const out: number[] = [];
  const raw = Buffer.from(text);
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x5c || i + 1 >= raw.length) { out.push(c); continue; }
    const n = String.fromCharCode(raw[++i]!);
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, '0': 0, '\\': 0x5c };
    if (n in simple) { out.push(simple[n]!); continue; }
    if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(raw.subarray(i + 1, i + 3).toString())) {
      out.push(parseInt(raw.subarray(i + 1, i + 3).toString(), 16));
      i += 2;
      continue;
    }
    throw new UsageError(`unknown escape "\\${n}" in "${text}"; use \\n, \\t, \\r, \\0, \\\\ or \\xHH`);
  }
  return Buffer.from(out);
}

/** A sysctl name in kernel form: procps's rule (the first separator tells the form). */
function kernelSysctlName(text: string): string {
  const name = text.replace(/^\/proc\/sys\//, '');
  const dot = name.indexOf('.'), slash = name.indexOf('/');
  const dotted = dot >= 0 && (slash < 0 || dot < slash);
  const kernel = dotted ? name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.')) : name;
  if (kernel === '' || kernel.startsWith('/') || kernel.endsWith('/') || kernel.includes('//')) {
    throw new UsageError(`"${text}" is not a sysctl name; write it as sysctl(8) does (kernel.hostname) or as its path below /proc/sys`);
  }
  return kernel;
}

const MAP_TYPES: Record<string, VmMapType> = {
  hash: 'HASH', array: 'ARRAY', percpu_hash: 'PERCPU_HASH', percpu_array: 'PERCPU_ARRAY', lpm_trie: 'LPM_TRIE',
  queue: 'QUEUE', stack: 'STACK', ringbuf: 'RINGBUF',
};

function parseMapOption(spec: string): [number, VmMap] {
  const m = /^(\d+):([a-z_]+):(\d+):(\d+):(\d+)$/i.exec(spec);
  const type = m && MAP_TYPES[m[2]!.toLowerCase()];
  if (!m || !type) {
    throw new UsageError(`--map ${spec}: write FD:TYPE:KEY:VALUE:ENTRIES, e.g. 3:hash:4:8:64 or 4:ringbuf:0:0:4096; TYPE is ${Object.keys(MAP_TYPES).join(', ')}`);
  }
  try {
    return [Number(m[1]), createVmMap({ type, keySize: Number(m[3]), valueSize: Number(m[4]), maxEntries: Number(m[5]), name: `fd${m[1]}` })];
  } catch (e) {
    throw new UsageError(`--map ${spec}: ${(e as Error).message}`);
  }
}

function readProgram(file: string | undefined, hex: string | undefined): Buffer {
  try {
    if (hex !== undefined) {
      if (file !== undefined) throw new UsageError('give the program as FILE or --hex, not both');
      return parseProgramHex(hex);
    }
    if (file === undefined) throw new UsageError('bpf run needs a program: a FILE of hex or raw instructions, - for stdin, or --hex; see `sysward bpf --help`');
    let content: Buffer;
    try {
      content = readFileSync(file === '-' ? 0 : file);
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give an existing file, or - for stdin`);
    }
    return parseProgramFile(content);
  } catch (e) {
    if (e instanceof ProgramTextError) throw new UsageError(`${file ?? '--hex'}: ${e.message}`);
    throw e;
  }
}

function sysctlContext(values: { sysctl?: string; write?: string; current?: string; 'current-fails'?: boolean; pos?: string }): VmContext {
  const name = kernelSysctlName(values.sysctl!);
  let currentValue: Buffer | null;
  if (values['current-fails']) {
    if (values.current !== undefined) throw new UsageError('give --current or --current-fails, not both');
    currentValue = null;
  } else if (values.current !== undefined) {
    currentValue = unescapeValue(values.current);
  } else {
    try { currentValue = readFileSync(`/proc/sys/${name}`); } catch { currentValue = null; }
  }
  const pos = values.pos === undefined ? 0 : Number(values.pos);
  if (!Number.isSafeInteger(pos) || pos < 0) throw new UsageError(`--pos ${values.pos}: give a non-negative integer`);
  return {
    kind: 'sysctl', name, write: values.write !== undefined, filePos: pos, currentValue,
    ...(values.write !== undefined ? { newValue: unescapeValue(values.write) } : {}),
  };
}

const showBytes = (b: Buffer | null): string => (b === null ? '(none)' : JSON.stringify(b.toString('latin1')));

function runInInterpreter(argv: string[]): number {
  const { values, positionals } = parse('bpf run', argv, {
    hex: { type: 'string' }, sysctl: { type: 'string' }, write: { type: 'string' }, current: { type: 'string' },
    'current-fails': { type: 'boolean' }, pos: { type: 'string' }, 'ctx-hex': { type: 'string' },
    map: { type: 'string', multiple: true }, budget: { type: 'string' }, trace: { type: 'boolean' }, json: { type: 'boolean' },
  });
  if (positionals.length > 1) throw new UsageError(`bpf run takes one program file, got ${positionals.length}`);
  const bytes = readProgram(positionals[0], values.hex);
  const sysctlOnly = ['write', 'current', 'current-fails', 'pos'] as const;
  if (values.sysctl === undefined) {
    const stray = sysctlOnly.find((o) => values[o] !== undefined);
    if (stray) throw new UsageError(`--${stray} describes a sysctl access: give --sysctl NAME too`);
  } else if (values['ctx-hex'] !== undefined) {
    throw new UsageError('give --sysctl or --ctx-hex, not both: a program has one context');
  }
  let ctx: VmContext | undefined;
  if (values.sysctl !== undefined) {
    ctx = sysctlContext(values);
  } else if (values['ctx-hex'] !== undefined) {
    const hex = values['ctx-hex'].replace(/[\s,]|0x/gi, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new UsageError('--ctx-hex: give the context as hex bytes');
    ctx = { kind: 'bytes', bytes: Buffer.from(hex, 'hex') };
  }
  const budget = values.budget === undefined ? undefined : Number(values.budget);
  if (budget !== undefined && (!Number.isSafeInteger(budget) || budget <= 0)) throw new UsageError(`--budget ${values.budget}: give a positive integer`);
  const maps = (values.map ?? []).map(parseMapOption);
  let program: VmProgram;
  try {
    program = new VmProgram(bytes, { mapsByFd: maps });
  } catch (e) {
    // A program the interpreter refuses before running is bad input (exit 2), like a verifier error.
    if (e instanceof VmError) throw new UsageError(e.message);
    throw e;
  }
  const result: VmRunResult | VmSysctlRunResult = program.run({
    ...(ctx ? { ctx } : {}), ...(budget !== undefined ? { budget } : {}), trace: values.trace ?? false,
  });
  const sysctl = 'allowed' in result ? (result as VmSysctlRunResult) : undefined;
  const records = maps.filter(([, m]) => m instanceof VmRingBuf).map(([fd, m]) => ({ fd, records: (m as VmRingBuf).takeRecords() }));
  if (values.json) {
    printJson({
      returnValue: result.returnValue,
      ...(sysctl ? { allowed: sysctl.allowed, filePos: sysctl.filePos, newValue: sysctl.newValue?.toString('latin1') ?? null, newValueUpdated: sysctl.newValueUpdated } : {}),
      ...(result.ctxBytes && result.ctxBytes.length ? { ctx: result.ctxBytes.toString('hex') } : {}),
      instructionsExecuted: result.instructionsExecuted,
      printk: result.printk,
      ...(records.length ? { ringBuffers: records.map((r) => ({ fd: r.fd, records: r.records.map((b) => b.toString('hex')) })) } : {}),
      ...(result.trace ? { trace: result.trace } : {}),
    });
  } else {
    if (result.trace) out(formatTrace(result.trace));
    for (const line of result.printk) out(`printk: ${line}\n`);
    for (const r of records) {
      out(`ring buffer fd ${r.fd}: ${r.records.length} record${r.records.length === 1 ? '' : 's'}\n`);
      for (const b of r.records) out(`  ${b.toString('hex')}\n`);
    }
    const verdict = sysctl ? ` (${sysctl.allowed ? 'allowed' : 'refused: the access fails with EPERM'})` : '';
    out(`return value: ${formatScalar(result.returnValue)}${verdict}\n`);
    if (sysctl) {
      out(`file_pos: ${sysctl.filePos}\n`);
      if (ctx?.kind === 'sysctl' && ctx.write) {
        out(`new value: ${showBytes(sysctl.newValue)}${sysctl.newValueUpdated ? ' (set by the program)' : ''}\n`);
      }
    }
    if (result.ctxBytes && result.ctxBytes.length) out(`ctx: ${result.ctxBytes.toString('hex')}\n`);
    out(`instructions executed: ${result.instructionsExecuted}\n`);
  }
  return sysctl && !sysctl.allowed ? 1 : 0;
}
