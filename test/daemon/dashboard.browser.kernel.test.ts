// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
// daemon on loopback, real guards and real refused writes: history from the audit log on load,
// live events, repeated events grouped with the kernel's summaries, audit mode shown as "would
// refuse", hostile values (HTML, U+202E, 5,000 characters) shown as escaped text, no page-wide
// horizontal scroll at 400 px, the chart drawn, filtering by a click, pause, and no row twice after
// the stream is cut by the daemon and after the daemon restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Daemon } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { removeGuard, listGuards } from '../../src/guard/runtime/apply.js';
import { gates, kernel, needs, which } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

export const CHROMIUM = '/usr/bin/chromium';
export const withChromium = () => needs(which('chromium') ? false : 'browser test: needs Debian\'s chromium at /usr/bin/chromium (apt-get install chromium)');

/** A fresh headless chromium with its own profile directory (removed by the caller). */
export function launch(profile: string, o: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    headless: true, executablePath: CHROMIUM, locale: 'en-US', timezoneId: 'Europe/Berlin', viewport: o,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Wait until `f` (run in the page) is truthy; fails with `what` and the page's counts. */
const pageProblems: string[] = [];
// (Polled with evaluate from here: waitForFunction compiles its text in the page, which the page's
// content security policy forbids, as it should.)
async function until(page: Page, what: string, f: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await js<boolean>(page, `Boolean(${f})`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  {
    throw new Error(`the page never showed ${what}; errors: ${pageProblems.join('; ')}; counts: ${await page.textContent('#counts')}; rows: ${await js<string>(page, `[...document.querySelectorAll('#events tr')].map((r) => r.innerText.slice(0, 120)).join(' | ')`)}`);
  }
}

/** An expression evaluated in the page (the tests compile without the DOM's types). */
const js = <T>(page: Page, expr: string): Promise<T> => page.evaluate(expr) as Promise<T>;

/** The accesses the audit log accounts for (events + summaries' counts), for some key. */
function logged(file: string, key?: string): number {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l) as { key: string; count?: number; type?: string })
    .filter((e) => key === undefined || e.key === key).reduce((t, e) => t + (e.type === 'summary' || e.type === 'dropped' ? e.count! : 1), 0);
}

const LONG = 'A'.repeat(5000);
const RLO = '\u202e';

test('kernel: dashboard in a browser: history, live events, grouping, audit mode, hostile values, 400 px, chart, filter, reconnects', gates(kernel(), withChromium()), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-dash-'));
    const scope = `/${relative(findCgroup2Mount(), abs)}`;
    const enforce = `sw-test-dashb-${process.pid}`, audit = `sw-test-dasha-${process.pid}`;
    writeFileSync(join(dir, 'enforce.yaml'), `name: ${enforce}\ndefault: allow\nscope:\n  cgroups: [${scope}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    writeFileSync(join(dir, 'audit.yaml'), `name: ${audit}\nmode: audit\ndefault: allow\nscope:\n  cgroups: [${scope}]\nrules:\n  - key: kernel.domainname\n    action: deny\n`);
    const log = join(dir, 'audit.jsonl');
    // History from before this daemon: lines as the audit log holds them. No kernel value is
    // 5,000 characters long (the guard cuts at 256), but the page must not trust the log's size.
    const before = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(log, [
      { time: before, guard: 'old-guard', verdict: 'refused', reason: 'rule', access: 'write', key: 'kernel.core_pattern', oldValue: 'core', newValue: `|/tmp/${LONG}`, filePos: 0, pid: 1, tgid: 1, uid: 0, gid: 0, comm: 'history', cgroupId: '1', cgroup: 'docker:hist', rule: { index: 0, key: 'kernel.core_pattern' }, generation: 1 },
      { type: 'summary', time: before, guard: 'old-guard', verdict: 'refused', reason: 'rule', access: 'write', key: 'kernel.core_pattern', uid: 0, comm: 'history', cgroupId: '1', cgroup: 'docker:hist', rule: { index: 0, key: 'kernel.core_pattern' }, generation: 1, count: 12345, from: before, to: before },
      // Accesses the kernel could not attribute: no key, writer or cgroup, a count all the same.
      { type: 'dropped', time: before, guard: 'old-guard', count: 7, from: before, to: before, why: 'every one of the guard\'s 16384 kinds of access was taken and its ring buffer was full' },
    ].map((l) => `${JSON.stringify(l)}\n`).join(''));
    const start = async (port: number) => {
      const d = new Daemon({ configDir: dir, stateDir: join(dir, 'state'), eventsFile: log, listen: { host: '127.0.0.1', port }, pollMs: 500, summaryMs: 300, log: () => {} });
      await d.start();
      // Other tests on this machine may hold the guards' lock for a moment: the daemon's next pass applies them.
      for (let i = 0; i < 200 && !(d.status().readers.includes(enforce) && d.status().readers.includes(audit)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(d.status().problems, {});
      return d;
    };
    let d = await start(0);
    const port = d.port!;
    const profile = mkdtempSync(join(tmpdir(), 'sysward-chromium-'));
    const ctx = await launch(profile, { width: 1280, height: 900 });
    const clients = async (n: number) => {
      for (let i = 0; i < 750 && d.status().events.dashboardClients !== n; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(d.status().events.dashboardClients, n, 'pages connected to the event stream');
    };
    try {
      const page = await ctx.newPage();
      const problems = pageProblems;
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('dialog', (dl) => { problems.push(`a dialog opened: ${dl.message()}`); void dl.dismiss(); });
      await page.goto(`http://127.0.0.1:${port}/`);
      const shown = () => js<number>(page, `Number(document.querySelector('#counts').dataset.shown)`);
      const total = () => js<number>(page, `Number(document.querySelector('#counts').dataset.total)`);

      // History on load: the two lines of the log, one row grouped, thousands separators.
      await until(page, 'the history', `document.querySelector('#counts').dataset.total === '12353'`);
      assert.equal(await page.textContent('#events tr[data-key="kernel.core_pattern"] td.num'), '12,346');
      assert.match((await page.textContent('#events tr[data-key="kernel.core_pattern"]'))!, /4,806 more characters/);
      assert.match((await page.textContent('#events tr[data-key="(not attributed)"]'))!, /dropped \(not attributed\)[\s\S]*7/);

      // Live: real writes from the guarded cgroup (in a UTS namespace of their own).
      const html = '<img src=x onerror=alert(1)>';
      const w = shInCgroup(abs, `echo '${html}' > /proc/sys/kernel/hostname; printf 'gpj\\342\\200\\256exe.txt' > /proc/sys/kernel/hostname; ` +
        'for i in $(seq 30); do echo same > /proc/sys/kernel/hostname; done; echo audited > /proc/sys/kernel/domainname; true', ['--uts']);
      assert.equal(w.status, 0, `the writes ran: ${w.stderr}`);
      const hostname = 32, domainname = 1;
      // 30 writes of one value, more than a kind's events a second: events plus the kernel's summary.
      await until(page, '32 hostname writes and a domainname one', `Number(document.querySelector('#counts').dataset.total) === 12353 + ${hostname + domainname}`);
      assert.equal(logged(log), 12353 + hostname + domainname, 'the log accounts for the same');
      assert.equal(await page.$eval('#events tr[data-key="kernel.hostname"] td.num', (t) => t.textContent), '32', 'one row for the kind, with its count');
      // Hostile values: text, not HTML; U+202E shown escaped, never rendered.
      assert.equal(await page.$$eval('#events img, img', (i) => i.length), 0);
      assert.equal(await js<boolean>(page, `document.body.innerText.includes('\u202e')`), false);
      await page.click('#group');
      await until(page, 'ungrouped rows', `document.querySelectorAll('#events tr[data-key="kernel.hostname"]').length > 3`);
      const cells = await page.$$eval('#events tr[data-key="kernel.hostname"] td:nth-child(6)', (t) => t.map((c) => ({ text: c.textContent, esc: [...c.querySelectorAll('.esc')].map((s) => s.textContent) })));
      assert.ok(cells.some((c) => c.text === html), 'the HTML as text');
      assert.ok(cells.some((c) => c.text === 'gpj\\u202Eexe.txt' && c.esc[0] === '\\u202E'), `U+202E escaped: ${JSON.stringify(cells.slice(0, 3))}`);
      await page.click('#group');
      assert.equal(RLO.length, 1);

      // Audit mode: would refuse, not refused, in the events and the guards table.
      const auditRow = await page.$eval('#events tr[data-key="kernel.domainname"] td:nth-child(3)', (t) => ({ text: t.textContent, cls: t.className }));
      assert.deepEqual([auditRow.text, auditRow.cls.includes('would-refuse')], ['would refuse (audit)', true]);
      await until(page, 'the audit guard counted', `(document.querySelector('#guards tr[data-guard="${audit}"]')?.textContent ?? '').includes('1 would refuse')`);
      const auditGuard = await page.$eval(`#guards tr[data-guard="${audit}"]`, (t) => ({ text: t.textContent!, red: t.querySelector('.refused') !== null }));
      assert.match(auditGuard.text, /audit \(refuses nothing\)/);
      assert.equal(auditGuard.red, false);
      assert.match(await page.$eval(`#guards tr[data-guard="${enforce}"]`, (t) => t.textContent!), /daemon/, 'the owner');
      // Times in the browser's zone, named.
      assert.match((await page.textContent('#time-head'))!, /UTC\+01:00/);
      assert.match((await page.textContent('#zone'))!, /Europe\/Berlin/);

      // The chart: bars for what is shown, by verdict; then by guard.
      const charted = () => js<{ n: number; bars: number }>(page, `({ n: Number(document.querySelector('#chart').dataset.charted), bars: document.querySelectorAll('#chart rect').length })`);
      const c = await charted();
      assert.equal(c.n, await total(), 'every event of the last hour is charted');
      assert.ok(c.bars >= 2);
      await page.check('input[name=series][value=guard]');
      // (Drawn at the next animation frame.)
      await until(page, 'the chart by guard', `[...new Set([...document.querySelectorAll('#chart rect')].map((x) => x.getAttribute('data-series')))].sort().join() === ${JSON.stringify([audit, enforce, 'old-guard'].sort().join())}`);
      assert.ok(await page.$$eval('#psi-chart polyline', (p) => p.length) >= 1 || (await page.textContent('#psi-chart'))!.includes('no pressure'));

      // Filter by a click on a key; shown / total; the chart follows; remove the filter.
      await page.click('#events tr[data-key="kernel.domainname"] td:nth-child(5)');
      await until(page, 'the filter', `document.querySelector('#counts').dataset.shown === '1'`);
      assert.match((await page.textContent('#counts'))!, /showing 1 of 12,386 events/);
      assert.equal((await charted()).n, 1);
      await page.click('#chips .chip button');
      await until(page, 'all again', `document.querySelector('#counts').dataset.shown === '12386'`);

      // Pause: nothing new is drawn until resumed.
      await page.click('#pause');
      shInCgroup(abs, 'echo paused > /proc/sys/kernel/hostname; true', ['--uts']);
      await until(page, 'the held event', `document.querySelector('#counts').textContent.includes('1 new')`);
      assert.equal(await total(), 12386);
      await page.click('#pause');
      await until(page, 'the event after resuming', `document.querySelector('#counts').dataset.total === '12387'`);

      // The daemon cuts the stream: the page reconnects, and nothing is added twice.
      d.feed.close();
      await clients(0);
      await clients(1);
      shInCgroup(abs, 'echo after-cut > /proc/sys/kernel/hostname; true', ['--uts']);
      await until(page, 'the event after the cut', `document.querySelector('#counts').dataset.total === '12388'`);
      assert.equal(await total(), logged(log));

      // The daemon restarts on the same port: the page starts over from the log's history, once.
      await d.stop();
      d = await start(port);
      await clients(1);
      shInCgroup(abs, 'echo after-restart > /proc/sys/kernel/hostname; true', ['--uts']);
      await until(page, 'the event after the restart', `document.querySelector('#counts').dataset.total === '12389'`);
      assert.equal(await total(), logged(log));
      assert.equal(await shown(), logged(log));

      // 400 px wide: no page-wide horizontal scroll (tables scroll inside their sections).
      await page.setViewportSize({ width: 400, height: 800 });
      await page.waitForTimeout(100);
      const widths = await js<{ doc: number; view: number }>(page, `({ doc: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })`);
      assert.ok(widths.doc <= widths.view, `page ${widths.doc} px wide in a ${widths.view} px window`);
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
      await d.stop();
      for (const g of [enforce, audit]) if (listGuards().includes(g)) removeGuard(g);
      rmSync(profile, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
