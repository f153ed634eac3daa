import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { requireRoot } from '../root.js';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { existsSync } from 'node:fs';
import { guardsDir, listGuards } from '../../guard/runtime/status.js';
import { formatEvent, formatSummary, type GuardEvent, type GuardReport } from '../../guard/runtime/events.js';
import { daemonReading } from '../../daemon/announce.js';
import { tailLines } from '../../daemon/audit-tail.js';

/** The events are only where the daemon writes them (not a usage error: exit 1). */
class EventsElsewhereError extends Error { override name = 'EventsElsewhereError'; }
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
runtime:id. A guard's events are read from its ring buffer — unless \`sysward daemon\` reads that
guard: each event goes to one reader only, so then they are read from the daemon's audit log
(the whole current file; with -f what it writes from now on), summary lines included, and the
daemon misses nothing. Read from the ring buffer, the accesses a guard counted over its event
rate (10 a second per kind) are printed as summary lines too (with -f every 10 s and at the end). Needs root (or access to /sys/fs/bpf); without it, says so and exits 2.

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
    const print = (e: GuardEvent | GuardReport) => { out(values.json ? `${JSON.stringify(e)}\n` : `${'type' in e ? formatSummary(e) : formatEvent(e)}\n`); };
    for (const name of names) if (!existsSync(guardPins(name).events)) throw new UsageError(`no guard named ${name}; list them with \`sysward guard ls\``);
    // Guards the daemon reads: its audit log, by file (one daemon per bpffs reads a guard).
    const viaLog = new Map<string, string[]>();
    const direct: string[] = [];
    for (const name of names) {
      const d = daemonReading(name);
      if (!d) { direct.push(name); continue; }
      if (!d.eventsFile) throw new EventsElsewhereError(`the daemon (pid ${d.pid}) reads the events of guard ${name} and writes them to its standard output only (--events none): read them there (journalctl -u sysward, kubectl logs), or start it with --events FILE`);
      process.stderr.write(`sysward events: the daemon (pid ${d.pid}) reads guard ${name}: reading its audit log ${d.eventsFile}\n`);
      viaLog.set(d.eventsFile, [...(viaLog.get(d.eventsFile) ?? []), name]);
    }
    const cgroupName = direct.length ? cgroupNamer(undefined, { idLength: 12 }) : undefined;
    // Each event is decoded with the version of the policy that produced it.
    const streams = direct.map((name) => new GuardEventStream(name, { ...(cgroupName ? { cgroupName } : {}) }));
    const stopped = new AbortController();
    const tails = [...viaLog].map(([file, guards]) => tailLines(file, (line) => {
      let e: GuardEvent | GuardReport;
      try { e = JSON.parse(line) as GuardEvent | GuardReport; } catch { return; }
      if (guards.includes(e.guard)) print(e);
    }, { fromEnd: !!values.follow, follow: !!values.follow, signal: stopped.signal }));
    // Read here (no daemon reads these guards), the accesses counted over the event rate are
    // this command's to summarise: printed, and remembered as reported (as the daemon does).
    const summarise = () => { for (const s of streams) { for (const x of s.summaries()) print(x); s.commitSummaries(); } };
    if (!values.follow) {
      for (const s of streams) s.drain(print);
      summarise();
      for (const s of streams) await s.close();
      await Promise.all(tails);
      return 0;
    }
    const timer = streams.length ? setInterval(summarise, 10_000) : undefined;
    const stop = () => { stopped.abort(); clearInterval(timer); summarise(); for (const s of streams) void s.close(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await Promise.all([...streams.map((s) => s.consume(print)), ...tails]);
    return 0;
  },
};
export default command;
