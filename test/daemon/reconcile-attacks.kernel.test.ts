// The reconciler against what an adversarial review tried (each case once broke it): links
// detached by another tool, a CLI guard or another daemon's guard with the same name, duplicate
// names in the config, a held lock, corrupt pins, deletion loops, planted exempt cgroups, watch
// leaks and SIGHUP storms. A looping writer counts the forbidden writes that got through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { Link, queryCgroup } from '../../src/bpf/link.js';
import { applyGuard, guardMeta, guardsDir, listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { parsePolicy } from '../../src/guard/policy/index.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';
import { countingWriter } from '../helpers/writer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const relCg = (abs: string) => `/${relative(findCgroup2Mount(), abs)}`;
const attached = (abs: string) => { try { return queryCgroup(abs, 'CGROUP_SYSCTL').programIds; } catch { return []; } };
const policy = (guard: string, cgs: string[], extra = '') => `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${cgs.join(', ')}]\n${extra}rules:\n  - key: kernel.hostname\n    action: deny\n`;

async function waitFor(what: string, f: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) { if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`); await sleep(5); }
}

/** One write of kernel.hostname by a task in `abs` (in a UTS namespace of its own): 'ok' or 'EPERM'. */
const hostnameWrite = (abs: string): string => {
  const r = shInCgroup(abs, '/bin/echo x > /proc/sys/kernel/hostname && echo written', ['--uts']);
  return r.stdout.includes('written') ? 'ok' : /Operation not permitted/.test(r.stderr) ? 'EPERM' : `failed (${r.status}): ${r.stderr}`;
};

/** Writer counts over `ms` in `abs`. */
async function leaksDuring(abs: string, ms: number, during: () => Promise<void> | void = () => {}): Promise<number> {
  const stop = join(mkdtempSync(join(tmpdir(), 'sw-stop-')), 'stop');
  const w = countingWriter(abs, stop);
  await w.started;
  await during();
  await sleep(ms);
  writeFileSync(stop, '');
  const c = await w.counts;
  assert.equal(c.fails, 0);
  return c.leaks;
}

async function withDaemon(name: string, f: (o: { dir: string; root: string; guard: string; d: () => Daemon; start: (extra?: object) => Promise<Daemon>; lines: string[] }) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sysward-atk-'));
  const dir = join(root, 'conf');
  mkdirSync(dir);
  const guard = `sw-atk-${name}-${process.pid}`;
  const lines: string[] = [];
  let daemon: Daemon | undefined;
  const start = async (extra: object = {}) => {
    daemon = new Daemon({ configDir: dir, listen: null, stateDir: join(root, 'state'), pollMs: 200, settleMs: 500, log: (l) => lines.push(l), ...extra });
    await daemon.start();
    return daemon;
  };
  try { await f({ dir, root, guard, d: () => daemon!, start, lines }); } finally {
    await daemon?.stop();
    for (const g of listGuards()) if (g.startsWith(guard)) removeGuard(g);
    rmSync(root, { recursive: true, force: true });
  }
}

test('kernel: attack: links detached by another tool are put back and stay back (the repair\'s own pin is not removed)', kernel(), async () => {
  await withFreshCgroup(async (abs) => withDaemon('detach', async ({ dir, guard, start }) => {
    writeFileSync(join(dir, 'p.yaml'), policy(guard, [relCg(abs)]));
    await start();
    for (let i = 0; i < 3; i++) {
      for (const f of readdirSync(join(guardsDir(), guard))) if (f.startsWith('link-')) { using l = Link.openPinned(join(guardsDir(), guard, f)); l.detach(); }
      await waitFor('the link put back', () => attached(abs).length === 1);
      // It stays: a writer over two poll intervals finds it refusing every time.
      assert.equal(await leaksDuring(abs, 500), 0, `round ${i}`);
    }
    // The CLI's re-apply over a detached link attaches for real too.
  }));
  await withFreshCgroup(async (abs) => {
    const guard = `sw-atk-cli-${process.pid}`;
    try {
      applyGuard(parsePolicy(policy(guard, [relCg(abs)]), 'p.yaml'));
      for (const f of readdirSync(join(guardsDir(), guard))) if (f.startsWith('link-')) { using l = Link.openPinned(join(guardsDir(), guard, f)); l.detach(); }
      applyGuard(parsePolicy(policy(guard, [relCg(abs)], 'mode: enforce\n'), 'p2.yaml'));
      assert.equal(attached(abs).length, 1);
      assert.equal(await leaksDuring(abs, 200), 0);
    } finally { if (listGuards().includes(guard)) removeGuard(guard); }
  });
});

test('kernel: attack: the daemon does not take over a guard applied by the CLI (or another daemon) of the same name', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('own', async ({ dir, guard, start, d }) => {
    const cli = join(top, 'cli'), svc = join(top, 'svc');
    mkdirSync(cli); mkdirSync(svc);
    applyGuard(parsePolicy(policy(guard, [relCg(cli)]), 'cli.yaml'));
    writeFileSync(join(dir, 'c.yaml'), policy(guard, [relCg(svc)]));
    await start();
    assert.equal(guardMeta(guard)!.owner, 'cli');
    assert.equal(attached(cli).length, 1, 'the CLI guard stays where it was');
    assert.equal(d().status().status, 'guard not in force');
    assert.match(d().status().problems[guard]!, /applied by `sysward guard apply`; the daemon does not take it over: rename the policy in .*c\.yaml, or remove that guard/);
    assert.equal(await leaksDuring(cli, 200), 0);
    // Its config file replaced by another policy: the CLI's guard is still not the daemon's to
    // remove. (Never an empty config directory in tests: that means the built-in default, whose
    // audit-all guard goes on the root cgroup.)
    writeFileSync(join(dir, 'd.yaml'), policy(`${guard}-other`, [relCg(svc)]));
    rmSync(join(dir, 'c.yaml'));
    await d().reload('test');
    await sleep(800);
    assert.ok(listGuards().includes(guard));
  }));
});

test('kernel: attack: a second file with a guard\'s name does not replace the guard in force', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('dup', async ({ dir, guard, start, d }) => {
    const svc = join(top, 'svc'), other = join(top, 'other');
    mkdirSync(svc); mkdirSync(other);
    writeFileSync(join(dir, 'a.yaml'), policy(guard, [relCg(svc)]));
    await start();
    const prog = attached(svc);
    writeFileSync(join(dir, '0-copy.yaml'), `name: ${guard}\nmode: audit\ndefault: allow\nscope: { cgroups: [${relCg(other)}] }\nrules:\n  - key: kernel.domainname\n    action: deny\n`);
    const r = await d().reload('test');
    assert.match(r.errors.join('\n'), /is used by .*a\.yaml too/);
    assert.deepEqual(attached(svc), prog, 'the guard in force stays as it was');
    assert.equal(await leaksDuring(svc, 200), 0);
  }));
});

test('kernel: attack: two daemons with different configs keep each other\'s guards', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('two-a', async (a) => withDaemon('two-b', async (b) => {
    const ca = join(top, 'a'), cb = join(top, 'b');
    mkdirSync(ca); mkdirSync(cb);
    writeFileSync(join(a.dir, 'p.yaml'), policy(a.guard, [relCg(ca)]));
    writeFileSync(join(b.dir, 'p.yaml'), policy(b.guard, [relCg(cb)]));
    await a.start();
    await b.start();
    const leaks = await Promise.all([leaksDuring(ca, 1500), leaksDuring(cb, 1500)]);
    assert.deepEqual(leaks, [0, 0]);
    assert.ok(listGuards().includes(a.guard) && listGuards().includes(b.guard));
    assert.ok(!b.lines.some((l) => l.includes(`removed guard ${a.guard}`)) && !a.lines.some((l) => l.includes(`removed guard ${b.guard}`)));
  })));
});

test('kernel: attack: a held guards lock does not freeze the daemon; the repair happens once it is free', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('lock', async ({ dir, guard, start, d }) => {
    const svc = join(top, 'svc');
    mkdirSync(svc);
    writeFileSync(join(dir, 'p.yaml'), policy(guard, [relCg(svc)]));
    await start();
    const holder = spawn('flock', ['-x', join(guardsDir(), '..'), 'sleep', '2'], { stdio: 'ignore' });
    await sleep(200);
    rmdirSync(svc); mkdirSync(svc);
    // The daemon answers meanwhile: a pass returns while the lock is still held (it used to wait
    // for the lock, 30 s per guard), which a non-blocking flock right after it shows.
    const r = d().reconcile('test');
    assert.equal(spawnSync('flock', ['-n', '-x', join(guardsDir(), '..'), 'true']).status, 1, 'a pass returns while the lock is held');
    assert.match(r.errors.join('\n'), /another sysward process is changing guards/);
    assert.equal(d().status().status, 'guard not in force');
    await new Promise((r) => holder.on('close', r));
    await waitFor('the cgroup guarded once the lock is free', () => attached(svc).length === 1);
  }));
});

test('kernel: attack: unreadable pins of a guard that is not the daemon\'s, and a deletion loop, neither crash nor detach', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('rmloop', async ({ dir, guard, start, d }) => {
    const svc = join(top, 'svc');
    mkdirSync(svc);
    writeFileSync(join(dir, 'p.yaml'), policy(guard, [relCg(svc)]));
    // Another guard whose meta pin holds a map that is not metadata.
    const junk = `${guard}-junk`;
    applyGuard(parsePolicy(policy(junk, [relCg(top)]), 'j.yaml'));
    rmSync(join(guardsDir(), junk, 'meta'));
    renameSync(join(guardsDir(), junk, 'counters'), join(guardsDir(), junk, 'meta'));
    await start();
    const leaks = await leaksDuring(svc, 3000, () => {
      const end = Date.now() + 2500;
      const loop = () => { if (Date.now() > end) return; rmSync(join(guardsDir(), guard), { recursive: true, force: true }); setTimeout(loop, 3); };
      loop();
    });
    assert.equal(leaks, 0, `${leaks} forbidden writes got through while the pins were deleted in a loop`);
    await waitFor('the pins back', () => existsSync(join(guardsDir(), guard, 'meta')));
    assert.equal(d().status().status, 'ok');
  }));
});

test('kernel: attack: an exempt cgroup made later by whoever may write the guarded cgroup is not exempt', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('exempt', async ({ dir, guard, start, d, lines }) => {
    const ctr = join(top, 'ctr');
    mkdirSync(ctr);
    chmodSync(top, 0o755); // mkdtemp made it 0700: nobody could not reach ctr
    chownSync(ctr, 65534, 65534);
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${relCg(ctr)}]\n  exempt: [${relCg(ctr)}/runtime]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    await start();
    const made = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'mkdir', join(ctr, 'runtime')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    await d().reload('test');
    assert.equal(await leaksDuring(join(ctr, 'runtime'), 300), 0, lines.join('\n'));
  }));
});

test('kernel: attack: cgroups made and removed in a loop leave no inotify watches behind; a SIGHUP storm is a few reloads', kernel(), async () => {
  await withFreshCgroup(async (top) => withDaemon('watch', async ({ dir, guard, start, lines }) => {
    writeFileSync(join(dir, 'p.yaml'), policy(guard, [relCg(top)]));
    await start();
    const inotifyWatches = () => readdirSync('/proc/self/fdinfo').reduce((n, fd) => {
      try { if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify') return n + spawnSync('grep', ['-c', '^inotify', `/proc/self/fdinfo/${fd}`], { encoding: 'utf8' }).stdout.trim().split('\n').reduce((a, b) => a + Number(b || 0), 0); } catch { /* closed meanwhile */ }
      return n;
    }, 0);
    const before = inotifyWatches();
    for (let i = 0; i < 200; i++) {
      const p = join(top, `s${i}.service`);
      mkdirSync(p); mkdirSync(join(p, 'x'));
      await sleep(1);
      rmdirSync(join(p, 'x')); rmdirSync(p);
    }
    await sleep(500);
    assert.ok(inotifyWatches() - before < 20, `watches grew from ${before} to ${inotifyWatches()}`);
    const reloadsBefore = lines.filter((l) => l.startsWith('SIGHUP')).length;
    for (let i = 0; i < 300; i++) process.emit('SIGHUP', 'SIGHUP');
    await sleep(600);
    const reloads = lines.filter((l) => l.startsWith('SIGHUP')).length - reloadsBefore;
    assert.ok(reloads >= 1 && reloads <= 3, `${reloads} reloads for 300 SIGHUPs`);
  }));
});

test('kernel: attack: a policy file written in two parts (a slow copy, `cat >>`) never applies the first part alone', kernel(), async () => {
  // The first part of a policy file can be a policy of its own: cut after a rule, it is the policy
  // without the rules below. Read between the two writes (the reload runs 100 ms after the last
  // event), it replaced the guard in force and the rules not yet written were lifted.
  // A change that lifts a refusal now waits for the config to settle (--settle-ms; 1.5 s here,
  // longer than the pause between the writes); one that only tightens applies at once.
  await withFreshCgroup(async (top) => withDaemon('partial', async ({ dir, guard, start, lines }) => {
    const svc = join(top, 'svc');
    mkdirSync(svc);
    const file = join(dir, 'p.yaml');
    const head = `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${relCg(svc)}]\nrules:\n  - key: kernel.shmmax\n    action: deny\n`;
    const whole = `${head}  - key: kernel.hostname\n    action: deny\n`;
    writeFileSync(file, whole);
    // A second policy, so that removing p.yaml below never leaves the directory empty (an empty
    // one means the built-in default, which guards the host: not this test's to apply).
    const other = join(top, 'other');
    mkdirSync(other);
    writeFileSync(join(dir, 'keep.yaml'), `name: ${guard}-keep\ndefault: allow\nscope:\n  cgroups: [${relCg(other)}]\nrules:\n  - key: kernel.shmmax\n    action: deny\n`);
    await start({ settleMs: 1500 });
    const leaks = await leaksDuring(svc, 300, async () => {
      // The same policy written again in place, in two writes with a pause between.
      writeFileSync(file, head);
      await sleep(600);
      appendFileSync(file, whole.slice(head.length));
    });
    assert.equal(leaks, 0, `${leaks} forbidden writes got through while the file was half written`);
    assert.match(lines.join('\n'), new RegExp(`guard ${guard}: the policy in .*p\\.yaml lifts refusals of the one in force; it is applied once the config has been unchanged for 1\\.5 s`));
    // A policy that means to lift the rule is applied once the file has settled.
    writeFileSync(file, head);
    await sleep(300);
    assert.equal(hostnameWrite(svc), 'EPERM', 'not yet: the config has not settled');
    await sleep(1800);
    assert.equal(hostnameWrite(svc), 'ok', 'applied once settled');
    // Tightening again applies at once.
    writeFileSync(file, whole);
    await sleep(400);
    assert.equal(hostnameWrite(svc), 'EPERM');
    // Removed, then copied back slowly: measured against the guard still pinned, not against nothing.
    const again = await leaksDuring(svc, 300, async () => {
      rmSync(file);
      await sleep(300);
      writeFileSync(file, head);
      await sleep(600);
      appendFileSync(file, whole.slice(head.length));
    });
    assert.equal(again, 0, `${again} forbidden writes got through while the file was copied back`);
  }));
});

test('kernel: attack: `guard apply` of a daemon\'s guard name does not replace what the daemon enforces', kernel(), async () => {
  // The CLI replaced the daemon's guard with its own policy and made it the CLI's, which the
  // daemon then would not take back: the configured rules stayed lifted (reported, not restored).
  await withFreshCgroup(async (top) => withDaemon('cli-over', async ({ dir, guard, start }) => {
    const svc = join(top, 'svc');
    mkdirSync(svc);
    writeFileSync(join(dir, 'p.yaml'), policy(guard, [relCg(svc)]));
    await start();
    const weaker = `name: ${guard}\nmode: audit\ndefault: allow\nscope:\n  cgroups: [${relCg(svc)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`;
    assert.throws(() => applyGuard(parsePolicy(weaker, 'try.yaml')), /managed by `sysward daemon`/);
    assert.equal(guardMeta(guard)!.owner, 'daemon');
    assert.equal(await leaksDuring(svc, 1500), 0);
  }));
});
