import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { requireRoot } from '../root.js';
import { GUARD_NAME, GUARD_NAME_RULE } from '../../guard/model.js';

const command: Command = {
  name: 'learn',
  summary: 'the narrowest policy (and its tests) that allows what a workload wrote',
  help: `usage: sysward learn -o FILE [--name NAME] [--reads] [--ranges] [--force] [--json] -- CMD [ARG...]
       sysward learn -o FILE --from AUDIT.jsonl [--from …] [--container ID | --cgroup PATH]
                     [--guard NAME] [--since TIME] [--name NAME] [--reads] [--ranges] [--force] [--json]

Write the narrowest policy that allows what a workload did, and its tests beside it
(FILE.test.yaml): writes are denied by default, and each key written gets a rule allowing exactly
the values seen (values:), or their range (range:, or fields: for vector keys) when there are
more than 16 distinct integers, or with --ranges. Comments say how often, when and by which
commands each key was written. The tests allow every write seen and refuse an unseen value per
rule and an unseen key; sysward test passes them. Review the policy before you enforce it
(docs/learn.md).

From a command (needs root): CMD runs in a fresh cgroup under a guard that refuses nothing and
reports every write (and read, with --reads), then the cgroup is removed.

From audit logs (no root; --from, repeated or followed by more files; - is standard input): the
daemon's audit log (or sysward run --events), events and summary lines. Summary lines count
writes whose values were not recorded; the policy says so where that happened.

options:
  -o, --output FILE     where to write the policy (FILE.test.yaml: its tests); refused if either
                        exists, unless --force
  --name NAME           the policy's name (default: from FILE)
  --reads               learn reads too: the policy refuses reads it did not see
  --ranges              a range (fields: for vector keys) for every numeric key, not exact values
  --from FILE           learn from an audit log instead of running a command
  --container ID        only events of this container (an id or its prefix, or runtime:id)
  --cgroup PATH         only events of this cgroup and those below it (the policy's scope)
  --guard NAME          only events of this guard (a log of several guards may hold an access twice)
  --since TIME          only events since TIME: ISO 8601 (2026-12-01T08:00:00Z) or 30m, 24h, 7d
  --namespaces          run CMD in a mount namespace of its own, followed if it leaves its cgroup
  --force               replace FILE and FILE.test.yaml
  --json                print what was learned as JSON (the command's own output goes to stderr)
  --progress            progress lines on stderr (default: when stderr is a terminal)
  -q, --quiet           no notes on stderr
  -h, --help

exit status: 0 the policy was written; 1 it was written but the command failed (it learned only
what the command did); 2 bad usage or input (the line of a malformed log), or a command without root.

examples:
  sudo sysward learn -o web.yaml -- ./start-web.sh
  sysward learn -o web.yaml --from /var/log/sysward/audit.jsonl* --container 4f1c --since 7d
  sysward test web.test.yaml && sudo sysward run -f web.yaml -- ./start-web.sh
`,
  async run(argv) {
    const dash = argv.indexOf('--');
    const own = dash < 0 ? argv : argv.slice(0, dash);
    const cmd = dash < 0 ? [] : argv.slice(dash + 1);
    const { values, positionals } = parse('learn', own, {
      output: { type: 'string', short: 'o' }, name: { type: 'string' }, reads: { type: 'boolean' }, ranges: { type: 'boolean' },
      from: { type: 'string', multiple: true }, container: { type: 'string' }, cgroup: { type: 'string' }, guard: { type: 'string' }, since: { type: 'string' },
      namespaces: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' }, progress: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
    });
    const logs = values.from ? [...values.from, ...positionals] : [];
    const commandLine = values.from ? cmd : cmd.length ? cmd : positionals;
    if (!values.output) throw new UsageError('learn needs -o FILE: where to write the policy (its tests go beside it); see `sysward learn --help`');
    if (logs.length && commandLine.length) throw new UsageError('learn takes a command (after --) or --from AUDIT.jsonl, not both');
    if (!logs.length && !commandLine.length) throw new UsageError('learn needs a command after -- (sysward learn -o web.yaml -- ./start.sh) or --from AUDIT.jsonl');
    if (!logs.length) for (const o of ['container', 'cgroup', 'guard', 'since'] as const) if (values[o] !== undefined) throw new UsageError(`--${o} selects events of an audit log: use it with --from`);
    if (logs.length && values.namespaces) throw new UsageError('--namespaces is for a command; an audit log is read as it is');
    if (values.container !== undefined && values.cgroup !== undefined) throw new UsageError('give --container or --cgroup, not both');
    if (values.container !== undefined && !/^([a-z][a-z0-9-]*:)?[0-9a-zA-Z_.-]{4,}$/.test(values.container)) throw new UsageError(`--container ${values.container}: give a container id (at least 4 characters of it), optionally as runtime:id (docker:4f1c…)`);
    if (values.cgroup !== undefined && !values.cgroup.startsWith('/')) throw new UsageError(`--cgroup ${values.cgroup}: give a cgroup path as events show it, starting with / (/system.slice/web.service)`);
    if (values.cgroup?.startsWith('/sys/fs/cgroup')) throw new UsageError(`--cgroup ${values.cgroup}: give the path below the cgroup mount, as events show it (${values.cgroup.replace(/^\/sys\/fs\/cgroup(\/unified)?/, '') || '/'})`);

    const { Learner, LearnInputError, nameFromFile, synthesize, testsFileFor } = await import('../../guard/learn.js');
    const policyFile = values.output;
    const testsFile = testsFileFor(policyFile);
    const name = values.name ?? nameFromFile(policyFile);
    if (!GUARD_NAME.test(name)) throw new UsageError(`--name ${name}: a policy name is ${GUARD_NAME_RULE}`);
    for (const f of [policyFile, testsFile]) {
      let exists = false;
      try { lstatSync(f); exists = true; } catch { /* free */ }
      if (exists && !values.force) throw new UsageError(`${f} exists; give another -o FILE, or --force to replace it`);
    }
    if (!existsSync(dirname(policyFile) || '.')) throw new UsageError(`${policyFile}: the directory ${dirname(policyFile)} does not exist; create it first`);

    const note = (s: string) => { if (!values.quiet) process.stderr.write(`sysward learn: ${s}\n`); };
    const showProgress = values.progress ?? (!values.quiet && !!process.stderr.isTTY);
    const learner = new Learner();
    const source: string[] = [];
    let scopeCgroups: string[] | undefined;
    let status = 0;
    try {
      if (logs.length) {
        const { learnFromLogs, parseSince } = await import('../../guard/learn-log.js');
        const since = values.since !== undefined ? parseSince(values.since) : undefined;
        const stats = await learnFromLogs(logs, learner, {
          ...(values.container !== undefined ? { container: values.container } : {}),
          ...(values.cgroup !== undefined ? { cgroup: values.cgroup } : {}),
          ...(values.guard !== undefined ? { guard: values.guard } : {}),
          ...(since !== undefined ? { since } : {}),
        }, showProgress ? { onProgress: (p) => note(`${p.file}: ${p.lines} lines (${(p.bytes / 1048576).toFixed(1)} MiB) read, ${learner.writes} writes so far`) } : {});
        if (stats.dropped) note(`the log has ${stats.dropped} accesses the guard dropped without a key (all its kinds taken, its ring buffer full): what they wrote is not in the policy; check it against a longer or calmer period`);
        if (showProgress) note(`read ${stats.lines} lines (${(stats.bytes / 1048576).toFixed(1)} MiB): ${stats.events} events and ${stats.summaries} summary lines used, ${stats.skipped} not selected`);
        source.push(`the audit log${logs.length > 1 ? 's' : ''} ${logs.map((l) => (l === '-' ? 'on standard input' : basename(l))).join(', ')}`);
        const selected = [
          values.container !== undefined ? `container ${[...stats.containers][0] ?? values.container}` : undefined,
          values.cgroup !== undefined ? `cgroup ${values.cgroup}` : undefined,
          values.guard !== undefined ? `guard ${values.guard}` : undefined,
          since !== undefined ? `since ${since}` : undefined,
        ].filter(Boolean);
        if (selected.length) source.push(`events of ${selected.join(', ')}`);
        if (values.reads && learner.reads === 0) throw new UsageError('--reads: the log has no reads of what was selected, so the policy would refuse every read; a guard reports reads only when it audits them (default: { read: audit }): leave out --reads, or learn from such a log');
        if (values.cgroup !== undefined) scopeCgroups = [values.cgroup];
        if (values.container !== undefined && stats.containers.size === 0) note(`--container ${values.container}: no event of that container in the log; the policy refuses every write`);
        if (values.container === undefined && values.cgroup === undefined && stats.cgroups.size > 1) {
          const list = [...stats.cgroups].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5).map(([c, n]) => `${c} (${n})`);
          note(`events of ${stats.cgroups.size} cgroups merged into one policy: ${list.join(', ')}${stats.cgroups.size > 5 ? ', …' : ''}; learn one workload with --container ID or --cgroup PATH`);
        }
      } else {
        requireRoot('learn', 'it runs the command in a cgroup of its own under an eBPF guard, which only root can do (or learn from an audit log with --from, without root)');
        const { learnFromCommand } = await import('../../guard/learn-run.js');
        let timer: NodeJS.Timeout | undefined;
        if (showProgress) timer = setInterval(() => note(`${learner.writes} writes${values.reads ? `, ${learner.reads} reads` : ''} so far`), 5000);
        try {
          const r = await learnFromCommand(commandLine, learner, { reads: !!values.reads, ownNamespace: !!values.namespaces, stdoutToStderr: !!values.json });
          status = r.status;
          const unvalued = r.summaries.filter((s) => s.access === 'write').reduce((t, s) => t + s.count, 0);
          if (unvalued) note(`${unvalued} writes came faster than the guard's ring buffer could be read: they are counted without their values (the policy says where)`);
          if (r.dropped > 0n) note(`${r.dropped} events did not fit the guard's ring buffer; those the guard could not count by key are missing from the policy: run the command again, or learn from the daemon's audit log`);
        } finally { if (timer) clearInterval(timer); }
        source.push(`the command ${commandLine.map(shellWord).join(' ')}`);
      }
    } catch (e) {
      if (e instanceof LearnInputError) throw new UsageError(e.message);
      throw e;
    }

    const learned = synthesize(learner, { name, policyFile, ranges: !!values.ranges, reads: !!values.reads, source, ...(scopeCgroups ? { scopeCgroups } : {}) });
    await selfCheck(learned.policy, learned.tests, policyFile, testsFile);
    writeAtomically(policyFile, learned.policy);
    writeAtomically(testsFile, learned.tests);
    for (const w of learned.summary.warnings) note(`review: ${w}`);
    if (values.json) printJson({ policy: policyFile, tests: testsFile, ...(status ? { commandStatus: status } : {}), ...learned.summary });
    else note(`${policyFile}: ${count(learned.rules.length, 'rule')} from ${count(learned.summary.writes, 'write')}${values.reads ? ` and ${count(learned.summary.reads, 'read')}` : ''}; tests in ${testsFile}`);
    if (status !== 0) note(`the command exited with status ${status}: the policy allows only what it did until then`);
    return status === 0 ? 0 : 1;
  },
};
export default command;

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** A word as a shell would need it written, for the policy's comment. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`;
}

/**
 * The policy must load and pass its own tests before it is written, checked as \`sysward test\`
 * would (the two files side by side in a private directory): a bug here must not leave a policy
 * that refuses what the workload does.
 */
async function selfCheck(policyText: string, testsText: string, policyFile: string, testsFile: string): Promise<void> {
  const [{ loadPolicyFile }, { readPolicyTests, runPolicyTests }] = await Promise.all([import('../../guard/policy/index.js'), import('../../guard/policy-tests.js')]);
  const dir = mkdtempSync(join(tmpdir(), 'sysward-learn-'));
  try {
    writeFileSync(join(dir, basename(policyFile)), policyText);
    writeFileSync(join(dir, basename(testsFile)), testsText);
    const t = readPolicyTests(join(dir, basename(testsFile)));
    let policy;
    try { policy = loadPolicyFile(t.policyRef.policy!); } catch (e) {
      throw new Error(`the learned policy does not load (${(e as Error).message.split('\n')[0]!.replace(`${dir}/`, '')}); nothing written; please report this with the input`);
    }
    const failed = runPolicyTests(policy, t.cases).filter((r) => !r.ok);
    if (failed.length) throw new Error(`the learned policy fails ${failed.length} of its own tests (first: ${failed[0]!.c.description}: ${failed[0]!.problems.join('; ')}); nothing written; please report this with the input`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Write beside the target, then rename: a reader never sees half a policy. */
function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file) || '.', `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try { writeSync(fd, text); } finally { closeSync(fd); }
  try { renameSync(tmp, file); } catch (e) { try { unlinkSync(tmp); } catch { /* gone */ } throw e; }
}
