import { parse, printJson, type Command } from '../command.js';
import { policyFrom, policyOptions } from '../policy-arg.js';
import { checkHost } from '../../guard/check.js';
import { dottedName } from '../../sysctl/names.js';
import { out } from '../output.js';

const command: Command = {
  name: 'check',
  summary: "compare the host's current values with a profile",
  help: `usage: sysward check [--profile NAME | -f POLICY] [--json] [--all]

Compare the host's current sysctl values with the value rules of a profile or policy (default: the
kspp profile, the Kernel Self Protection Project's recommendations). Reads /proc/sys only: no root
needed (keys only root may read are reported as unreadable). Patterns (vm.*, net.ipv4.conf.*.x)
are checked on every key present.

options:
  -p, --profile NAME   container-host, kspp (default), audit-all
  -f, --file POLICY    a policy file
  --all                also list the keys that comply
  --json               the results as JSON
  -h, --help

exit status: 0 when every checked key complies, 1 when any differs, 2 on bad usage or policy.
`,
  async run(argv) {
    const { values } = parse('check', argv, { ...policyOptions, json: { type: 'boolean' }, all: { type: 'boolean' } }, false);
    const policy = await policyFrom(values, 'check', 'kspp');
    const results = checkHost(policy);
    const differs = results.filter((r) => r.status === 'differs');
    if (values.json) {
      printJson({ policy: policy.name, compliant: differs.length === 0, results: results.map((r) => ({ key: dottedName(r.key.split('/')), status: r.status, current: r.current ?? null, expected: r.expected, rule: r.rule.key.text, reason: r.rule.reason ?? null })) });
      return differs.length ? 1 : 0;
    }
    const shown = values.all ? results : results.filter((r) => r.status !== 'ok');
    const rows = shown.map((r) => [r.status === 'ok' ? 'ok' : r.status.toUpperCase(), dottedName(r.key.split('/')), r.current ?? '-', r.expected, r.rule.reason ?? '']);
    if (rows.length) {
      const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['STATUS', 'KEY', 'CURRENT', 'EXPECTED'][i]!.length));
      const line = (row: string[]) => `${row.slice(0, 4).map((c, i) => c.padEnd(w[i]!)).join('  ')}  ${row[4]}`.trimEnd();
      out(`${line(['STATUS', 'KEY', 'CURRENT', 'EXPECTED', 'WHY'])}\n${rows.map(line).join('\n')}\n`);
    }
    const counts = ['ok', 'differs', 'missing', 'unreadable'].map((s) => [s, results.filter((r) => r.status === s).length] as const).filter(([, n]) => n);
    out(`${policy.name}: ${differs.length ? 'NOT compliant' : 'compliant'} (${counts.map(([s, n]) => `${n} ${s}`).join(', ')})\n`);
    return differs.length ? 1 : 0;
  },
};
export default command;
