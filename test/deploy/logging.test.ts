// The log shipping configurations and the deploy files agree on where the audit log is: the
// DaemonSet and the systemd unit write it where deploy/logging's collectors read it, and the
// unit names its journal lines as the journal input filters them. (The rsyslog configurations
// run for real in logging.kernel.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { repoRoot } from '../helpers/paths.js';

const read = (f: string) => readFileSync(join(repoRoot(), f), 'utf8');
const LOG = '/var/log/sysward/audit.jsonl';

test('the DaemonSet writes the audit log on the node where collectors read it, and to stdout', () => {
  const docs = parseAllDocuments(read('deploy/kubernetes/sysward.yaml')).map((d) => d.toJS());
  const ds = docs.find((d) => d.kind === 'DaemonSet');
  const c = ds.spec.template.spec.containers[0];
  const args: string[] = c.args;
  assert.equal(args[args.indexOf('--events') + 1], LOG);
  assert.ok(args.includes('--stdout'), 'events in the pod log too');
  const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/var/log/sysward');
  const vol = ds.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
  assert.equal(vol.hostPath.path, '/var/log/sysward', 'the same path on the node');
});

test('every collector configuration reads the path the daemon writes; the journal input matches the unit\'s identifier', () => {
  const unit = read('deploy/systemd/sysward.service');
  assert.match(unit, new RegExp(`--events ${LOG}`));
  assert.match(unit, /^SyslogIdentifier=sysward$/m);
  assert.match(read('deploy/logging/rsyslog/sysward-input-journal.conf'), /if \$programname == "sysward" then/);
  assert.match(read('deploy/logging/rsyslog/sysward-input-file.conf'), new RegExp(`file="${LOG}"`));
  assert.deepEqual(parse(read('deploy/logging/vector/sysward.yaml')).sources.sysward_audit.include, [LOG]);
  assert.match(read('deploy/logging/fluent-bit/sysward.conf'), new RegExp(`Path +${LOG}\\n`));
  // Every collector adds the same fields (rsyslog's are checked on real events).
  for (const f of ['rsyslog/sysward.conf', 'vector/sysward.yaml', 'fluent-bit/sysward.conf']) {
    const text = read(`deploy/logging/${f}`);
    for (const field of ['@timestamp', 'host', 'service', 'level', 'warning', 'notice']) assert.ok(text.includes(field), `${f} sets ${field}`);
  }
});
