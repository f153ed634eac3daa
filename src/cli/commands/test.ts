import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { policyFrom } from '../policy-arg.js';
import { out } from '../output.js';

const command: Command = {
  name: 'test',
  summary: 'policy unit tests (no root)',
  help: `usage: sysward test FILE... [--json]

Run policy unit tests: each FILE names a policy (policy: FILE, relative to the test file) or a
built-in profile (profile: NAME) and lists cases with the verdict each must get:

  policy: web.yaml
  cases:
    - write: kernel.core_pattern=|/tmp/x
      expect: refused                 # allowed | refused | audited | would-refuse
      rule: kernel.core_pattern       # optional: the deciding rule's key pattern, or default
    - write: net.core.somaxconn=100
      expect: refused
      reason: value                   # optional: value, locked, partial-write, …
    - write: vm.swappiness=10
      current: "60"                   # the key's value at the time (lock rules)
      expect: refused
    - read: kernel.hostname
      expect: allowed

Each case runs the compiled policy in sysward's eBPF interpreter: no root, no BPF. One line per
case, then a summary. exit status: 0 all passed, 1 any failed, 2 a bad test file or policy.
`,
  async run(argv) {
    const { values, positionals } = parse('test', argv, { json: { type: 'boolean' } });
    if (!positionals.length) throw new UsageError('test needs a policy test file; see `sysward test --help`');
    const { readPolicyTests, runPolicyTests } = await import('../../guard/policy-tests.js');
    let passed = 0, failed = 0;
    const report: unknown[] = [];
    for (const file of positionals) {
      const t = readPolicyTests(file);
      const policy = await policyFrom({ file: t.policyRef.policy, profile: t.policyRef.profile }, 'test');
      const results = runPolicyTests(policy, t.cases);
      for (const r of results) {
        if (r.ok) passed++; else failed++;
        if (!values.json) out(`${r.ok ? 'ok  ' : 'FAIL'} ${file}:${r.c.line} ${r.c.description} → ${r.got.verdict} (${r.got.rule.key})${r.ok ? '' : `: ${r.problems.join('; ')}`}\n`);
      }
      report.push({ file, policy: policy.name, cases: results.map((r) => ({ line: r.c.line, description: r.c.description, ok: r.ok, verdict: r.got.verdict, rule: r.got.rule.key, reason: r.got.reason, problems: r.problems })) });
    }
    if (values.json) printJson({ passed, failed, files: report });
    else out(`${passed} passed, ${failed} failed\n`);
    return failed ? 1 : 0;
  },
};
export default command;
