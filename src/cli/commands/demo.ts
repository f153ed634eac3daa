import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse, type Command } from '../command.js';
import { requireRoot } from '../root.js';
import { loadProfile } from '../../guard/profiles/index.js';
import { decide } from '../../guard/reference.js';
import { runGuarded } from '../../guard/runtime/run.js';
import { formatEvent, type GuardEvent } from '../../guard/runtime/events.js';
import { dottedName } from '../../sysctl/names.js';
import { out } from '../output.js';

/** The classic writes a compromised container tries, and one it may legitimately make. */
const ATTEMPTS: { key: string; value: string; why: string }[] = [
  { key: 'kernel/core_pattern', value: '|/tmp/sysward-demo-escape %p', why: 'runs /tmp/sysward-demo-escape as host root on the next crash' },
  { key: 'kernel/modprobe', value: '/tmp/sysward-demo-escape', why: 'runs it as host root on the next module autoload' },
  { key: 'kernel/randomize_va_space', value: '0', why: 'turns off ASLR for every new process on the host' },
  { key: 'kernel/kptr_restrict', value: '0', why: 'shows kernel addresses to every user' },
  { key: 'vm/panic_on_oom', value: '1', why: 'one memory-hungry container panics the whole host' },
  { key: 'net/ipv4/ip_local_port_range', value: '20000 40000', why: 'namespaced and Kubernetes-safe: the container\'s own' },
];

const command: Command = {
  name: 'demo',
  summary: "a newcomer's tour",
  help: `usage: sysward demo [--profile NAME]

A tour in one minute: a shell in a fresh cgroup and private UTS / network / IPC / mount namespaces,
guarded by the container-host profile, tries the classic container-escape writes (core_pattern,
modprobe, ASLR, kptr_restrict, panic_on_oom) and one safe namespaced write. You see each refused
with EPERM, the safe one allowed, and the audit events the kernel reported. Needs root (without
it, says so and exits 2).

Nothing on the host changes: the writes are refused in the kernel, and the demo checks the
host's values afterwards (and would put them back and say so if any had changed).
`,
  async run(argv) {
    const { values } = parse('demo', argv, { profile: { type: 'string', short: 'p' } }, false);
    const policy = loadProfile(values.profile ?? 'container-host');
    requireRoot('demo', 'it runs a shell in a fresh cgroup and private namespaces, guarded by an eBPF program, which only root can do');
    // Keys this kernel has (kernel.modprobe needs CONFIG_MODULES), and of the host-wide ones only
    // those the policy refuses: then the worst case is a refused write.
    const present = ATTEMPTS.filter((a) => existsSync(`/proc/sys/${a.key}`));
    const tried = present.filter((a) => a.key.startsWith('net/') || decide(policy, { key: a.key, write: true, value: a.value }).verdict === 'refused');
    const globals = tried.filter((a) => !a.key.startsWith('net/'));
    const before = new Map(globals.map((a) => [a.key, readFileSync(`/proc/sys/${a.key}`, 'utf8')]));
    const script = tried.map((a) => `if /bin/echo '${a.value}' > /proc/sys/${a.key} 2>/dev/null; then echo "${a.key} allowed"; else echo "${a.key} refused"; fi`).join('\n');
    out(`sysward demo: a shell in a fresh cgroup, guarded by the ${policy.name} profile, tries:\n\n`);
    const events: GuardEvent[] = [];
    const r = await runGuarded(policy, ['unshare', '--uts', '--net', '--ipc', '--mount', 'sh', '-c', script], { stdio: 'pipe', onEvent: (e) => events.push(e) });
    const outcome = new Map((r.stdout ?? '').trim().split('\n').map((l) => l.split(' ') as [string, string]));
    for (const a of tried) {
      const o = outcome.get(a.key) ?? 'not run';
      out(`  ${o === 'refused' ? 'REFUSED' : o === 'allowed' ? 'allowed' : o}  ${dottedName(a.key.split('/'))} = ${JSON.stringify(a.value)}\n           (${a.why})\n`);
    }
    out(`\naudit events reported by the kernel (sysward events shows them for applied guards):\n`);
    for (const e of events) out(`  ${formatEvent(e)}\n`);
    let changed = 0;
    for (const [key, v] of before) {
      if (readFileSync(`/proc/sys/${key}`, 'utf8') !== v) { writeFileSync(`/proc/sys/${key}`, v); changed++; process.stderr.write(`sysward demo: ${key} changed on the host and was put back: the guard did not hold\n`); }
    }
    out(changed ? '' : '\nThe host is as it was. Next: sysward run -f POLICY -- CMD, or sysward guard apply --profile container-host.\n');
    return changed ? 1 : 0;
  },
};
export default command;
