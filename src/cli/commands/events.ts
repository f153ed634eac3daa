import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { requireRoot } from '../root.js';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { existsSync } from 'node:fs';
import { guardsDir, listGuards } from '../../guard/runtime/status.js';
import { formatEvent, formatSummary, type GuardEvent, type GuardReport } from '../../guard/runtime/events.js';
import { announce, daemonReading, READERS_DIR, withdraw, type DaemonAnnouncement } from '../../daemon/announce.js';
import { tailLines } from '../../daemon/audit-tail.js';

/** How often -f looks for a daemon that has started reading a guard it reads (the daemon waits for the handover). */
const HANDOVER_POLL_MS = 100;

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
daemon misses nothing. A daemon that starts while -f reads a ring buffer waits for it to switch to
its audit log (said on stderr) before it reads the guard itself. Read from the ring buffer, the
accesses a guard counted over its event rate (10 a second per kind) are printed as summary lines
too (with -f every 10 s and at the end). Needs root (or access to /sys/fs/bpf); without it, says
so and exits 2.

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
    const viaDaemon = (name: string, d: DaemonAnnouncement) => {
      if (!d.eventsFile) throw new EventsElsewhereError(`the daemon (pid ${d.pid}) reads the events of guard ${name} and writes them to its standard output only (--events none): read them there (journalctl -u sysward, kubectl logs), or start it with --events FILE`);
      process.stderr.write(`sysward events: the daemon (pid ${d.pid}) reads guard ${name}: reading its audit log ${d.eventsFile}\n`);
      viaLog.set(d.eventsFile, [...(viaLog.get(d.eventsFile) ?? []), name]);
    };
    let direct: string[] = [];
    for (const name of names) {
      const d = daemonReading(name);
      if (d) viaDaemon(name, d); else direct.push(name);
    }
    // The ring buffers this reads, said while it reads them (READERS_DIR): said before reading, then
    // looked again, so a daemon that starts meanwhile either sees this and waits for the handover
    // below, or is seen here (each says so before it looks at the other).
    const say = (guards: string[]) => { if (guards.length) announce({ pid: process.pid, bpffs: DEFAULT_BPFFS, guards }, READERS_DIR); else withdraw(process.pid, READERS_DIR); };
    process.once('exit', () => withdraw(process.pid, READERS_DIR));
    const announced = direct.length;
    if (announced) say(direct);
    direct = direct.filter((name) => { const d = daemonReading(name); if (d) viaDaemon(name, d); return !d; });
    if (direct.length < announced) say(direct);
    const cgroupName = direct.length ? cgroupNamer(undefined, { idLength: 12 }) : undefined;
    // Each event is decoded with the version of the policy that produced it.
    const streams = new Map(direct.map((name) => [name, new GuardEventStream(name, { ...(cgroupName ? { cgroupName } : {}) })]));
    const stopped = new AbortController();
    const tail = (file: string, guards: string[]) => tailLines(file, (line) => {
      let e: GuardEvent | GuardReport;
      try { e = JSON.parse(line) as GuardEvent | GuardReport; } catch { return; }
      if (guards.includes(e.guard)) print(e);
    }, { fromEnd: !!values.follow, follow: !!values.follow, signal: stopped.signal });
    const tails = [...viaLog].map(([file, guards]) => tail(file, guards));
    // Read here (no daemon reads these guards), the accesses counted over the event rate are
    // this command's to summarise: printed, and remembered as reported (as the daemon does).
    const summarise = () => { for (const s of streams.values()) { for (const x of s.summaries()) print(x); s.commitSummaries(); } };
    if (!values.follow) {
      for (const s of streams.values()) s.drain(print);
      summarise();
      for (const s of streams.values()) await s.close();
      say([]);
      await Promise.all(tails);
      return 0;
    }
    // A daemon that starts reading a guard read here: this stops taking its events (what the ring
    // buffer holds is left to the daemon) and follows the daemon's log for it from now on.
    const handOver = (name: string, d: DaemonAnnouncement) => {
      const s = streams.get(name);
      if (!s) return;
      streams.delete(name);
      void s.close();
      say([...streams.keys()]);
      // Nothing left to read here: the timers would keep the process waiting for nothing.
      if (!streams.size) { clearInterval(watch); clearInterval(timer); }
      if (!d.eventsFile) {
        process.stderr.write(`sysward events: the daemon (pid ${d.pid}) now reads guard ${name} and writes its events to its standard output only: no longer following it here\n`);
        return;
      }
      process.stderr.write(`sysward events: the daemon (pid ${d.pid}) now reads guard ${name}: following its audit log ${d.eventsFile}\n`);
      tails.push(tail(d.eventsFile, [name]));
    };
    const watch = streams.size ? setInterval(() => { for (const name of [...streams.keys()]) { const d = daemonReading(name); if (d) handOver(name, d); } }, HANDOVER_POLL_MS) : undefined;
    const timer = streams.size ? setInterval(summarise, 10_000) : undefined;
    const stop = () => { stopped.abort(); clearInterval(timer); clearInterval(watch); summarise(); for (const s of streams.values()) void s.close(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const consumed = [...streams.values()].map((s) => s.consume(print));
    // Tails begun by a handover are waited for too.
    await Promise.all(consumed);
    for (let n = 0; n < tails.length;) { const m = tails.length; await Promise.all(tails.slice(n, m)); n = m; }
    return 0;
  },
};
export default command;
