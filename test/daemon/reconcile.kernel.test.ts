// The daemon as a reconciler, tried as a hostile or clumsy user would (issue: protection that
// never lapses). Each case runs a writer looping in the guarded cgroup and counts the forbidden
// writes that got through: 0, or for a cgroup made again, 0 once the daemon has guarded it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { guardPins } from '../../src/guard/runtime/layout.js';
import { pinnedSuppressed } from '../../src/guard/runtime/agg.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { queryCgroup } from '../../src/bpf/link.js';
import { policyFromJson } from '../../src/guard/model-json.js';
import { guardMeta, guardStatus, guardsDir, inspectGuard, inspectionProblems, listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { kernel } from '../helpers/env.js';
import { withFreshCgroup } from '../helpers/cgroup.js';
import { countingWriter } from '../helpers/writer.js';
import { createRingBuf } from '../../src/bpf/ringbuf.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
/** Refusals the guard counted but did not send as events (over the per-kind rate; its agg map). */
function suppressed(guard: string): bigint {
  try { return pinnedSuppressed(guardPins(guard)); } catch { return 0n; /* not pinned (yet) */ }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const relCg = (abs: string) => `/${relative(findCgroup2Mount(), abs)}`;

function policy(guard: string, cg: string, extra = ''): string {
  return `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [${cg}]\nrules:\n  - key: kernel.hostname\n    action: deny\n${extra}`;
}

async function waitFor(what: string, f: () => boolean, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
  return Date.now() - t0;
}

const attached = (abs: string) => { try { return queryCgroup(abs, 'CGROUP_SYSCTL').programIds; } catch { return []; } };

/** A test's own config and state folders, removed after, with its guard. */
async function withConfig(name: string, f: (dir: string, state: string, guard: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sysward-rec-'));
  const dir = join(root, 'conf');
  const state = join(root, 'state');
  mkdirSync(dir);
  const guard = `sw-test-${name}-${process.pid}`;
  try { await f(dir, state, guard); } finally {
    if (listGuards().includes(guard)) removeGuard(guard);
    rmSync(root, { recursive: true, force: true });
  }
}

test('kernel: reconcile: a guarded cgroup removed and made again (a service restart) is guarded again; a scope cgroup made after start too', kernel(), async () => {
  await withFreshCgroup(async (top) => withConfig('remade', async (dir, state, guard) => {
    const svc = join(top, 'svc.service');
    // A cgroup one letter away: the daemon names it as a likely typo while it waits for svc.
    mkdirSync(join(top, 'svd.service'));
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(svc)));
    const lines: string[] = [];
    const d = new Daemon({ configDir: dir, listen: null, stateDir: state, pollMs: 1000, log: (l) => lines.push(l) });
    const waitingGauge = async () => /sysward_scope_cgroups_waiting\{guard="([^"]+)"\} (\d+)/.exec((await d.metrics.registry.metrics()).split('\n').find((l) => l.includes(`guard="${guard}"`) && l.startsWith('sysward_scope_cgroups_waiting')) ?? '')?.[2];
    try {
      await d.start();
      // Not made yet: the daemon waits for it and says so; nothing is unhealthy about that.
      assert.deepEqual(d.status().waitingFor, { [guard]: [relCg(svc)] });
      assert.equal(d.status().status, 'ok');
      assert.equal(await waitingGauge(), '1');
      assert.ok(lines.some((l) => l.includes(`waiting for ${relCg(svc)} (did you mean ${relCg(join(top, 'svd.service'))}?)`)), lines.join('\n'));
      const delays: number[] = [];
      for (let round = 0; round < 4; round++) {
        mkdirSync(svc);
        delays.push(await waitFor(`the guard on ${svc}`, () => attached(svc).length === 1));
        const stop = join(dir, `stop-${round}`);
        const w = countingWriter(svc, stop);
        await w.started;
        await sleep(150);
        writeFileSync(stop, '');
        const c = await w.counts;
        assert.equal(c.leaks, 0, `round ${round}: ${c.leaks} forbidden writes got through`);
        assert.equal(c.fails, 0);
        assert.ok(c.rounds > 0);
        if (round === 0) assert.equal(await waitingGauge(), undefined, 'the gauge drops the guard once its cgroup is there');
        rmdirSync(svc);
      }
      // The stale links of removed cgroups are dropped, not kept.
      await waitFor('stale links dropped', () => inspectionProblems(inspectGuard(policyFromJson(guardMeta(guard)!.policy))).length === 0);
      assert.match(lines.join('\n'), /repaired guard .*not guarded/);
      process.stderr.write(`# cgroup made again → guarded again after ${delays.join(', ')} ms (inotify; the timer is the fallback)\n`);
    } finally { await d.stop(); }
  }));
});

test('kernel: reconcile: a daemon started while a policy file is broken keeps that file\'s guard (saved state, or the pin\'s own record)', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('broken', async (dir, state, guard) => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy(guard, relCg(abs)));
    const stop = join(dir, 'stop');
    // The writer starts once the first guard is in force: what it counts is every forbidden write
    // from then on, across the restarts with a broken file.
    let w: ReturnType<typeof countingWriter> | undefined;
    for (const stateDir of [state, undefined]) {
      const d1 = new Daemon({ configDir: dir, listen: null, pollMs: 0, log: () => {}, ...(stateDir ? { stateDir } : {}) });
      await d1.start();
      if (!w) { w = countingWriter(abs, stop); await w.started; }
      await d1.stop();
      const prog = attached(abs);
      assert.equal(prog.length, 1);
      writeFileSync(file, `name: ${guard}\nrules: [ {key: kernel.hostname, action: alow} ]\n`);
      const lines: string[] = [];
      const d2 = new Daemon({ configDir: dir, listen: null, pollMs: 0, log: (l) => lines.push(l), ...(stateDir ? { stateDir } : {}) });
      await d2.start();
      try {
        assert.match(lines.join('\n'), new RegExp(`guard ${guard} keeps the last good policy`));
        assert.ok(!/removed guard/.test(lines.join('\n')), lines.join('\n'));
        assert.deepEqual(attached(abs), prog, 'the same program stays attached');
      } finally { await d2.stop(); }
      writeFileSync(file, policy(guard, relCg(abs)));
    }
    writeFileSync(stop, '');
    const c = await w!.counts;
    assert.equal(c.leaks, 0, `${c.leaks} forbidden writes got through`);
  }));
});

test('kernel: reconcile: kill -9 and restart in a loop while the policy file is rewritten lets nothing through', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('loop', async (dir, state, guard) => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, policy(guard, relCg(abs)));
    const start = () => spawn(process.execPath, [bin, 'daemon', '--config', dir, '--listen', 'none', '--events', 'none', '--state-dir', state], { stdio: 'ignore' });
    let daemon: ChildProcess = start();
    await waitFor('the first guard', () => attached(abs).length === 1);
    const stop = join(dir, '..', 'stop');
    const w = countingWriter(abs, stop);
    await w.started;
    try {
      for (let i = 0; i < 8; i++) {
        // Half-written, broken, and good versions of the file, with the daemon killed in between.
        writeFileSync(file, i % 2 ? `name: ${guard}\nrules:\n  - key: kernel.hostname\n    action: alow\n` : policy(guard, relCg(abs), `  - key: vm.swappiness\n    range: [0, ${100 + i}]\n`).slice(0, i % 4 === 0 ? undefined : 40));
        await sleep(150 + 40 * i);
        daemon.kill('SIGKILL');
        await new Promise((r) => daemon.on('close', r));
        daemon = start();
      }
      await sleep(500);
    } finally {
      writeFileSync(stop, '');
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.on('close', r));
    }
    const c = await w.counts;
    assert.equal(c.leaks, 0, `${c.leaks} forbidden writes got through`);
    assert.equal(c.fails, 0);
    assert.equal(attached(abs).length, 1);
  }));
});

test('kernel: reconcile: a guard removed from under the daemon is put back, and its events still reach the log', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('rm', async (dir, state, guard) => {
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(abs)));
    const log = join(dir, '..', 'audit.jsonl');
    const lines: string[] = [];
    const d = new Daemon({ configDir: dir, listen: null, stateDir: state, eventsFile: log, pollMs: 1000, summaryMs: 0, log: (l) => lines.push(l) });
    const refuseOnce = (tag: string) => spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs; echo ${tag} > /proc/sys/kernel/hostname`]);
    // A flood fills the ring buffer (the kernel drops and counts the rest): a marker write is
    // sent once the reader has taken everything, so it is never among the dropped.
    // Refusals over the event rate are counted in the kernel (summaries at stop: summaryMs 0).
    const caughtUp = () => { const g = guardStatus(guard); return g.counters.reduce((t, c) => t + c.refused, 0n) === BigInt(d.audit.written) + g.droppedEvents + suppressed(guard); };
    const logged = (tag: string) => existsSync(log) && readFileSync(log, 'utf8').includes(`"${tag}`);
    try {
      await d.start();
      const prog = attached(abs);
      // 1. Every pin deleted (rm -r of the guard's folder): the daemon holds the objects, so nothing
      //    is detached; it pins them again.
      const stop = join(dir, '..', 'stop');
      const w = countingWriter(abs, stop);
      await w.started;
      rmSync(join(guardsDir(), guard), { recursive: true });
      await waitFor('the pins put back', () => existsSync(join(guardsDir(), guard, 'meta')));
      await sleep(200);
      writeFileSync(stop, '');
      const c = await w.counts;
      assert.equal(c.leaks, 0, `${c.leaks} forbidden writes got through while the pins were gone`);
      assert.deepEqual(attached(abs), prog, 'the same program, still attached once');
      await waitFor('the reader to catch up with the flood', caughtUp);
      refuseOnce('afterunpin');
      await waitFor('the event after the pins came back', () => logged('afterunpin')).catch((e) => { throw new Error(`${(e as Error).message}\n${lines.join('\n')}\n${JSON.stringify(d.status().events)} ${JSON.stringify(d.status().readers)} dropped ${guardStatus(guard).droppedEvents} refused ${guardStatus(guard).counters[0]!.refused}\n${existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-3).join('\n') : 'no log'}`); });
      // 2. Removed as `guard rm --force` does (links detached, pins gone): the daemon pins its
      //    objects again and attaches new links.
      removeGuard(guard);
      await waitFor('the guard attached again', () => attached(abs).length === 1 && listGuards().includes(guard));
      const stop2 = `${stop}2`;
      const w2 = countingWriter(abs, stop2);
      await w2.started;
      await sleep(150);
      writeFileSync(stop2, '');
      assert.equal((await w2.counts).leaks, 0);
      await waitFor('the reader to catch up with the flood', caughtUp);
      refuseOnce('afterrm');
      await waitFor('the event after the guard came back', () => logged('afterrm'));
      // 3. Its ring buffer pin replaced by another map (another tool): the guard is rebuilt on it and
      //    the daemon reads the new one.
      const events = join(guardsDir(), guard, 'events');
      rmSync(events);
      await sleep(0);
      using other = createRingBuf(64 * 1024, 'other_tool');
      other.pin(events);
      await waitFor('the events pin to be the program\'s again', () => guardMeta(guard)?.eventsId === other.info().id);
      refuseOnce('afterswap');
      await waitFor('the event on the new ring buffer', () => logged('afterswap'));
      assert.match(lines.join('\n'), /repaired guard|applied guard/);
      assert.equal(d.status().status, 'ok');
      const metrics = await d.metrics.registry.metrics();
      assert.match(metrics, new RegExp(`sysward_reconcile_repairs_total\\{guard="${guard}"\\} [2-9]`));
    } finally { await d.stop(); }
  }));
});

test('kernel: reconcile: a config directory that disappears for a while changes nothing', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('dir', async (dir, state, guard) => {
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(abs)));
    const d = new Daemon({ configDir: dir, listen: null, stateDir: state, pollMs: 100, settleMs: 1000, log: () => {} });
    try {
      await d.start();
      const prog = attached(abs);
      const stop = join(dir, '..', 'stop');
      const w = countingWriter(abs, stop);
      await w.started;
      rmSync(dir, { recursive: true });
      await sleep(1500);
      assert.deepEqual(attached(abs), prog);
      assert.deepEqual(listGuards().filter((g) => g === guard), [guard]);
      // A deploy puts it back whole (made beside it, then renamed into place).
      const next = `${dir}.new`;
      mkdirSync(next);
      writeFileSync(join(next, 'p.yaml'), policy(guard, relCg(abs)));
      renameSync(next, dir);
      await sleep(1500);
      writeFileSync(stop, '');
      const c = await w.counts;
      assert.equal(c.leaks, 0, `${c.leaks} forbidden writes got through`);
      assert.deepEqual(attached(abs), prog, 'the same program throughout');
    } finally { await d.stop(); }
  }));
});

test('kernel: reconcile: concurrent `guard apply` of one name leaves one consistent guard every time', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('race', async (dir, _state, guard) => {
    const files = ['a', 'b'].map((v, i) => {
      const f = join(dir, `${v}.yaml`);
      writeFileSync(f, policy(guard, relCg(abs), `  - key: vm.swappiness\n    range: [0, ${100 + i}]\n`));
      return f;
    });
    const stop = join(dir, '..', 'stop');
    const w = countingWriter(abs, stop);
    const apply = (f: string) => new Promise<number>((resolve) => spawn(process.execPath, [bin, 'guard', 'apply', '-f', f], { stdio: 'ignore' }).on('close', (code) => resolve(code ?? -1)));
    try {
      await apply(files[0]!);
      await w.started;
      for (let i = 0; i < 12; i++) {
        if (i % 4 === 3) removeGuard(guard); // a first apply racing too
        const codes = await Promise.all([apply(files[0]!), apply(files[1]!)]);
        assert.deepEqual(codes, [0, 0]);
        const meta = guardMeta(guard)!;
        const problems = inspectionProblems(inspectGuard(policyFromJson(meta.policy)));
        assert.deepEqual(problems, [], `try ${i}: the kernel's guard differs from its metadata`);
        assert.deepEqual(attached(abs), [meta.programId]);
        assert.equal(guardStatus(guard).cgroups.length, 1);
      }
    } finally { writeFileSync(stop, ''); }
    const c = await w.counts;
    // Only the moments with no guard at all (after the removals) may let a write through.
    assert.equal(c.fails, 0);
  }));
});

test('kernel: reconcile: SIGHUP right after start is queued, never fatal', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('hup', async (dir, state, guard) => {
    writeFileSync(join(dir, 'p.yaml'), policy(guard, relCg(abs)));
    // From the first instruction of bin/sysward (SIGHUP caught: bit 0 of SigCgt) to well after start.
    const catchesHup = (pid: number) => { try { return (BigInt(`0x${/SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`) & 1n) === 1n; } catch { return false; } };
    const live: ChildProcess[] = [];
    try {
      for (const delayMs of [0, 5, 20, 60, 150, 300]) {
        const p = spawn(process.execPath, [bin, 'daemon', '--config', dir, '--listen', 'none', '--events', 'none', '--state-dir', state], { stdio: ['ignore', 'ignore', 'pipe'] });
        live.push(p);
        let err = '';
        p.stderr!.on('data', (b) => { err += b; });
        const exited = new Promise<number | string | null>((r) => p.on('exit', (code, sig) => r(sig ?? code)));
        await waitFor('bin/sysward to run', () => catchesHup(p.pid!));
        await sleep(delayMs);
        p.kill('SIGHUP');
        // It says it took the signal, and goes on (the guard stays, one attachment).
        await waitFor(`the daemon to take SIGHUP sent ${delayMs} ms after it ran`, () => /SIGHUP/.test(err) || p.exitCode !== null || p.signalCode !== null);
        await sleep(100);
        assert.ok(listGuards().includes(guard) && attached(abs).length === 1);
        assert.equal(p.exitCode, null, `SIGHUP ${delayMs} ms after start killed the daemon: ${err}`);
        p.kill('SIGTERM');
        assert.equal(await exited, 0, `delay ${delayMs} ms: ${err}`);
      }
    } finally {
      // A daemon left running would put the guard back after the test removed it.
      for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }));
});

test('kernel: reconcile: hostile files (a FIFO, an alias bomb) block nothing and a 10,000-rule policy is parsed off the thread that answers /healthz, while the guard in force lets nothing through', kernel(), async () => {
  await withFreshCgroup(async (abs) => withConfig('big', async (dir, state, guard) => {
    writeFileSync(join(dir, 'a.yaml'), policy(guard, relCg(abs)));
    spawnSync('mkfifo', [join(dir, 'zz.yaml')]);
    // 384 bytes that expand to 9^6 values (the "billion laughs"): refused by the parser's limits.
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [x, y] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']]) bomb.push(`${x}: &${x} [*${y},*${y},*${y},*${y},*${y},*${y},*${y},*${y},*${y}]`);
    writeFileSync(join(dir, 'bomb.yaml'), `${bomb.join('\n')}\n`);
    const stop = join(dir, '..', 'stop');
    const big = `${guard}-big`;
    const d = new Daemon({ configDir: dir, listen: { host: '127.0.0.1', port: 0 }, stateDir: state, pollMs: 0, log: () => {} });
    try {
      await d.start();
      assert.ok(listGuards().includes(guard), 'the good policy beside the FIFO is applied');
      const w = countingWriter(abs, stop);
      assert.match(d.lastReload!.report.errors.join('\n'), /zz\.yaml/);
      assert.match(d.lastReload!.report.errors.join('\n'), /bomb\.yaml.*alias/s);
      const lines = [`name: ${big}`, 'default: allow', `scope: { cgroups: [${relCg(abs)}] }`, 'rules:'];
      for (let i = 0; i < 9999; i++) lines.push(`  - key: net.ipv4.bench_fake_key_${i}`, '    action: deny');
      lines.push('  - key: kernel.hostname', '    action: deny');
      writeFileSync(join(dir, 'b.yaml'), `${lines.join('\n')}\n`);
      let reloaded = false;
      const reload = d.reload('test').then((r) => { reloaded = true; return r; });
      const res = await fetch(`http://127.0.0.1:${d.port}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(reloaded, false, '/healthz answered while the large policy was still being read');
      const r = await reload;
      assert.ok(r.applied.includes(big), JSON.stringify(r));
      await w.started;
      writeFileSync(stop, '');
      assert.equal((await w.counts).leaks, 0);
    } finally {
      writeFileSync(stop, '');
      await d.stop();
      if (listGuards().includes(big)) removeGuard(big);
    }
  }));
});
