import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { policyFrom, policyOptions } from '../policy-arg.js';
import { out } from '../output.js';

/** The namespaces a writer may share with the host, as --<kind>ns flags. */
const NS_FLAGS = ['net', 'uts', 'ipc', 'user', 'pid'] as const;

const command: Command = {
  name: 'explain',
  summary: 'the verdict a policy gives an access, and which rule decides (no root)',
  help: `usage: sysward explain (-f POLICY | --profile NAME) NAME[=VALUE] [--read] [--pos N] [--current VALUE]
                       [--netns host|own] [--utsns …] [--ipcns …] [--userns …] [--pidns …] [--json]

What the policy does with one access, and why: the verdict, the deciding rule (with its line in
the policy), and the audit event the kernel would report. The policy is compiled to the same eBPF
program the kernel runs, and that program runs in sysward's interpreter: no root and no BPF
needed.

  NAME=VALUE        a write of VALUE (as written; a trailing newline is ignored by value rules)
  NAME              a read (or give --read)
  --pos N           the write's file position (a write at N > 0 continues an earlier one)
  --current VALUE   the key's value at the time, for lock rules (default: this host's value)
  --netns host|own  the writer's network namespace: the host's (docker --network=host, a
                    hostNetwork pod) or its own (default); likewise --utsns, --ipcns, --userns,
                    --pidns. Rules with namespace: own refuse writes from the host's namespace.
  --json            the explanation as JSON

exit status: 0 when the access is allowed (or audited), 1 when it is refused (or would be, in
audit mode), 2 on bad usage or a bad policy.

example:
  sysward explain --profile container-host kernel.core_pattern='|/tmp/x'
`,
  async run(argv) {
    const nsOptions = Object.fromEntries(NS_FLAGS.map((k) => [`${k}ns`, { type: 'string' as const }]));
    const { values, positionals } = parse('explain', argv, { ...policyOptions, ...nsOptions, read: { type: 'boolean' }, pos: { type: 'string' }, current: { type: 'string' }, json: { type: 'boolean' } });
    const namespaces: Partial<Record<(typeof NS_FLAGS)[number], 'host' | 'own'>> = {};
    for (const k of NS_FLAGS) {
      const v = (values as Record<string, unknown>)[`${k}ns`];
      if (v === undefined) continue;
      if (v !== 'host' && v !== 'own') throw new UsageError(`--${k}ns ${String(v)}: give host (the writer shares the host's ${k} namespace) or own`);
      namespaces[k] = v;
    }
    if (positionals.length !== 1) throw new UsageError('explain takes one access: NAME for a read, NAME=VALUE for a write; see `sysward explain --help`');
    const spec = positionals[0]!;
    const eq = spec.indexOf('=');
    const name = eq < 0 ? spec : spec.slice(0, eq);
    const value = eq < 0 || values.read ? undefined : spec.slice(eq + 1);
    const pos = values.pos === undefined ? 0 : Number(values.pos);
    if (!Number.isInteger(pos) || pos < 0) throw new UsageError(`--pos ${values.pos}: give a file position, a whole number`);
    const policy = await policyFrom(values, 'explain');
    const { explain } = await import('../../guard/explain.js');
    const x = explain(policy, { name, ...(value !== undefined ? { value } : {}), filePos: pos, ...(values.current !== undefined ? { current: values.current } : {}), namespaces });
    if (values.json) printJson(x);
    else {
      const what = x.access === 'write' ? `write ${x.key} = ${JSON.stringify(x.value)}${pos ? ` at position ${pos}` : ''}` : `read ${x.key}`;
      out(`${policy.name}: ${what}: ${x.verdict.toUpperCase()}${x.reason !== 'rule' ? ` (${x.reason})` : ''}\n`);
      out(`  decided by ${x.rule.index === null ? 'the default' : `rule ${x.rule.index + 1}`}: ${x.rule.key}: ${x.rule.action}${x.rule.source ? ` (${x.rule.source})` : ''}\n`);
      if (x.rule.reason) out(`  why: ${x.rule.reason}\n`);
      if (x.reason === 'host-namespace') out('  the writer shares the host\'s namespace of this key (its write would change the host\'s value); the rule allows it only from a namespace of the writer\'s own (namespace: own)\n');
      if (x.stored !== undefined) out(`  the kernel stores ${JSON.stringify(x.stored)} instead (override)\n`);
      for (const e of x.events) out(`  event: ${JSON.stringify({ verdict: e.verdict, reason: e.reason, key: e.key, oldValue: e.oldValue, newValue: e.newValue, rule: e.rule })}\n`);
      if (!x.events.length) out('  no event (allowed accesses are counted, not reported)\n');
    }
    if (x.disagreement) process.stderr.write(`sysward explain: internal disagreement: ${x.disagreement}; please report this with the policy and the access\n`);
    return x.verdict === 'refused' || x.verdict === 'would-refuse' ? 1 : 0;
  },
};
export default command;
