import { createWriteStream } from 'node:fs';
import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { policyFrom, policyOptions } from '../policy-arg.js';
import { requireRoot } from '../root.js';
import { runGuarded } from '../../guard/runtime/run.js';
import { formatEvent } from '../../guard/runtime/events.js';
import { DEFAULT_EVENTS_PER_SECOND } from '../../guard/compiler/abi.js';
import { stdoutStream } from '../output.js';

const command: Command = {
  name: 'run',
  summary: 'run a command in a fresh cgroup guarded by a policy',
  help: `usage: sysward run (-f POLICY | --profile NAME) [--namespaces] [--events FILE] [--quiet] -- CMD [ARG...]

Run CMD in a fresh cgroup guarded by the policy (its scope is ignored: the guard applies to CMD and
everything it starts), then remove the cgroup. Refused and audited accesses are reported on stderr
as they happen; --events FILE also writes them as JSON lines. Needs root.

options:
  -f, --file POLICY     a policy file (YAML)
  -p, --profile NAME    a built-in profile: container-host, kspp, audit-all
  --namespaces          start CMD in a mount namespace of its own, bound to the guard: CMD (and
                        what it starts) stays guarded if it moves itself to another cgroup
  --events FILE         write every event as a JSON line to FILE ("-" for stdout)
  -q, --quiet           no event lines on stderr (the summary line stays)
  -h, --help

exit status: CMD's own; 128+N when a signal N ended it; 2 on bad usage, a bad policy, or
without root.

example:
  sysward run -f deny-core-pattern.yaml -- sh -c 'echo x > /proc/sys/kernel/core_pattern'
`,
  async run(argv) {
    const dash = argv.indexOf('--');
    const own = dash < 0 ? argv : argv.slice(0, dash);
    const cmd = dash < 0 ? [] : argv.slice(dash + 1);
    const { values, positionals } = parse('run', own, { ...policyOptions, events: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, namespaces: { type: 'boolean' } });
    const commandLine = cmd.length ? cmd : positionals;
    if (commandLine.length === 0) throw new UsageError('run needs a command after --, e.g. sysward run -f policy.yaml -- sh -c "…"');
    const policy = await policyFrom(values, 'run');
    // Root only: the command joins its cgroup by writing cgroup.procs, which the kernel also checks
    // against the root cgroup's (root's own), and a child that is not root keeps no capabilities
    // across exec (ambient ones aside).
    requireRoot('run', 'it makes a cgroup for the command and guards it with an eBPF program, which only root can do');
    const out = values.events === '-' ? stdoutStream() : values.events ? createWriteStream(values.events, { flags: 'a' }) : undefined;
    const r = await runGuarded(policy, commandLine, {
      ownNamespace: !!values.namespaces,
      onEvent: (e) => {
        if (!values.quiet) process.stderr.write(`sysward: ${formatEvent(e)}\n`);
        out?.write(`${JSON.stringify(e)}\n`);
      },
    });
    if (out && out !== process.stdout) await new Promise<void>((res) => { (out as NodeJS.WritableStream).end(() => res()); });
    // Events, plus the accesses counted but not sent as events (over the per-kind event rate).
    const n = (verdict: string) => r.events.filter((e) => e.verdict === verdict).length + (r.summarised[verdict] ?? 0);
    const refused = n('refused'), wouldRefuse = n('would-refuse'), audited = n('audited');
    const summarised = Object.values(r.summarised).reduce((t, x) => t + x, 0);
    const parts = [`${refused} refused`, ...(wouldRefuse ? [`${wouldRefuse} would have been refused (audit mode)`] : []), `${audited} audited`];
    if (summarised) parts.push(`${summarised} of them counted without an event (over ${DEFAULT_EVENTS_PER_SECOND} events a second of one kind)`);
    if (r.dropped) parts.push(`${r.dropped} events dropped (ring buffer full)`);
    process.stderr.write(`sysward: ${policy.name}: ${parts.join(', ')}; command exited with status ${r.status}\n`);
    return r.status;
  },
};
export default command;
