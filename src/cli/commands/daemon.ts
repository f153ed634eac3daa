import { spawnSync } from 'node:child_process';
import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { requireRoot } from '../root.js';
import { Daemon, DEFAULT_LISTEN } from '../../daemon/daemon.js';
import { DEFAULT_CONFIG_DIR } from '../../daemon/config.js';
import { DEFAULT_STATE_DIR } from '../../daemon/desired.js';
import { DEFAULT_POLL_MS, DEFAULT_SETTLE_MS } from '../../daemon/daemon.js';
import { out } from '../output.js';
import type { ListenOptions } from '../../daemon/http.js';
import { HostCheck } from '../../daemon/host-check.js';

const DEFAULT_EVENTS = '/var/log/sysward/audit.jsonl';

/**
 * Under systemd with Type=notify, say that the guards are in force: systemd then orders the
 * container runtimes after it for real, and sends ExecReload (SIGHUP) only after this point.
 */
function notifySystemdReady(): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const r = spawnSync('systemd-notify', ['--ready', `--pid=${process.pid}`], { stdio: 'ignore', timeout: 5000 });
  if (r.status !== 0) process.stderr.write(`sysward daemon: systemd-notify --ready failed (${r.error?.message ?? `exit ${r.status}`}); with Type=notify systemd will time the start out\n`);
}

function parseListen(s: string): { host: string; port: number } | null {
  if (s === 'none' || s === 'off') return null;
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(s);
  if (!m) throw new UsageError(`--listen ${s}: give HOST:PORT (e.g. 127.0.0.1:${DEFAULT_LISTEN.port}), PORT, or none`);
  const host = m[1] || DEFAULT_LISTEN.host;
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`--listen ${s}: port ${port} is out of range`);
  return { host, port };
}

function withAllowedHosts(listen: { host: string; port: number } | null, names: string[] | undefined): ListenOptions | null {
  if (!listen || !names?.length) return listen;
  for (const n of names) if (n !== '*' && HostCheck.nameOf(n) !== n.toLowerCase()) throw new UsageError(`--allow-host ${n}: give a host name as a browser's address bar has it (no port, no scheme), or *`);
  return { ...listen, allowHosts: names };
}

/** The daemon's options (exported so deploy/ manifests can be checked against them). */
export const DAEMON_OPTIONS = {
  config: { type: 'string' }, listen: { type: 'string' }, events: { type: 'string' },
  'events-max-bytes': { type: 'string' }, 'events-keep': { type: 'string' },
  'events-keep-first': { type: 'string' }, stdout: { type: 'boolean' },
  'bpf-stats': { type: 'boolean' }, teardown: { type: 'boolean' }, 'poll-ms': { type: 'string' },
  'settle-ms': { type: 'string' }, 'state-dir': { type: 'string' },
  'allow-host': { type: 'string', multiple: true },
} as const;

const command: Command = {
  name: 'daemon',
  summary: 'the long-running service (npm start)',
  help: `usage: sysward daemon [--config DIR] [--listen HOST:PORT] [--events FILE] [options]
       sysward daemon --teardown

Apply every policy in the config directory (default ${DEFAULT_CONFIG_DIR}; with no policy there,
the built-in default: container-host on every container cgroup, audit-all on the host), keep them
in force, write the audit events, serve a dashboard, Prometheus metrics and a health endpoint on
loopback.
Needs root.

- Reloads on SIGHUP and when a file in the config directory changes. A policy that does not parse
  or that the kernel refuses is logged with its error and its guard keeps the last good policy,
  across restarts too (saved in the state directory).
- SIGUSR1 reopens the audit log (logrotate's postrotate); a log renamed, deleted or truncated
  under it is followed at the next event anyway. It writes whole lines only; while it cannot
  write (a full disk), it says so once and /healthz answers 503.
- Reconciles: compares what it should enforce with what the kernel has (programs, links on each
  cgroup, pins) on every cgroup or config change and every --poll-ms, and puts back what differs:
  a guard removed or detached, a guarded cgroup removed and made again (a service restart), a
  scope cgroup that did not exist yet. /healthz answers 503 with the reason while a configured
  guard cannot be put in force.
- A missing config directory changes nothing (at start with no saved state: the built-in
  default); an empty one means the built-in default. Guards no longer configured are removed
  once the config has been unchanged for --settle-ms, as are changes that may lift a refusal
  (a file read while it is being written must not lift the rules below the cut).
- New container cgroups are guarded as they appear.
- Stopping the daemon (SIGTERM, kill -9, a crash) leaves every guard pinned and enforcing; the next
  daemon adopts them without a gap. --teardown removes the guards the daemon applied.

options:
  --config DIR          policy files (*.yaml) [${DEFAULT_CONFIG_DIR}]
  --listen HOST:PORT    dashboard (/), metrics (/metrics), health (/healthz)
                        [${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}]; "none" to disable
  --allow-host NAME     also answer requests for this host name (repeatable; "*": any). By
                        default only addresses, localhost and this host's name (DNS rebinding)
  --events FILE         audit log, JSON lines, rotated by size [${DEFAULT_EVENTS}]; "none" to disable
  --events-max-bytes N  rotate past N bytes [10485760]; 0: never (logrotate rotates it)
  --events-keep N       rotated files kept [5]
  --events-keep-first MINUTES
                        a flood rotating through every kept file within MINUTES keeps the file
                        it began in as FILE.first [60]; 0 to disable
  --stdout              also print each event as a JSON line on stdout
  --state-dir DIR       where the last good desired state is saved [${DEFAULT_STATE_DIR}]; "none"
  --poll-ms N           reconcile and re-read the config at least this often [${DEFAULT_POLL_MS}]
  --settle-ms N         remove unconfigured guards, and apply changes that lift refusals, once the
                        config has been unchanged this long [${DEFAULT_SETTLE_MS}]
  --bpf-stats           keep the kernel's BPF run-time statistics on (program run count and time)
  --teardown            remove the guards the daemon applied, then exit
  -h, --help
`,
  async run(argv) {
    const { values } = parse('daemon', argv, DAEMON_OPTIONS, false);
    requireRoot(values.teardown ? 'daemon --teardown' : 'daemon', 'it loads eBPF programs, attaches them to cgroups and pins them in /sys/fs/bpf (or install it as deploy/systemd/sysward.service)');
    if (values.teardown) {
      const removed = Daemon.teardown();
      out(removed.length ? `removed ${removed.join(', ')}\n` : 'no guard applied by the daemon\n');
      return 0;
    }
    const int = (name: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} ${v}: give a whole number`);
      return n;
    };
    const events = values.events ?? DEFAULT_EVENTS;
    const maxBytes = int('events-max-bytes', values['events-max-bytes']);
    const keep = int('events-keep', values['events-keep']);
    const keepFirst = int('events-keep-first', values['events-keep-first']);
    const poll = int('poll-ms', values['poll-ms']);
    const settle = int('settle-ms', values['settle-ms']);
    const stateDir = values['state-dir'] ?? DEFAULT_STATE_DIR;
    const daemon = new Daemon({
      ...(values.config ? { configDir: values.config } : {}),
      listen: withAllowedHosts(values.listen === undefined ? DEFAULT_LISTEN : parseListen(values.listen), values['allow-host']),
      ...(events !== 'none' ? { eventsFile: events } : {}),
      ...(maxBytes !== undefined ? { eventsMaxBytes: maxBytes } : {}),
      ...(keep !== undefined ? { eventsKeep: keep } : {}),
      ...(keepFirst !== undefined ? { eventsKeepFirstMs: keepFirst * 60_000 } : {}),
      ...(poll !== undefined ? { pollMs: poll } : {}),
      ...(settle !== undefined ? { settleMs: settle } : {}),
      ...(stateDir !== 'none' ? { stateDir } : {}),
      stdoutEvents: values.stdout ?? false,
      bpfStats: values['bpf-stats'] ?? false,
    });
    // SIGTERM / SIGINT from the start (systemd may stop a unit that is still starting): once
    // start() is done the daemon stops cleanly instead of dying mid-apply.
    let stopping: string | undefined;
    let onStop: (sig: string) => void = (sig) => { stopping ??= sig; };
    process.once('SIGTERM', () => onStop('SIGTERM'));
    process.once('SIGINT', () => onStop('SIGINT'));
    // A bug that escapes must end the process (systemd or the DaemonSet restarts it and the guards
    // stay pinned meanwhile): left to Node.js, a reader waiting on a worker thread keeps the
    // process alive but deaf, answering nothing and reconciling nothing.
    const fatal = (what: string) => (e: unknown) => {
      process.stderr.write(`${new Date().toISOString()} sysward daemon: ${what}: ${(e as Error)?.stack ?? String(e)}\nsysward daemon: exiting; the guards stay in force until it is restarted\n`);
      process.exit(1);
    };
    process.on('uncaughtException', fatal('uncaught exception'));
    process.on('unhandledRejection', fatal('unhandled rejection'));
    await daemon.start();
    notifySystemdReady();
    await new Promise<void>((resolve) => {
      onStop = (sig: string) => {
        process.stderr.write(`${new Date().toISOString()} sysward daemon: ${sig}: stopping; the guards stay in force\n`);
        void daemon.stop().then(resolve);
      };
      if (stopping) onStop(stopping);
    });
    return 0;
  },
};
export default command;
