import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { policyFrom, policyOptions } from '../policy-arg.js';
import { requireRoot } from '../root.js';
import { DEFAULT_BPFFS } from '../../bpf/pin.js';
import { guardStatus, guardsDir, listGuards } from '../../guard/runtime/status.js';
import { checkGuardName } from '../../guard/runtime/names.js';
import { out } from '../output.js';

const HELP = `usage: sysward guard <apply|ls|rm> [options]

Guards that outlive the command: compiled, attached to every cgroup of the policy's scope, pinned
under /sys/fs/bpf/sysward/guards/NAME. Needs root (or a user that owns the bpffs, with CAP_BPF,
CAP_NET_ADMIN and CAP_PERFMON); without it each subcommand says so and exits 2.

  sysward guard apply (-f POLICY | --profile NAME) [--json]
        attach the policy to its scope. Applying a guard of the same name again replaces its
        program atomically on every cgroup it guards (no moment without protection); cgroups
        that left the scope lose it after the new ones have it. A policy that does not parse,
        or that the kernel refuses, leaves the guard in force untouched (exit 2 / 1).
  sysward guard ls [NAME] [--json]
        guards with their scope, rules and counters (allowed / refused / audited per rule)
  sysward guard rm NAME
        detach and remove a guard
`;

const command: Command = {
  name: 'guard',
  summary: 'apply, list and remove guards that outlive the command',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parse(`guard ${sub ?? ''}`.trim(), rest, { ...policyOptions, json: { type: 'boolean' } });
    switch (sub) {
      case 'apply': {
        const policy = await policyFrom(values, 'guard apply');
        requireRoot('guard apply', `it loads an eBPF program, attaches it to cgroups and pins it in ${DEFAULT_BPFFS}`, { write: guardsDir(), caps: ['BPF', 'NET_ADMIN', 'PERFMON'] });
        const { applyGuard } = await import('../../guard/runtime/apply.js');
        const r = applyGuard(policy);
        if (values.json) { printJson(r); return 0; }
        out(`guard ${r.name} ${r.replaced ? 'replaced' : 'applied'}: ${policy.rules.length} rules, mode ${policy.mode}, program id ${r.programId} (${r.instructions} instructions)\n`);
        for (const p of r.attached) out(`  attached to ${p}\n`);
        for (const p of r.updated) out(`  updated on ${p}\n`);
        for (const p of r.detached) out(`  detached from ${p} (no longer in scope)\n`);
        if (r.followId !== undefined) out(`  follows its tasks by mount namespace (program ${r.followId} on the root cgroup): ${r.bindings?.bound ?? 0} namespace${r.bindings?.bound === 1 ? '' : 's'} bound${r.bindings?.refused ? `, ${r.bindings.refused} not bound (the map is full)` : ''}\n`);
        for (const n of r.notes) out(`  note: ${n}\n`);
        return 0;
      }
      case 'ls': {
        positionals.forEach(checkGuardName);
        // bpffs is mounted mode 0700: to a user, listGuards() would find none while guards are in force.
        requireRoot('guard ls', `guards are pinned in ${DEFAULT_BPFFS}, which only root can read`, { read: guardsDir() });
        const names = positionals.length ? positionals : listGuards();
        const all = names.map((n) => guardStatus(n));
        if (values.json) { printJson(all); return 0; }
        if (!all.length) { out('no guards applied (sysward guard apply -f POLICY)\n'); return 0; }
        const lines: string[] = []; // one write for the list
        for (const g of all) {
          const p = g.policy;
          lines.push(`${g.name}: ${p ? `mode ${p.mode}, ${p.rules.length} rules, default write ${p.defaults.write}` : 'metadata missing'}; applied ${g.appliedAt ?? '?'}\n`);
          lines.push(`  scope: ${g.cgroups.map((c) => c.path).join(', ') || '(none)'}\n`);
          if (g.following !== undefined) lines.push(`  follows ${g.following} mount namespace${g.following === 1 ? '' : 's'} out of its cgroups\n`);
          const width = Math.max(4, ...g.counters.map((c) => c.rule.length));
          lines.push(`  ${'rule'.padEnd(width)}  allowed  refused  audited\n`);
          for (const c of g.counters) lines.push(`  ${c.rule.padEnd(width)}  ${String(c.allowed).padStart(7)}  ${String(c.refused).padStart(7)}  ${String(c.audited).padStart(7)}\n`);
          if (g.droppedEvents) lines.push(`  events dropped (ring buffer full): ${g.droppedEvents}\n`);
        }
        out(lines.join(''));
        return 0;
      }
      case 'rm': {
        if (positionals.length !== 1) throw new UsageError('guard rm takes one guard name; list them with `sysward guard ls`');
        checkGuardName(positionals[0]!);
        requireRoot('guard rm', `guards are pinned in ${DEFAULT_BPFFS}, which only root can change`, { write: guardsDir() });
        const { removeGuard } = await import('../../guard/runtime/apply.js');
        const r = removeGuard(positionals[0]!);
        out(`guard ${positionals[0]} removed (detached from ${r.detached} cgroup${r.detached === 1 ? '' : 's'})\n`);
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown guard subcommand "${sub}"; use apply, ls or rm` : 'guard needs a subcommand: apply, ls or rm; see `sysward guard --help`');
    }
  },
};
export default command;
