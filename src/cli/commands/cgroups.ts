import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { findCgroup2Mount } from '../../cgroup/hierarchy.js';
import { cgroupTree, filterTree, type CgroupNode } from '../../observe/cgroups.js';
import { formatPercent, table, treePrefixes } from '../../observe/format.js';
import { Program } from '../../bpf/prog.js';
import { out } from '../output.js';

const HELP = `usage: sysward cgroups [PATH] [--depth N] [--bpf] [--containers] [--populated] [--json]

The cgroup v2 tree (from PATH, relative to the cgroup v2 mount, default the root): per cgroup its
processes, controllers, pressure (PSI, "some" avg10 per resource: the share of the last 10 s in
which some task waited), container id, and the eBPF programs attached to it (type, flags, id,
name, and the sysward guard that owns it), as \`bpftool cgroup tree\` lists them. On a hybrid host,
also which v1 controllers are mounted. Listing programs needs root; the rest does not.

options:
  --depth N        levels below PATH (0: PATH only)
  --bpf            only cgroups with programs attached (and their ancestors)
  --containers     only container cgroups (and their ancestors)
  --populated      only cgroups with tasks in them or below
  --json           the tree as JSON (docs/observe.md has the schema)
  -h, --help

exit status: 0 shown (a non-root user gets everything but the programs, with a note), 2 bad usage.
`;

/** Program id → guard name, for the pinned sysward guards (root only; none when unreadable). */
async function guardOwners(): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  if (process.getuid?.() !== 0) return owners;
  const [{ guardsDir, listGuards }, { guardPins }] = await Promise.all([import('../../guard/runtime/status.js'), import('../../guard/runtime/layout.js')]);
  if (!existsSync(guardsDir())) return owners;
  for (const name of listGuards()) {
    try { using p = Program.openPinned(guardPins(name).prog); owners.set(p.info().id, name); } catch { /* removed meanwhile */ }
  }
  return owners;
}

const label = (n: CgroupNode, top: boolean): string => {
  const name = top ? n.path : n.path.slice(n.path.lastIndexOf('/') + 1);
  return n.container ? `${name}  [${n.container.runtime} ${n.container.id.slice(0, 12)}]` : name;
};

const command: Command = {
  name: 'cgroups',
  summary: 'the cgroup v2 tree: processes, controllers, pressure, attached eBPF programs, containers',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parse('cgroups', argv, {
      depth: { type: 'string' }, bpf: { type: 'boolean' }, containers: { type: 'boolean' }, populated: { type: 'boolean' }, json: { type: 'boolean' },
    });
    if (positionals.length > 1) throw new UsageError('cgroups takes one PATH; see `sysward cgroups --help`');
    const depth = values.depth === undefined ? undefined : Number(values.depth);
    if (depth !== undefined && (!Number.isInteger(depth) || depth < 0)) throw new UsageError(`--depth wants a whole number >= 0, not "${values.depth}"`);
    const mount = findCgroup2Mount();
    let start = positionals[0] ?? '/';
    if (isAbsolute(start) && (start === mount || start.startsWith(`${mount}/`))) start = `/${relative(mount, start)}`;
    if (!existsSync(join(mount, start))) throw new UsageError(`no cgroup ${start} under ${mount}; PATH is relative to the cgroup v2 mount (e.g. /system.slice)`);

    const tree = cgroupTree(mount, { start, depth, owners: await guardOwners() });
    const shown = filterTree(tree.cgroups, { bpf: values.bpf, containers: values.containers, populated: values.populated });
    if (tree.programsUnavailable) process.stderr.write(`sysward cgroups: programs not listed: ${tree.programsUnavailable}\n`);

    if (values.json) {
      printJson({
        mount: tree.mount, hybrid: tree.hybrid, v1: tree.v1, programsUnavailable: tree.programsUnavailable,
        cgroups: shown.map(({ node, context }) => ({ ...node, id: node.id.toString(), context })),
      });
      return 0;
    }

    const lines: string[] = [];
    lines.push(`cgroup v2 at ${tree.mount}${tree.hybrid ? ` (hybrid host: v1 ${tree.v1.map((h) => h.controllers.join(',')).join(' ')} mounted beside it)` : ''}\n`);
    if (!shown.length) { lines.push('no cgroup matches\n'); out(lines.join('')); return 0; }
    const prefixes = treePrefixes(shown.map(({ node }) => node.depth - shown[0]!.node.depth));
    const rows: string[][] = [['CGROUP', 'PROCS', 'CPU%', 'MEM%', 'IO%', 'CONTROLLERS', 'BPF']];
    const below: string[][] = []; // program lines, printed under their cgroup's row
    shown.forEach(({ node }, i) => {
      const p = node.pressure;
      rows.push([
        `${prefixes[i]!.branch}${label(node, i === 0)}`, node.processes === null ? '-' : String(node.processes),
        formatPercent(p.cpu?.some?.avg10), formatPercent(p.memory?.some?.avg10), formatPercent(p.io?.some?.avg10),
        node.controllers.join(',') || '-', node.programs === null ? '?' : node.programs.length ? String(node.programs.length) : '',
      ]);
      below.push((node.programs ?? []).map((g) => `${prefixes[i]!.continuation}  ${g.attachType} ${g.attachFlags || '-'} id ${g.id} ${g.name || '(no name)'} (${g.type})${g.guard ? `  guard ${g.guard}` : ''}`));
    });
    const text = table(rows, new Set([1, 2, 3, 4])).split('\n');
    lines.push(`${text[0]}\n`);
    shown.forEach((_, i) => {
      lines.push(`${text[i + 1]}\n`);
      for (const l of below[i]!) lines.push(`${l}\n`);
    });
    out(lines.join(''));
    return 0;
  },
};
export default command;
