// Dispatch to one small file per command. Exit status: 0 success, 1 ran and found a problem,
// 2 bad usage or input. Errors are one or two lines; SYSWARD_DEBUG=1 adds the stack.
// Apart from the table of commands (main.ts), so that each command's bundle holds this and its one
// command only (scripts/bundle.mjs).
import type { Command } from './command.js';
import { UsageError } from './errors.js';
import { out } from './output.js';

/** Command name → its file, loaded only when run. */
export type Commands = Record<string, () => Promise<Command>>;

/** Errors about what the user gave us (exit 2); anything else that fails is exit 1. */
const INPUT_ERRORS = new Set(['UsageError', 'PolicyError', 'GuardInputError', 'CompileError', 'SysctlNameError', 'UnknownProfileError', 'PolicyTestError']);

const HELP = `sysward — guard a Linux host's kernel tunables (/proc/sys) with eBPF

usage: sysward <command> [options]

commands:
  daemon       the long-running service: applies /etc/sysward, audit log, metrics (npm start)
  run          run a command in a fresh cgroup guarded by a policy
  guard        apply, list and remove guards that outlive the command (apply | ls | rm)
  events       audit events of the applied guards (-f follows)
  check        compare the host's current values with a profile (no root needed)
  explain      the verdict a policy gives an access and which rule decides (no root needed)
  test         policy unit tests: cases with expected verdicts (no root needed)
  learn        the narrowest policy (and its tests) allowing what a command or an audit log did
  demo         a newcomer's tour: classic container-escape writes, refused, with their events
  probe        what this kernel supports (cgroup v2, bpffs, program and map types, helpers)
  bpf          toolkit commands: list programs, maps and links; disassemble a program
  cgroups      the cgroup v2 tree: processes, controllers, pressure, eBPF programs, containers
  psi          pressure stall information, system-wide and per cgroup; live; PSI triggers
  softirqs     softirq rates per CPU and type, hard IRQs; time per softirq type with eBPF
  df           disk usage, as GNU df shows it (-h, -T, -i)

Every command takes --help. Exit status: 0 success, 1 a problem found, 2 bad usage or input
(or no root for a command that needs it).
`;

/** Run the command argv names, from `commands`; the exit status. */
export async function dispatch(argv: string[], commands: Commands): Promise<number> {
  // Output goes through out() (./output.ts), which exits quietly when `sysward … | head` closes the
  // pipe early.
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const [{ readFileSync }, { join }, { packageRoot }] = await Promise.all([import('node:fs'), import('node:path'), import('../package-root.js')]);
    out(`${(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version}\n`);
    return 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(`sysward: unknown command "${name}"; run \`sysward --help\` for the list\n`);
    return 2;
  }
  const command = await load();
  // df's -h means --human-readable, as in coreutils; its help is --help only.
  if (name === 'df') rest.forEach((a, i) => { if (a === '-h') rest[i] = '--human-readable'; });
  if ((rest.includes('--help') || rest.includes('-h')) && !command.ownHelp?.(rest)) {
    out(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`sysward ${name}: ${err.message}\n`);
    if (process.env.SYSWARD_DEBUG) {
      const log = (e as { log?: unknown }).log;
      if (typeof log === 'string' && log) process.stderr.write(`verifier log:\n${log}\n`);
      process.stderr.write(`${err.stack}\n`);
    }
    return e instanceof UsageError || INPUT_ERRORS.has(err.name) ? 2 : 1;
  }
}
