// Namespace-aware guarding on the real kernel (docs/guard.md, "Who is writing"): "containers" made
// with unshare (mount, PID, UTS, IPC; with and without a network namespace) in docker-named
// cgroups, under the daemon's built-in default (container-host on containers, audit-all on the
// host), on a private bpffs. A container that moves itself to the root cgroup or to a sibling keeps
// its guard (the follower, by mount namespace); net.* from the host's network namespace is refused,
// from its own allowed; host tasks are unaffected; every refusal is an event naming the container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { applyGuard, reconcileGuard, removeGuard } from '../../src/guard/runtime/apply.js';
import { readBindings } from '../../src/guard/runtime/bindings.js';
import { guardPins } from '../../src/guard/runtime/layout.js';
import { mountNamespaceKey, namespaceSupport, type NamespaceSupport } from '../../src/guard/runtime/namespaces.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { attachCgroup, Link, queryCgroup } from '../../src/bpf/link.js';
import { RingBufReader } from '../../src/bpf/ringbuf.js';
import { loadGuard } from '../../src/guard/runtime/loaded.js';
import { decodeEvent } from '../../src/guard/runtime/events.js';
import { VmGuard } from '../../src/guard/runtime/vm-guard.js';
import { decide } from '../../src/guard/reference.js';
import { kernel, pythonExecutable } from '../helpers/env.js';
import { privateBpffs, withFreshCgroup } from '../helpers/cgroup.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const facts = () => (namespaceSupport() as Extract<NamespaceSupport, { facts: unknown }>).facts;
const supported = () => (kernel().skip ? kernel() : 'facts' in namespaceSupport() ? {} : { skip: `the kernel does not let guards read namespaces here: ${(namespaceSupport() as { reason: string }).reason}` });

async function waitFor(what: string, f: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) { if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`); await sleep(10); }
}


type Outcome = 'ok' | 'EPERM' | string;
interface Report { inCtHostname: Outcome; inCtForward: Outcome; rootHostname: Outcome; rootForward: Outcome; sibHostname: Outcome; sibDomainname: Outcome }

/**
 * A container: python in new mount, PID, UTS and IPC namespaces (and a network namespace with
 * `net`), in cgroup `ct`. It says "ready", waits for a line, then writes: in its cgroup, after
 * moving to the root cgroup, after moving to `sibling`. net.ipv4.ip_forward is written with the
 * value it has, so even a write that got through would change nothing.
 */
function container(ct: string, sibling: string, net: boolean): ChildProcess & { ready: Promise<void>; report: Promise<Report> } {
  const py = `import os, sys, json
M, CT, SIB = sys.argv[1:4]
def move(cg):
    with open(os.path.join(cg, 'cgroup.procs'), 'w') as f: f.write(str(os.getpid()))
def write(key, val):
    try:
        fd = os.open('/proc/sys/' + key.replace('.', '/'), os.O_WRONLY)
        try: os.write(fd, val.encode())
        finally: os.close(fd)
        return 'ok'
    except PermissionError: return 'EPERM'
    except OSError as e: return e.strerror
move(CT)
print('ready', flush=True)
sys.stdin.readline()
fwd = open('/proc/sys/net/ipv4/ip_forward').read().strip()
r = {'inCtHostname': write('kernel.hostname', 'a'), 'inCtForward': write('net.ipv4.ip_forward', fwd)}
move(M)
r['rootHostname'] = write('kernel.hostname', 'b'); r['rootForward'] = write('net.ipv4.ip_forward', fwd)
move(SIB)
r['sibHostname'] = write('kernel.hostname', 'c'); r['sibDomainname'] = write('kernel.domainname', 'd')
print(json.dumps(r), flush=True)`;
  const args = ['--mount', '--uts', '--ipc', '--pid', '--fork', ...(net ? ['--net'] : []), pythonExecutable(), '-c', py, findCgroup2Mount(), ct, sibling];
  const c = spawn('unshare', args, { stdio: ['pipe', 'pipe', 'inherit'] }) as ChildProcess & { ready: Promise<void>; report: Promise<Report> };
  let out = '';
  let onReady = () => {};
  c.ready = new Promise((r) => { onReady = r; });
  c.stdout!.on('data', (d) => { out += d; if (out.includes('ready\n')) onReady(); });
  c.report = new Promise((resolve, reject) => c.on('close', (code) => {
    try { resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Report); } catch { reject(new Error(`container exited ${code}: ${out}`)); }
  }));
  return c;
}

/** The pid (as the host sees it) of the one process in a cgroup. */
const pidIn = (cg: string) => Number(readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim().split('\n')[0]);

test('kernel: namespaces: under the built-in default, a container that leaves its cgroup stays guarded; net.* only from its own network namespace; host tasks unaffected; events name the container', supported(), async () => {
  await withFreshCgroup(async (abs) => {
    const bpffs = privateBpffs();
    const config = mkdtempSync(join(tmpdir(), 'sw-cfg-')); // empty: the built-in default
    const state = mkdtempSync(join(tmpdir(), 'sw-state-'));
    const log = join(state, 'audit.jsonl');
    const sibling = join(abs, 'sibling');
    mkdirSync(sibling);
    // No timer: what binds a container's namespace here is the daemon seeing its first task join
    // (inotify on the container's cgroup.procs), not a periodic pass.
    const d = new Daemon({ configDir: config, stateDir: state, bpffs: bpffs.dir, eventsFile: log, listen: null, pollMs: 0, settleMs: 0, log: () => {} });
    const bindMs: number[] = [];
    const running: ChildProcess[] = [];
    try {
      await d.start();
      const results: Record<string, Report> = {};
      for (const [i, net] of [[1, true], [2, false]] as const) {
        const id = String(i).repeat(64);
        const ct = join(abs, `docker-${id}.scope`);
        mkdirSync(ct);
        await waitFor(`container ${i} guarded`, () => queryCgroup(ct, 'CGROUP_SYSCTL').programIds.length === 1);
        const c = container(ct, sibling, net);
        running.push(c);
        await c.ready;
        const t0 = process.hrtime.bigint();
        const ns = mountNamespaceKey(pidIn(ct), facts().layout)!;
        await waitFor(`container ${i}'s mount namespace bound`, () => readBindings(guardPins('container-host', bpffs.dir).bound).has(ns), 5000);
        bindMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
        c.stdin!.write('go\n');
        results[net ? 'ownNet' : 'hostNet'] = await c.report;
        rmdirSync(ct);
      }
      // Each refusal below would have changed a value the container must not (its hostname is
      // its own UTS namespace's: nothing on the host changes even if one got through).
      assert.deepEqual(results.ownNet, { inCtHostname: 'EPERM', inCtForward: 'ok', rootHostname: 'EPERM', rootForward: 'ok', sibHostname: 'EPERM', sibDomainname: 'EPERM' });
      assert.deepEqual(results.hostNet, { inCtHostname: 'EPERM', inCtForward: 'EPERM', rootHostname: 'EPERM', rootForward: 'EPERM', sibHostname: 'EPERM', sibDomainname: 'EPERM' });

      // Host tasks: in the host's namespaces, and in a mount namespace of their own that no
      // guarded cgroup holds (a service with PrivateTmp): the follower lets them through.
      for (const extra of [[], ['--mount']]) {
        const h = spawnSync('unshare', ['--uts', ...extra, 'sh', '-c', `echo $$ > ${sibling}/cgroup.procs && echo host > /proc/sys/kernel/hostname && echo ok`], { encoding: 'utf8' });
        assert.equal(h.stdout.trim(), 'ok', `host task (${extra.join(' ') || 'host namespaces'}): ${h.stderr}`);
      }

      // Every refusal is in the audit log, naming the container: where it was, or the container
      // it left (boundTo) when it wrote from the root or the sibling cgroup.
      type Ev = { guard: string; verdict: string; reason: string; key: string; cgroup?: string; boundTo?: { cgroup?: string }; namespaces?: Record<string, number> };
      const refusals = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev).filter((e) => e.guard === 'container-host' && e.verdict === 'refused');
      const of = (i: number) => (e: Ev) => [e.cgroup, e.boundTo?.cgroup].some((c) => c?.startsWith(`docker:${String(i).repeat(12)}`));
      // Hostnames in the cgroup, at the root, in the sibling, the domainname there; plus the two
      // forwards from the host's network namespace.
      const want = { 1: 4, 2: 6 } as Record<number, number>;
      await waitFor('every refusal in the audit log', () => [1, 2].every((i) => refusals().filter(of(i)).length >= want[i]!), 5000);
      const events = refusals();
      for (const i of [1, 2]) {
        const mine = events.filter(of(i));
        assert.equal(mine.length, want[i], `events of container ${i}: ${JSON.stringify(mine.map((e) => [e.key, e.cgroup, e.boundTo]))}`);
        assert.equal(mine.filter((e) => e.boundTo).length, i === 1 ? 3 : 4, 'the writes after leaving name the container left');
        assert.ok(mine.every((e) => e.namespaces?.mnt && e.namespaces.mnt !== facts().host.mnt), 'events carry the writer\'s mount namespace');
      }
      const hostNs = events.filter((e) => e.reason === 'host-namespace');
      assert.deepEqual(hostNs.map((e) => e.key), ['net.ipv4.ip_forward', 'net.ipv4.ip_forward']);

      process.stdout.write(`# container's first task joined → its namespace bound: ${bindMs.map((x) => x.toFixed(1)).join(', ')} ms (at most)\n`);
      // A container that stops is unbound at the next pass: the map holds live containers only.
      await waitFor('bindings of stopped containers gone', () => { d.reconcile(); return readBindings(guardPins('container-host', bpffs.dir).bound).size === 0; });
    } finally {
      for (const c of running) c.kill('SIGKILL');
      await d.stop();
      bpffs.done();
      rmSync(config, { recursive: true, force: true });
      rmSync(state, { recursive: true, force: true });
    }
  });
});

test('kernel: namespaces: guard apply binds the tasks found, a moved task stays refused, guard rm detaches the follower from the root cgroup', supported(), async () => {
  await withFreshCgroup(async (abs) => {
    const bpffs = privateBpffs();
    const ct = join(abs, `docker-${'e'.repeat(64)}.scope`);
    mkdirSync(ct);
    const sibling = join(abs, 'sibling');
    mkdirSync(sibling);
    const c = container(ct, sibling, true);
    const name = `sw-ns-${process.pid}`;
    try {
      await c.ready;
      const rel = `/${ct.slice(findCgroup2Mount().length + 1)}`;
      const policy = parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [${rel}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`, 'p.yaml');
      const r = applyGuard(policy, { bpffs: bpffs.dir });
      assert.ok(r.followId, 'the guard follows');
      assert.equal(r.bindings?.bound, 1);
      const before = queryCgroup(findCgroup2Mount(), 'CGROUP_SYSCTL').programIds;
      assert.ok(before.includes(r.followId!), 'the follower is on the root cgroup');
      // Another tool detaches the follower: reconcile (the daemon's pass) puts it back.
      { using l = Link.openPinned(guardPins(name, bpffs.dir).followLink); l.detach(); }
      assert.ok(!queryCgroup(findCgroup2Mount(), 'CGROUP_SYSCTL').programIds.includes(r.followId!));
      const rec = reconcileGuard(policy, { bpffs: bpffs.dir });
      assert.match(rec.repaired.join('; '), /follower/);
      assert.ok(queryCgroup(findCgroup2Mount(), 'CGROUP_SYSCTL').programIds.includes(r.followId!), 'the follower is back');
      assert.equal(rec.bindings?.bound, 1, 'the namespace stays bound');
      c.stdin!.write('go\n');
      const rep = await c.report;
      assert.equal(rep.inCtHostname, 'EPERM');
      assert.equal(rep.rootHostname, 'EPERM');
      assert.equal(rep.sibHostname, 'EPERM');
      assert.equal(rep.sibDomainname, 'ok', 'what the policy allows stays allowed after the move');
      removeGuard(name, bpffs.dir);
      assert.ok(!queryCgroup(findCgroup2Mount(), 'CGROUP_SYSCTL').programIds.includes(r.followId!), 'guard rm detaches the follower');
    } finally {
      c.kill('SIGKILL');
      bpffs.done();
    }
  });
});

test('kernel: namespaces: sysward run --namespaces keeps a command that leaves its cgroup guarded', supported(), async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-run-ns-'));
  try {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'name: run-ns\ndefault: allow\nrules:\n  - { key: kernel.hostname, action: deny }\n');
    // The command moves itself to the root cgroup, then writes its own UTS namespace's hostname.
    const script = `echo $$ > ${findCgroup2Mount()}/cgroup.procs && echo moved > /proc/sys/kernel/hostname`;
    const run = (extra: string[]) => spawnSync(process.execPath, [bin, 'run', '-f', file, '--events', '-', ...extra, '--', 'unshare', '--uts', 'sh', '-c', script], { encoding: 'utf8' });
    const followed = run(['--namespaces']);
    assert.notEqual(followed.status, 0, 'the write after the move is refused');
    const events = followed.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { verdict: string; cgroup?: string; boundTo?: { cgroupId: string } });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.verdict, 'refused');
    assert.equal(events[0]!.cgroup, '/', 'written from the root cgroup');
    assert.ok(events[0]!.boundTo, 'by the follower, naming the command\'s cgroup');
    // Without it the move lifts the guard: the write happens (in the command's own UTS namespace).
    assert.equal(run([]).status, 0);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('kernel: namespaces: conformance: namespace: own refuses from the host\'s network, UTS and IPC namespaces and allows from the writer\'s own, alike in the kernel, the interpreter and the reference', supported(), async () => {
  const keys = [['net', 'net/ipv4/ip_forward', '--net'], ['uts', 'kernel/hostname', '--uts'], ['ipc', 'kernel/shmmax', '--ipc']] as const;
  const text = `name: ns-conf\ndefault: deny\nrules:\n${keys.map(([, k]) => `  - { key: ${k.replace(/\//g, '.')}, action: audit, namespace: own }\n`).join('')}`;
  const policy = parsePolicy(text, 'ns-conf.yaml');
  await withFreshCgroup(async (abs) => {
    using guard = loadGuard(policy, { eventsBytes: 1 << 16 });
    using link = attachCgroup({ cgroup: abs, program: guard.program, attachType: 'CGROUP_SYSCTL' });
    const reader = new RingBufReader(guard.maps.events);
    const vm = new VmGuard(policy);
    try {
      for (const [kind, key, flag] of keys) {
        for (const where of ['host', 'own'] as const) {
          // The value the key has, written back: nothing changes even if a write got through.
          const py = `import os\nwith open('${abs}/cgroup.procs', 'w') as f: f.write(str(os.getpid()))\nv = open('/proc/sys/${key}', 'rb').read()\ntry:\n    fd = os.open('/proc/sys/${key}', os.O_WRONLY)\n    try: os.write(fd, v)\n    finally: os.close(fd)\n    print('ok')\nexcept PermissionError: print('EPERM')`;
          const r = spawnSync('unshare', [...(where === 'own' ? [flag] : []), pythonExecutable(), '-c', py], { encoding: 'utf8' });
          const events: string[] = [];
          reader.drain((rec) => { const e = decodeEvent(rec, policy); events.push(`${e.verdict} ${e.reason}`); });
          const refused = where === 'host';
          assert.equal(r.stdout.trim(), refused ? 'EPERM' : 'ok', `${key} from the ${where} ${kind} namespace: ${r.stderr}`);
          assert.deepEqual(events, [refused ? 'refused host-namespace' : 'audited rule'], `${key} (${where}): kernel events`);
          const v = vm.run({ key, write: true, value: '1', current: '1', namespaces: { [kind]: where } });
          assert.equal(!v.allowed, refused, `${key} (${where}): interpreter`);
          assert.deepEqual(v.events.map((e) => `${e.verdict} ${e.reason}`), events, `${key} (${where}): interpreter events`);
          assert.equal(decide(policy, { key, write: true, value: '1', namespaces: { [kind]: where } }).verdict, refused ? 'refused' : 'audited', `${key} (${where}): reference`);
        }
      }
    } finally {
      link.detach();
      await reader.close();
    }
  });
});

test('kernel: namespaces: a bound task that moves into an exempt cgroup below its own stays guarded', supported(), async () => {
  // An exempt cgroup does not lift a followed task's guard (policy.md): a container of a listed
  // cgroup, bound to it, moved itself into the exempt cgroup below it and wrote what the guard
  // refuses — below the cgroup it was bound from, the follower left it to the copy attached
  // there, which let the exempt cgroup through.
  await withFreshCgroup(async (abs) => {
    const bpffs = privateBpffs();
    const guarded = join(abs, 'svc');
    const exempt = join(guarded, 'admin');
    mkdirSync(exempt, { recursive: true });
    const c = container(guarded, exempt, false);
    const name = `sw-ns-exempt-${process.pid}`;
    let own: ChildProcess | undefined;
    try {
      await c.ready;
      // A task of its own in the exempt cgroup when the guard is applied stays exempt: not bound.
      own = spawn('unshare', ['--mount', '--uts', 'sh', '-c', `echo $$ > ${exempt}/cgroup.procs && echo in && read x && echo x > /proc/sys/kernel/hostname && echo ok`], { stdio: ['pipe', 'pipe', 'inherit'] });
      let ownOut = '';
      own.stdout!.on('data', (d) => { ownOut += d; });
      await waitFor('the exempt task in its cgroup', () => ownOut.includes('in\n'));
      const rel = (p: string) => `/${p.slice(findCgroup2Mount().length + 1)}`;
      const policy = parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [${rel(guarded)}], exempt: [${rel(exempt)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`, 'p.yaml');
      const r = applyGuard(policy, { bpffs: bpffs.dir });
      assert.equal(r.bindings?.bound, 1, 'the guarded task\'s namespace, not the exempt one\'s');
      own.stdin!.write('go\n');
      await new Promise((r) => own!.on('close', r));
      assert.equal(ownOut.trim().split('\n').at(-1), 'ok', 'the exempt task writes');
      c.stdin!.write('go\n');
      const rep = await c.report;
      assert.equal(rep.inCtHostname, 'EPERM');
      assert.equal(rep.rootHostname, 'EPERM');
      assert.equal(rep.sibHostname, 'EPERM', 'moved into the exempt cgroup: still refused');
      assert.equal(rep.sibDomainname, 'ok');
    } finally {
      c.kill('SIGKILL');
      own?.kill('SIGKILL');
      await sleep(100);
      removeGuard(name, bpffs.dir);
      bpffs.done();
    }
  });
});
