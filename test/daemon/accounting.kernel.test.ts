// Every refusal accounted for (issue #13): under a flood the program sends the first events of
// each kind of access at full detail and counts the rest; the daemon writes the counts as summary
// lines. For every key, events + summaries' counts = what the kernel refused, exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { applyGuard, guardStatus, listGuards, removeGuard } from '../../src/guard/runtime/apply.js';
import { GuardEventStream } from '../../src/guard/runtime/event-stream.js';
import { guardPins } from '../../src/guard/runtime/layout.js';
import { loadPolicyFile, parsePolicy } from '../../src/guard/policy/index.js';
import { kernel, pythonExecutable } from '../helpers/env.js';
import { privateBpffs, withFreshCgroup } from '../helpers/cgroup.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Python writing KEY COUNT times in a private UTS namespace, `gapMs` apart; prints refused and allowed counts. */
function writes(abs: string, key: string, count: number, gapMs = 0) {
  const py = `import os, time, json
refused = ok = 0
fd = os.open('/proc/sys/kernel/${key}', os.O_WRONLY)
for i in range(${count}):
    try:
        os.pwrite(fd, b'x', 0); ok += 1
    except PermissionError:
        refused += 1
    if ${gapMs}: time.sleep(${gapMs / 1000})
print(json.dumps({'refused': refused, 'ok': ok}), flush=True)`;
  const c = spawn('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs && exec "$1" -c "$0"`, py, pythonExecutable()], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout!.on('data', (d) => { out += d; });
  return new Promise<{ refused: number; ok: number }>((resolve, reject) => c.on('close', (code) => { try { resolve(JSON.parse(out)); } catch { reject(new Error(`writer exited ${code}: ${out}`)); } }));
}

type Line = { type?: string; guard: string; verdict: string; key: string; count?: number; time: string };

test('kernel: accounting: a flood of 200,000 refused writes is events + summaries, exactly; a slow key keeps every event; earlier events survive', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-acct-'));
    const guard = `sw-test-acct-${process.pid}`;
    const log = join(dir, 'audit.jsonl');
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n  - { key: kernel.domainname, action: deny }\n`);
    const d = new Daemon({ configDir: dir, stateDir: mkdtempSync(join(dir, 'state-')), eventsFile: log, listen: null, pollMs: 0, summaryMs: 300, log: () => {} });
    try {
      await d.start();
      const early = await writes(abs, 'hostname', 3);
      assert.equal(early.refused, 3);
      await sleep(1100); // a new one-second window: the flood's first events are sent too
      const [flood, slow] = await Promise.all([writes(abs, 'hostname', 200_000), writes(abs, 'domainname', 8, 250)]);
      assert.equal(flood.refused, 200_000);
      assert.equal(slow.refused, 8);
      await d.stop();
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).filter((l) => l.guard === guard);
      const of = (key: string) => lines.filter((l) => l.key === key && l.verdict === 'refused');
      const host = of('kernel.hostname'), domain = of('kernel.domainname');
      const events = host.filter((l) => l.type !== 'summary').length;
      const summarised = host.filter((l) => l.type === 'summary').reduce((t, l) => t + l.count!, 0);
      process.stdout.write(`# kernel.hostname: ${events} events + ${summarised} in ${host.length - events} summary lines = ${events + summarised}\n`);
      assert.equal(events + summarised, 200_003, 'every refusal of the flooded key is an event or counted in a summary');
      assert.ok(host.length < 1000, `a flood is a few lines, not ${host.length}`);
      assert.equal(domain.filter((l) => l.type !== 'summary').length, 8, 'the slow key kept every event at full detail');
      assert.equal(domain.filter((l) => l.type === 'summary').length, 0);
      assert.ok(host.slice(0, 3).every((l) => l.type !== 'summary'), 'the events before the flood are in the log');
      // The kernel's own per-rule counters say the same.
      const c = guardStatus(guard).counters.find((x) => x.rule === 'kernel.hostname')!;
      assert.equal(Number(c.refused), 200_003);
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('kernel: accounting: accesses with no kind left and no room for an event are a dropped line, reported once, and counted from 0 after a re-apply', kernel(), async () => {
  const bpffs = privateBpffs();
  try {
    await withFreshCgroup(async (abs) => {
      const name = `sw-test-drops-${process.pid}`;
      const policy = parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n  - { key: kernel.domainname, action: deny }\n`, 'drops.yaml');
      // One kind slot (domainname takes it) and a ring buffer of 8 events: hostname is unattributed.
      const small = { bpffs: bpffs.dir, aggKinds: 1, eventsBytes: 4096 };
      applyGuard(policy, small);
      const stream = new GuardEventStream(name, { bpffs: bpffs.dir });
      try {
        assert.deepEqual(await writes(abs, 'domainname', 1), { refused: 1, ok: 0 });
        assert.deepEqual(await writes(abs, 'hostname', 300), { refused: 300, ok: 0 });
        const dropped = guardStatus(name, bpffs.dir).droppedEvents;
        assert.ok(dropped > 0n, 'the ring buffer filled');
        const first = stream.summaries();
        stream.commitSummaries();
        const lines = first.filter((s) => s.type === 'dropped');
        assert.equal(lines.length, 1);
        assert.equal(lines[0]!.count, Number(dropped), 'the line counts what the kernel dropped');
        let events = 0;
        stream.drain(() => { events++; });
        assert.equal(events + Number(dropped), 301, 'events + dropped = every refusal');
        assert.deepEqual(stream.summaries().filter((s) => s.type === 'dropped'), [], 'reported once');
        stream.commitSummaries();
        // More drops: a line with the difference only.
        assert.deepEqual(await writes(abs, 'hostname', 100), { refused: 100, ok: 0 });
        const more = guardStatus(name, bpffs.dir).droppedEvents - dropped;
        const second = stream.summaries().filter((s) => s.type === 'dropped');
        stream.commitSummaries();
        assert.deepEqual(second.map((s) => s.count), [Number(more)]);
        stream.drain(() => {});
        // A re-apply makes a new counters map: nothing dropped under it yet, no line.
        applyGuard(policy, small);
        assert.deepEqual(stream.summaries().filter((s) => s.type === 'dropped'), []);
        stream.commitSummaries();
      } finally { await stream.close(); removeGuard(name, bpffs.dir); }
    });
  } finally { bpffs.done(); }
});

test('kernel: accounting: agg-reported removed is put back by its reader, so counts already reported are not reported again', kernel(), async () => {
  const bpffs = privateBpffs();
  try {
    await withFreshCgroup(async (abs) => {
      const name = `sw-test-seen-${process.pid}`;
      applyGuard(parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`, 'seen.yaml'), { bpffs: bpffs.dir });
      const stream = new GuardEventStream(name, { bpffs: bpffs.dir });
      const pins = guardPins(name, bpffs.dir);
      let events = 0;
      const pass = () => {
        const s = stream.summaries().filter((x) => x.type === 'summary');
        stream.commitSummaries();
        stream.drain(() => { events++; });
        return s.reduce((t, x) => t + (x as { count: number }).count, 0);
      };
      try {
        assert.deepEqual(await writes(abs, 'hostname', 2000), { refused: 2000, ok: 0 });
        const first = pass();
        assert.ok(first > 0, 'a flood over the event rate is counted, not sent');
        assert.equal(events + first, 2000);
        // Removed (an operator's rm, another tool): the next pass puts the same map back.
        rmSync(pins.aggReported);
        assert.equal(pass(), 0, 'nothing new to report: what was reported is not reported again');
        assert.ok(existsSync(pins.aggReported), 'agg-reported pinned again');
        // Removed again after more refusals: the next pass reports those alone.
        assert.deepEqual(await writes(abs, 'hostname', 500), { refused: 500, ok: 0 });
        rmSync(pins.aggReported);
        const second = pass();
        assert.equal(events + first + second, 2500, 'events + summaries = every refusal, each once');
        assert.equal(guardStatus(name, bpffs.dir).droppedEvents, 0n);
        // The agg map itself unpinned, with the metadata that names it (else the apply pins it
        // again), and no daemon holding it: the next apply makes new agg maps, counting from 0,
        // and what was reported of the old ones no longer applies.
        await sleep(1100); // a new one-second window for the event rate
        rmSync(pins.agg);
        rmSync(pins.meta);
        applyGuard(parsePolicy(`name: ${name}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`, 'seen.yaml'), { bpffs: bpffs.dir });
        assert.ok(!existsSync(pins.aggReported), 'what was reported of the old agg maps goes with them (its entries would never be released)');
        assert.deepEqual(await writes(abs, 'hostname', 500), { refused: 500, ok: 0 });
        const third = pass();
        assert.ok(third > 0, 'the new agg maps\' counts are reported');
        assert.equal(events + first + second + third, 3000, 'events + summaries = every refusal, each once');
      } finally { await stream.close(); removeGuard(name, bpffs.dir); }
    });
  } finally { bpffs.done(); }
});

test('kernel: accounting: the guard\'s folder removed from under the daemon loses no count and reports none twice', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-acct-rm-'));
    const guard = `sw-test-acctrm-${process.pid}`;
    const log = join(dir, 'audit.jsonl');
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`);
    const d = new Daemon({ configDir: dir, stateDir: mkdtempSync(join(dir, 'state-')), eventsFile: log, listen: null, pollMs: 100, summaryMs: 100, log: () => {} });
    const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line).filter((l) => l.guard === guard) : []);
    const accounted = () => lines().reduce((t, l) => t + (l.type === 'summary' ? l.count! : 1), 0);
    const until = async (what: string, ok: () => boolean) => { for (let i = 0; i < 100 && !ok(); i++) await sleep(100); assert.ok(ok(), what); };
    const pins = guardPins(guard);
    try {
      await d.start();
      assert.deepEqual(await writes(abs, 'hostname', 2000), { refused: 2000, ok: 0 });
      await until('the flood in the log as events and a summary', () => accounted() === 2000);
      // rm -r of the guard's folder: the daemon holds its objects and pins them again; its event
      // reader pins again what its summaries reported (agg-reported), so nothing is reported twice.
      rmSync(pins.dir, { recursive: true });
      await until('the pins put back', () => existsSync(pins.meta) && existsSync(pins.agg) && existsSync(pins.aggReported));
      await sleep(500); // several summary passes
      assert.equal(accounted(), 2000, 'nothing reported twice');
      await sleep(1100); // a new one-second window for the event rate
      assert.deepEqual(await writes(abs, 'hostname', 500), { refused: 500, ok: 0 });
      await d.stop();
      assert.equal(accounted(), 2500, 'events + summaries = every refusal, each once');
      assert.equal(Number(guardStatus(guard).counters.find((c) => c.rule === 'kernel.hostname')!.refused), 2500);
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A guard the daemon adopts with one kind slot and a ring buffer of 8 events (kernel.domainname's
 * write takes the slot): a flood of kernel.hostname is mostly dropped, and counted as dropped.
 */
async function withSmallDaemonGuard(tag: string, f: (o: { abs: string; guard: string; bpffs: string; dir: string; setRules: (extra: string) => void; lines: () => Line[] }) => Promise<void>) {
  const bpffs = privateBpffs();
  try {
    await withFreshCgroup(async (abs) => {
      const dir = mkdtempSync(join(tmpdir(), `sw-acct-${tag}-`));
      const guard = `sw-test-${tag}-${process.pid}`;
      const setRules = (extra: string) => writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n  - { key: kernel.domainname, action: deny }\n${extra}`);
      setRules('');
      applyGuard(loadPolicyFile(join(dir, 'p.yaml')), { bpffs: bpffs.dir, owner: 'daemon', managedBy: resolve(dir), aggKinds: 1, eventsBytes: 4096 });
      const log = join(dir, 'audit.jsonl');
      const lines = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).filter((l) => l.guard === guard);
      try { await f({ abs, guard, bpffs: bpffs.dir, dir, setRules, lines }); } finally {
        if (listGuards(bpffs.dir).includes(guard)) removeGuard(guard, bpffs.dir);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  } finally { bpffs.done(); }
}

const accountedIn = (lines: Line[]) => lines.reduce((t, l) => t + (l.type === 'summary' || l.type === 'dropped' ? l.count! : 1), 0);

test('kernel: accounting: reloads that replace the counters map during a flood leave every dropped access in a dropped line', kernel(), async () => {
  await withSmallDaemonGuard('redrop', async ({ abs, bpffs, dir, setRules, lines }) => {
    // settleMs 0: each version swaps a rule for another, which otherwise waits for the config to settle.
    const d = new Daemon({ configDir: dir, bpffs, eventsFile: join(dir, 'audit.jsonl'), eventsMaxBytes: 0, listen: null, pollMs: 0, summaryMs: 0, settleMs: 0, log: () => {} });
    try {
      await d.start();
      assert.deepEqual(await writes(abs, 'domainname', 1), { refused: 1, ok: 0 });
      const flood = writes(abs, 'hostname', 300_000);
      // Each reload summarises, then applies a new program with a new counters map: drops land in
      // the old one until the links run the new program (the compile and load take a while).
      for (let i = 0; i < 5; i++) {
        await sleep(100);
        setRules(`  - { key: kernel.msgmax${i}, action: deny }\n`);
        assert.equal((await d.reload('SIGHUP')).applied.length, 1);
      }
      assert.deepEqual(await flood, { refused: 300_000, ok: 0 });
      await d.stop();
      const all = lines();
      assert.ok(all.some((l) => l.type === 'dropped'), 'the flood was dropped in part');
      assert.equal(accountedIn(all), 300_001, 'events + summaries + dropped = every refusal, each once');
    } finally { await d.stop(); }
  });
});

test('kernel: accounting: what was dropped while no daemon ran is reported by the next one, even when it applies a changed policy', kernel(), async () => {
  await withSmallDaemonGuard('stopdrop', async ({ abs, bpffs, dir, setRules, lines }) => {
    const mk = () => new Daemon({ configDir: dir, bpffs, eventsFile: join(dir, 'audit.jsonl'), eventsMaxBytes: 0, listen: null, pollMs: 0, summaryMs: 0, log: () => {} });
    let d = mk();
    try {
      await d.start();
      assert.deepEqual(await writes(abs, 'domainname', 1), { refused: 1, ok: 0 });
      await d.stop();
      // No reader: the ring buffer holds 8 events, the rest is dropped, in the pinned counters map.
      assert.deepEqual(await writes(abs, 'hostname', 3000), { refused: 3000, ok: 0 });
      setRules('  - { key: kernel.msgmax, action: deny }\n');
      d = mk();
      await d.start(); // applies the changed policy: a new counters map
      await d.stop();
      assert.equal(accountedIn(lines()), 3001, 'events + dropped = every refusal');
    } finally { await d.stop(); }
  });
});

test('kernel: accounting: a disk that fills between two summary lines reports the one written once, and the other later', kernel(), async () => {
  const bpffs = privateBpffs();
  try {
    await withFreshCgroup(async (abs) => {
      const dir = mkdtempSync(join(tmpdir(), 'sw-acct-full-'));
      const mnt = join(dir, 'logfs');
      mkdirSync(mnt);
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { encoding: 'utf8' });
      assert.equal(m.status, 0, m.stderr);
      const guard = `sw-test-full-${process.pid}`;
      const log = join(mnt, 'audit.jsonl');
      writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n  - { key: kernel.domainname, action: deny }\n`);
      const mk = () => new Daemon({ configDir: dir, bpffs: bpffs.dir, eventsFile: log, eventsMaxBytes: 0, listen: null, pollMs: 0, summaryMs: 0, log: () => {} });
      let d = mk();
      try {
        await d.start();
        // Two kinds over the event rate: two summary lines (about 400 bytes each) at the stop.
        assert.deepEqual(await Promise.all([writes(abs, 'hostname', 500), writes(abs, 'domainname', 500)]), [{ refused: 500, ok: 0 }, { refused: 500, ok: 0 }]);
        await sleep(300);
        d.audit.flush();
        // 450 bytes left in the file's last page and no page free: one summary line fits, two do not.
        const slack = 4096 - (statSync(log).size % 4096);
        let pad = (slack - 450 + 4096) % 4096;
        if (pad && pad < 23) pad += 4096;
        if (pad) appendFileSync(log, `${JSON.stringify({ guard: 'pad', p: 'x'.repeat(pad - 23) })}\n`); // 23 bytes besides the x's
        assert.equal(4096 - (statSync(log).size % 4096), 450);
        spawnSync('sh', ['-c', `dd if=/dev/zero of=${mnt}/filler bs=4096 2>/dev/null`]);
        await d.stop();
        assert.equal(d.audit.failed, 1, 'one summary line did not fit');
        rmSync(join(mnt, 'filler'));
        d = mk();
        await d.start();
        await d.stop();
        const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).filter((l) => l.guard === guard);
        assert.equal(accountedIn(lines), 1000, 'events + summaries = every refusal, each once');
      } finally {
        await d.stop();
        if (listGuards(bpffs.dir).includes(guard)) removeGuard(guard, bpffs.dir);
        spawnSync('umount', [mnt]);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  } finally { bpffs.done(); }
});

test('kernel: accounting: the ring buffer or a counts map unpinned while no daemon ran loses nothing: the next apply pins the program\'s own again', kernel(), async () => {
  for (const pin of ['events', 'agg', 'aggValues'] as const) {
    const bpffs = privateBpffs();
    try {
      await withFreshCgroup(async (abs) => {
        const dir = mkdtempSync(join(tmpdir(), 'sw-acct-unpin-'));
        const guard = `sw-test-unpin-${process.pid}`;
        const log = join(dir, 'audit.jsonl');
        writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope: { cgroups: [/${relative(findCgroup2Mount(), abs)}] }\nrules:\n  - { key: kernel.hostname, action: deny }\n`);
        const mk = () => new Daemon({ configDir: dir, bpffs: bpffs.dir, eventsFile: log, eventsMaxBytes: 0, listen: null, pollMs: 0, summaryMs: 0, log: () => {} });
        let d = mk();
        try {
          await d.start();
          await d.stop();
          // 10 events in the ring buffer and 1,990 counted, none read yet; then the pin goes.
          assert.deepEqual(await writes(abs, 'hostname', 2000), { refused: 2000, ok: 0 });
          rmSync(guardPins(guard, bpffs.dir)[pin]);
          d = mk();
          await d.start(); // the guard is applied again (a pin missing)
          await d.stop();
          const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).filter((l) => l.guard === guard);
          assert.equal(accountedIn(lines), 2000, `${pin} unpinned: events + summaries = every refusal`);
        } finally {
          await d.stop();
          if (listGuards(bpffs.dir).includes(guard)) removeGuard(guard, bpffs.dir);
          rmSync(dir, { recursive: true, force: true });
        }
      });
    } finally { bpffs.done(); }
  }
});
