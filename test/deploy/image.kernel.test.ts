// The image (Containerfile), tested as far as this machine can without an engine or a registry:
// the Containerfile's run stage holds only the package `npm pack` makes and its production
// dependencies; this test makes that package, installs it into an empty folder with the run
// stage's own RUN command, and runs --help, probe and the daemon with the built-in profiles from
// there (on fresh cgroups, loopback, a temp state dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { kernel, pythonExecutable } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';
import { repoRoot } from '../helpers/paths.js';

interface Instruction { op: string; flags: Record<string, string>; args: string[]; text: string }
interface Stage { from: string; name?: string; instructions: Instruction[] }

/** A Containerfile as stages of instructions (continuation lines joined, comments dropped). */
export function parseContainerfile(text: string): Stage[] {
  const lines: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const cont = /\\\s*$/.test(raw);
    cur += (cur ? ' ' : '') + raw.replace(/\\\s*$/, '').trim();
    if (!cont) { if (cur.trim()) lines.push(cur.trim()); cur = ''; }
  }
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `not an instruction: ${line}`);
    const op = m[1]!.toUpperCase(), rest = m[2]!;
    const words = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
    const flags: Record<string, string> = {};
    while (words[0]?.startsWith('--')) { const [k, v] = words.shift()!.slice(2).split('='); flags[k!] = v ?? ''; }
    if (op === 'FROM') { stages.push({ from: words[0]!, ...(words[2] ? { name: words[2] } : {}), instructions: [] }); continue; }
    assert.ok(stages.length, `${op} before FROM`);
    stages.at(-1)!.instructions.push({ op, flags, args: words, text: rest });
  }
  return stages;
}

const containerfile = () => parseContainerfile(readFileSync(join(repoRoot(), 'Containerfile'), 'utf8'));

test('Containerfile: builds with npm ci, runs with Node.js, the packed package and its lock file only', () => {
  const [build, run, ...more] = containerfile();
  assert.equal(more.length, 0, 'two stages');
  assert.equal(build!.name, 'build');
  const buildRuns = build!.instructions.filter((i) => i.op === 'RUN').map((i) => i.text).join(' && ');
  assert.match(buildRuns, /npm ci\b/);
  assert.match(buildRuns, /npm run build && npm pack --ignore-scripts && mv sysward-\*\.tgz sysward\.tgz/);
  assert.equal(build!.instructions.find((i) => i.op === 'WORKDIR')?.args[0], '/src');
  assert.equal(run!.from, build!.from, 'the run stage starts from the same Node.js image');
  assert.equal(run!.name, undefined);
  const copies = run!.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD');
  assert.equal(copies.length, 1, 'one COPY into the run stage');
  assert.deepEqual(copies[0]!.flags, { from: 'build' });
  assert.deepEqual(copies[0]!.args, ['/src/sysward.tgz', '/src/package-lock.json', './']);
  assert.deepEqual(run!.instructions.find((i) => i.op === 'ENTRYPOINT')?.args, ['node', '/opt/sysward/bin/sysward']);
  assert.equal(run!.instructions.find((i) => i.op === 'WORKDIR')?.args[0], '/opt/sysward');
  const ignore = readFileSync(join(repoRoot(), '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(p), `.dockerignore leaves out ${p}`);
  // The manifest runs this image's entrypoint with the daemon's arguments.
  const ds = readFileSync(join(repoRoot(), 'deploy/kubernetes/sysward.yaml'), 'utf8');
  assert.match(ds, /image: \S*sysward:0\.1\.0/);
  assert.match(ds, /Containerfile/);
});

test('kernel: the package as the image holds it runs --help, probe and the daemon with the built-in profiles', kernel(), async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sysward-image-'));
  const app = join(tmp, 'opt-sysward');
  mkdirSync(app);
  const tag = `sw-test-image-${process.pid}`;
  const guards: string[] = [];
  let daemon: ChildProcess | undefined;
  try {
    // What the build stage makes (the suite has built dist/ already): the packed package.
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: repoRoot(), encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    const packed = JSON.parse(pack.stdout)[0] as { filename: string; files: { path: string }[] };
    renameSync(join(tmp, packed.filename), join(app, 'sysward.tgz'));
    copyFileSync(join(repoRoot(), 'package-lock.json'), join(app, 'package-lock.json'));
    // The run stage's own RUN command, in the empty folder standing in for its WORKDIR.
    const [, run] = containerfile();
    for (const i of run!.instructions.filter((x) => x.op === 'RUN')) {
      // npm's cache in the temp dir: the RUN line ends in `npm cache clean`, which must not empty
      // the machine's own cache.
      const r = spawnSync('sh', ['-c', i.text], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_cache: join(tmp, 'npm-cache') } });
      assert.equal(r.status, 0, `RUN ${i.text}:\n${r.stdout}${r.stderr}`);
    }
    // Exactly the package's files, the lock file and the production dependencies.
    const top = new Set(packed.files.map((f) => f.path.split('/')[0]!));
    assert.deepEqual(readdirSync(app).sort(), [...top, 'node_modules', 'package-lock.json'].sort());
    const deps = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    for (const dev of ['typescript', 'esbuild', 'fast-check', '@types']) assert.ok(!deps.includes(dev), `no development dependency ${dev}`);
    for (const prod of ['koffi', 'prom-client', 'yaml', 'zod']) assert.ok(deps.includes(prod), `production dependency ${prod}`);
    assert.equal(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).scripts.prepare, undefined);

    const sysward = (args: string[]) => spawnSync(process.execPath, ['--max-semi-space-size=4', join(app, 'bin/sysward'), ...args], { encoding: 'utf8' });
    const help = sysward(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /daemon/);
    const probe = sysward(['probe']);
    assert.equal(probe.status, 0, probe.stderr);
    assert.match(probe.stdout, /cgroup/i);

    await withFreshCgroup(async (abs) => {
      // The built-in profiles as the package ships them, each scoped to the fresh cgroup.
      const cg = `/${relative(findCgroup2Mount(), abs)}`;
      const cfg = join(tmp, 'config');
      mkdirSync(cfg);
      const profiles = join(app, 'src/guard/profiles');
      for (const f of readdirSync(profiles).filter((n) => n.endsWith('.yaml') && !n.endsWith('.test.yaml'))) {
        const p = parse(readFileSync(join(profiles, f), 'utf8'));
        p.name = `${tag}-${p.name}`;
        p.scope = { cgroups: [cg] };
        guards.push(p.name);
        writeFileSync(join(cfg, f), stringify(p));
      }
      assert.equal(guards.length, 3, 'container-host, kspp, audit-all');
      daemon = spawn(process.execPath, ['--max-semi-space-size=4', join(app, 'bin/sysward'), 'daemon', '--config', cfg, '--listen', '127.0.0.1:0', '--events', join(tmp, 'audit.jsonl'), '--state-dir', join(tmp, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      daemon.stderr!.on('data', (d) => { log += d; });
      let base: string | undefined;
      for (let i = 0; i < 200 && !base; i++) { base = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(log)?.[1]; if (!base) await new Promise((r) => setTimeout(r, 100)); }
      assert.ok(base, `the daemon listens:\n${log}`);
      let health: Response | undefined;
      for (let i = 0; i < 100; i++) { health = await fetch(`${base}/healthz`); if (health.ok) break; await new Promise((r) => setTimeout(r, 100)); }
      assert.equal(health!.status, 200, await health!.text());
      for (const g of guards) assert.ok(listGuards().includes(g), `${g} in force`);
      // kernel.core_pattern written with the value it has (harmless if it went through): refused.
      const w = shInCgroup(abs, `exec "${pythonExecutable()}" -c 'import os
v = open("/proc/sys/kernel/core_pattern", "rb").read()
fd = os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY)
try:
    os.write(fd, v); print("allowed")
except PermissionError:
    print("refused")'`);
      assert.equal(w.stdout.trim(), 'refused', w.stderr);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, new RegExp(`sysward_rule_decisions\\{guard="${tag}-container-host",rule="kernel.core_pattern",verdict="refused"\\} 1`));
      const closed = new Promise((r) => daemon!.on('close', r));
      daemon.kill('SIGTERM');
      await closed;
      const events = readFileSync(join(tmp, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.ok(events.some((e) => e.guard === `${tag}-container-host` && e.key === 'kernel.core_pattern' && e.verdict === 'refused'), 'the refusal is in the audit log');
      for (const g of guards) if (listGuards().includes(g)) removeGuard(g);
    });
  } finally {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) { daemon.kill('SIGKILL'); await new Promise((r) => daemon!.on('close', r)); }
    for (const g of guards) if (listGuards().includes(g)) removeGuard(g);
    rmSync(tmp, { recursive: true, force: true });
  }
});
