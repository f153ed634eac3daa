import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { requireRoot } from '../root.js';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { existsSync } from 'node:fs';
import { guardsDir, listGuards } from '../../guard/runtime/status.js';
import { formatEvent, type GuardEvent } from '../../guard/runtime/events.js';
import { GuardEventStream } from '../../guard/runtime/event-stream.js';
import { guardPins } from '../../guard/runtime/layout.js';
import { checkGuardName } from '../../guard/runtime/names.js';
import { cgroupNamer } from '../../cgroup/containers.js';
import { out } from '../output.js';

const command: Command = {
  name: 'events',
  summary: 'audit events of the applied guards',
  help: `usage: sysward events [-f] [--json] [GUARD...]

Print the audit events the applied guards recorded (refused, audited and would-refuse accesses)
and exit; with -f keep following until interrupted. Cgroups are shown as paths, containers as
runtime:id. Reading takes the events out of the guard's ring buffer: run one reader at a time
(the daemon, when it runs, is that reader and writes them to its audit log). Needs root (or
access to /sys/fs/bpf); without it, says so and exits 2.

options:
  -f, --follow   keep printing events as they happen
  --json         one JSON object per line
  -h, --help
`,
  async run(argv) {
    const { values, positionals } = parse('events', argv, { follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' } });
    positionals.forEach(checkGuardName);
    // bpffs is mounted mode 0700: to a user, listGuards() would find none while guards are in force.
    requireRoot('events', `guards and their events are pinned in ${DEFAULT_BPFFS}, which only root can read`, { read: guardsDir() });
    const names = positionals.length ? positionals : listGuards();
    if (!names.length) throw new UsageError('no guards applied; apply one with `sysward guard apply -f POLICY`');
    const cgroupName = cgroupNamer(undefined, { idLength: 12 });
    const print = (e: GuardEvent) => { out(values.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`); };
    const streams = names.map((name) => {
      if (!existsSync(guardPins(name).events)) throw new UsageError(`no guard named ${name}; list them with \`sysward guard ls\``);
      // Each event is decoded with the version of the policy that produced it.
      return new GuardEventStream(name, { cgroupName });
    });
    if (!values.follow) {
      for (const s of streams) { s.drain(print); await s.close(); }
      return 0;
    }
    const stop = () => { for (const s of streams) void s.close(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await Promise.all(streams.map((s) => s.consume(print)));
    return 0;
  },
};
export default command;
