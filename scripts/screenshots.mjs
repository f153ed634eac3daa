#!/usr/bin/env node
// The dashboard's screenshots in the docs (docs/img/dashboard*.png), made from a real daemon: two
// guards on a fresh cgroup (one enforcing, one in audit mode), refused writes from it over about
// 20 seconds (repeated writes, a value with HTML and U+202E), then headless chromium at 1280 px
// and 400 px. Needs root, a cgroup-BPF kernel and /usr/bin/chromium; run
// after the build: `sudo node scripts/screenshots.mjs`. Removes its guards and cgroup after.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const { Daemon } = await import(`${root}dist/src/daemon/daemon.js`);
const { findCgroup2Mount, removeCgroup } = await import(`${root}dist/src/cgroup/hierarchy.js`);
const { listGuards, removeGuard } = await import(`${root}dist/src/guard/runtime/apply.js`);

const mount = findCgroup2Mount();
const cgroup = mkdtempSync(join(mount, 'sysward-screens-'));
const dir = mkdtempSync(join(tmpdir(), 'sysward-screens-'));
const scope = `/${relative(mount, cgroup)}`;
const guards = ['container-escapes', 'hardening-audit'];
writeFileSync(join(dir, 'enforce.yaml'), `name: ${guards[0]}\ndefault: allow\nscope:\n  cgroups: [${scope}]\nrules:\n  - key: kernel.hostname\n    action: deny\n  - key: kernel.domainname\n    action: deny\n`);
writeFileSync(join(dir, 'audit.yaml'), `name: ${guards[1]}\nmode: audit\ndefault: allow\nscope:\n  cgroups: [${scope}]\nrules:\n  - key: kernel.domainname\n    action: deny\n`);
const sh = (script) => spawnSync('unshare', ['--uts', 'sh', '-c', `echo $$ > ${cgroup}/cgroup.procs || exit 99\n${script}\ntrue`], { encoding: 'utf8' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const d = new Daemon({ configDir: dir, stateDir: join(dir, 'state'), eventsFile: join(dir, 'audit.jsonl'), listen: { host: '127.0.0.1', port: 0 }, summaryMs: 1000, log: () => {} });
const profile = mkdtempSync(join(tmpdir(), 'sysward-chromium-'));
let ctx;
try {
  await d.start();
  ctx = await chromium.launchPersistentContext(profile, {
    headless: true, executablePath: '/usr/bin/chromium', locale: 'en-US', timezoneId: 'UTC', viewport: { width: 1280, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${d.port}/`);
  for (let round = 0; round < 20; round++) {
    sh(`for i in $(seq ${5 + (round % 7) * 4}); do echo web-${round % 3} > /proc/sys/kernel/hostname; done`);
    if (round % 4 === 0) sh('echo corp.example > /proc/sys/kernel/domainname');
    if (round === 6) sh(`printf '<b>invoice\\342\\200\\256fdp.exe</b>' | tee /proc/sys/kernel/hostname`);
    await sleep(1000);
  }
  await sleep(2500); // the last summaries, and a few pressure samples
  await page.screenshot({ path: join(root, 'docs/img/dashboard.png'), fullPage: true });
  await page.setViewportSize({ width: 400, height: 900 });
  await sleep(300);
  await page.screenshot({ path: join(root, 'docs/img/dashboard-400px.png') });
  // Each event of one value: HTML and U+202E shown as text, escaped.
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.click('#group');
  await page.fill('#filter', 'invoice');
  await sleep(300);
  await page.locator('section', { has: page.locator('#events') }).screenshot({ path: join(root, 'docs/img/dashboard-hostile.png') });
  console.log('wrote docs/img/dashboard.png, docs/img/dashboard-400px.png, docs/img/dashboard-hostile.png');
} finally {
  await ctx?.close();
  await d.stop();
  for (const g of guards) if (listGuards().includes(g)) removeGuard(g);
  removeCgroup(cgroup);
  rmSync(dir, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
