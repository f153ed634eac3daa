import { parse, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { Daemon, DEFAULT_LISTEN } from '../../daemon/daemon.js';
import { DEFAULT_CONFIG_DIR } from '../../daemon/config.js';

const DEFAULT_EVENTS = '/var/log/sysward/audit.jsonl';

function parseListen(s: string): { host: string; port: number } | null {
  if (s === 'none' || s === 'off') return null;
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(s);
  if (!m) throw new UsageError(`--listen ${s}: give HOST:PORT (e.g. 127.0.0.1:${DEFAULT_LISTEN.port}), PORT, or none`);
  const host = m[1] || DEFAULT_LISTEN.host;
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`--listen ${s}: port ${port} is out of range`);
  return { host, port };
}

/** The daemon's options (exported so deploy/ manifests can be checked against them). */
export const DAEMON_OPTIONS = {
  config: { type: 'string' }, listen: { type: 'string' }, events: { type: 'string' },
  'events-max-bytes': { type: 'string' }, 'events-keep': { type: 'string' }, stdout: { type: 'boolean' },
  'bpf-stats': { type: 'boolean' }, teardown: { type: 'boolean' }, 'poll-ms': { type: 'string' },
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
  or that the kernel refuses is logged with its error and its guard keeps the last good policy.
- New container cgroups are guarded as they appear.
- Stopping the daemon (SIGTERM, kill -9, a crash) leaves every guard pinned and enforcing; the next
  daemon adopts them without a gap. --teardown removes the guards the daemon applied.

options:
  --config DIR          policy files (*.yaml) [${DEFAULT_CONFIG_DIR}]
  --listen HOST:PORT    dashboard (/), metrics (/metrics), health (/healthz)
                        [${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}]; "none" to disable
  --events FILE         audit log, JSON lines, rotated by size [${DEFAULT_EVENTS}]; "none" to disable
  --events-max-bytes N  rotate past N bytes [10485760]
  --events-keep N       rotated files kept [5]
  --stdout              also print each event as a JSON line on stdout
  --bpf-stats           keep the kernel's BPF run-time statistics on (program run count and time)
  --teardown            remove the guards the daemon applied, then exit
  -h, --help
`,
  async run(argv) {
    const { values } = parse('daemon', argv, DAEMON_OPTIONS, false);
    if (values.teardown) {
      const removed = Daemon.teardown();
      process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'no guard applied by the daemon\n');
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
    const poll = int('poll-ms', values['poll-ms']);
    const daemon = new Daemon({
      ...(values.config ? { configDir: values.config } : {}),
      listen: values.listen === undefined ? DEFAULT_LISTEN : parseListen(values.listen),
      ...(events !== 'none' ? { eventsFile: events } : {}),
      ...(maxBytes !== undefined ? { eventsMaxBytes: maxBytes } : {}),
      ...(keep !== undefined ? { eventsKeep: keep } : {}),
      ...(poll !== undefined ? { pollMs: poll } : {}),
      stdoutEvents: values.stdout ?? false,
      bpfStats: values['bpf-stats'] ?? false,
    });
    await daemon.start();
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.stderr.write(`${new Date().toISOString()} sysward daemon: ${sig}: stopping; the guards stay in force\n`);
        void daemon.stop().then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return 0;
  },
};
export default command;
