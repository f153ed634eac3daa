// The dashboard against a real guard: the status a page polls and the live event stream show a
// refused write from a guarded cgroup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Daemon, type DaemonStatus } from '../../src/daemon/daemon.js';
import { findCgroup2Mount } from '../../src/cgroup/hierarchy.js';
import { removeGuard, listGuards } from '../../src/guard/runtime/apply.js';
import { kernel } from '../helpers/env.js';
import { shInCgroup, withFreshCgroup } from '../helpers/cgroup.js';

test('kernel: dashboard: the page, the status with counters, and a refused write on the live stream', kernel(), async () => {
  await withFreshCgroup(async (abs) => {
    const dir = mkdtempSync(join(tmpdir(), 'sysward-cfg-'));
    const guard = `sw-test-dash-${process.pid}`;
    writeFileSync(join(dir, 'p.yaml'), `name: ${guard}\ndefault: allow\nscope:\n  cgroups: [/${relative(findCgroup2Mount(), abs)}]\nrules:\n  - key: kernel.hostname\n    action: deny\n`);
    const d = new Daemon({ configDir: dir, listen: { host: '127.0.0.1', port: 0 }, pollMs: 0, log: () => {} });
    try {
      await d.start();
      const base = `http://127.0.0.1:${d.port}`;
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>sysward<\/title>/);
      const status = async () => (await (await fetch(`${base}/api/status`)).json()) as DaemonStatus;
      const before = (await status()).guards.find((g) => g.name === guard)!;
      assert.deepEqual([before.mode, before.cgroups, before.rules, before.refused], ['enforce', [`/${relative(findCgroup2Mount(), abs)}`], 1, '0']);
      // The host's pressure, as /proc/pressure/cpu has it.
      const s = await status();
      if (existsSync('/proc/pressure/cpu')) assert.equal(typeof s.pressure!.cpu!.some!.avg10, 'number');
      else assert.equal(s.pressure, null);

      // Subscribe, then write: the event arrives on the stream.
      const event = new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = get(`${base}/api/events`, (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            const m = /^data: (.*kernel\.hostname.*)$/m.exec(buf);
            if (m) { req.destroy(); resolve(JSON.parse(m[1]!) as Record<string, unknown>); }
          });
        });
        req.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e); });
        setTimeout(() => { req.destroy(); reject(new Error(`no event on the stream within 10 s; got so far: ${JSON.stringify(d.status().events)}`)); }, 10_000).unref();
        req.on('socket', () => setTimeout(() => shInCgroup(abs, 'echo sysward-dash > /proc/sys/kernel/hostname', ['--uts']), 200));
      });
      const e = await event;
      assert.equal(e.verdict, 'refused');
      assert.equal(e.key, 'kernel.hostname');
      assert.equal(e.newValue, 'sysward-dash');
      assert.equal(e.guard, guard);
      assert.equal((await status()).guards.find((g) => g.name === guard)!.refused, '1');
    } finally {
      await d.stop();
      if (listGuards().includes(guard)) removeGuard(guard);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
