// No cluster and no systemd run here: the deploy/ files are checked by parsing them and holding
// them to what the daemon accepts (its options, its policies, its port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { DAEMON_OPTIONS } from '../../src/cli/commands/daemon.js';
import { DEFAULT_LISTEN } from '../../src/daemon/daemon.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { repoRoot } from '../helpers/paths.js';

const daemonArgs = (args: string[]) => parseArgs({ args, options: DAEMON_OPTIONS, allowPositionals: false, strict: true });

/** A systemd unit as sections of key → values (repeated keys kept). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const units = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = new Map(); units.set(s[1]!, section); continue; }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && section, `not a unit line: ${line}`);
    section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
  }
  return units;
}

test('deploy/systemd/sysward.service runs the daemon with options it accepts, hardened', () => {
  const unit = parseUnit(readFileSync(join(repoRoot(), 'deploy/systemd/sysward.service'), 'utf8'));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  const svc = unit.get('Service')!;
  const exec = svc.get('ExecStart')![0]!.split(/\s+/);
  const bin = exec.findIndex((a) => /bin\/sysward$/.test(a));
  assert.ok(bin > 0, 'ExecStart runs bin/sysward with node');
  assert.ok(exec.slice(1, bin).every((a) => a.startsWith('--')), 'only node flags before it');
  assert.equal(exec[bin + 1], 'daemon');
  daemonArgs(exec.slice(bin + 2));
  assert.deepEqual(svc.get('Restart'), ['always']);
  assert.deepEqual(svc.get('NoNewPrivileges'), ['yes']);
  assert.deepEqual(svc.get('ProtectSystem'), ['strict']);
  assert.ok(svc.get('ReadWritePaths')![0]!.split(' ').includes('/sys/fs/bpf'), 'pins need bpffs');
  assert.ok(!svc.has('ProtectControlGroups') && !svc.has('ProtectKernelTunables'), 'both would break the daemon');
  assert.ok(svc.get('CapabilityBoundingSet')![0]!.includes('CAP_BPF'));
});

test('deploy/kubernetes/sysward.yaml: a DaemonSet the daemon can run in, policies that parse', () => {
  const docs = parseAllDocuments(readFileSync(join(repoRoot(), 'deploy/kubernetes/sysward.yaml'), 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, []);
  const objs = docs.map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown });
  assert.deepEqual(objs.map((o) => `${o.apiVersion} ${o.kind}`), ['v1 Namespace', 'v1 ConfigMap', 'apps/v1 DaemonSet']);
  for (const o of objs.slice(1)) assert.equal(o.metadata.namespace, 'sysward');
  const cm = objs[1] as unknown as { data: Record<string, string> };
  for (const [file, text] of Object.entries(cm.data)) {
    assert.match(file, /\.yaml$/);
    const p = parsePolicy(text, file);
    assert.ok(p.scope.containers, `${file} guards containers`);
  }
  const ds = objs[2] as unknown as { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } } };
  assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  const pod = ds.spec.template.spec as { containers: { args: string[]; securityContext: { privileged: boolean }; ports: { containerPort: number }[]; volumeMounts: { name: string; mountPath: string }[]; readinessProbe: { httpGet: { port: number; path: string } } }[]; volumes: { name: string; configMap?: { name: string } }[] };
  const [c] = pod.containers;
  assert.equal(c!.args[0], 'daemon');
  const { values } = daemonArgs(c!.args.slice(1));
  assert.equal(values.config, '/etc/sysward');
  assert.equal(c!.ports[0]!.containerPort, DEFAULT_LISTEN.port);
  assert.equal(c!.readinessProbe.httpGet.port, DEFAULT_LISTEN.port);
  assert.equal(c!.readinessProbe.httpGet.path, '/healthz');
  assert.equal((c as unknown as { livenessProbe: { httpGet: { path: string } } }).livenessProbe.httpGet.path, '/livez', 'a full disk (503 on /healthz) must not restart the pod in a loop');
  const mounts = new Map(c!.volumeMounts.map((m) => [m.mountPath, m.name]));
  for (const need of ['/etc/sysward', '/sys/fs/bpf', '/sys/fs/cgroup']) assert.ok(mounts.has(need), `mounts ${need}`);
  const volumes = new Map(pod.volumes.map((v) => [v.name, v]));
  for (const name of mounts.values()) assert.ok(volumes.has(name), `volume ${name} is defined`);
  assert.equal(volumes.get(mounts.get('/etc/sysward')!)!.configMap!.name, objs[1]!.metadata.name);
});
