import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { linkIds, mapIds, programIds } from '../../bpf/ids.js';
import { Program, type ProgramInfo } from '../../bpf/prog.js';
import { readMapInfo, type MapInfoData } from '../../bpf/map.js';
import { Link, type LinkInfoData } from '../../bpf/link.js';
import { Cmd, getFdById } from '../../bpf/sys/index.js';
import { decodeInstructions, formatInstructions } from '../../bpf/asm/index.js';
import { xlatedCallName } from '../../bpf/kallsyms.js';
import { AttachType } from '../../bpf/sys/abi.js';

const HELP = `usage: sysward bpf <progs|maps|links|dump> [options]

Toolkit commands for developers: the kernel's eBPF objects, as bpftool shows them. Needs root.

  sysward bpf progs [--json]            loaded programs: id, type, name, tag, runs, maps
  sysward bpf maps [--json]             maps: id, type, name, key/value size, entries
  sysward bpf links [--json]            links: id, type, program, cgroup id, attach type
  sysward bpf dump ID [--opcodes] [--json]
                                        a program's instructions as the kernel holds them
                                        (the text of bpftool prog dump xlated)

Run-time statistics (run count and time) are counted only while kernel.bpf_stats_enabled=1.
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
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
}

const command: Command = {
  name: 'bpf',
  summary: 'toolkit commands: list programs, maps, links; disassemble',
  help: HELP,
  run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parse(`bpf ${sub ?? ''}`.trim(), rest, { json: { type: 'boolean' }, opcodes: { type: 'boolean' } });
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
      case 'dump': {
        const id = Number(positionals[0]);
        if (!Number.isInteger(id) || id <= 0) throw new UsageError('bpf dump needs a program id; list them with `sysward bpf progs`');
        using p = Program.fromId(id);
        const insns = decodeInstructions(p.xlated());
        if (values.json) { printJson({ id, instructions: insns }); return 0; }
        process.stdout.write(formatInstructions(insns, { mapText: (m) => `map[id:${m}]`, callName: xlatedCallName, opcodes: values.opcodes ?? false }));
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown bpf subcommand "${sub}"; use progs, maps, links or dump` : 'bpf needs a subcommand: progs, maps, links or dump; see `sysward bpf --help`');
    }
  },
};
export default command;
