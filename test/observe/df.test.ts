// sysward df against GNU df on this machine, field by field, and the pieces of df's logic
// (human_readable rounding, the mount-table rules) against fixtures. No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HumanOpts, humanReadable, parseBlockSize } from '../../src/observe/human.js';
import { diskUsage, dfFormat, formatDf, makedev, parseMountinfo, type FsUsage } from '../../src/observe/df.js';
import { needs, which } from '../helpers/env.js';

const bin = fileURLToPath(new URL('../../../bin/sysward', import.meta.url));
const hasDf = needs(which('df') ? false : 'needs GNU df (coreutils)');
/** GNU df and sysward df in the same environment (no BLOCK_SIZE and such from the caller). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DF_BLOCK_SIZE|BLOCK_SIZE|BLOCKSIZE|POSIXLY_CORRECT|LC_.*|LANG)$/.test(k)));
const gnuDf = (args: string[]) => spawnSync('df', args, { encoding: 'utf8', env: { ...env, LC_ALL: 'C' } });
const swDf = (args: string[]) => spawnSync(bin, ['df', ...args], { encoding: 'utf8', env: { ...env, LC_ALL: 'C' } });

/**
 * Run GNU df, sysward df, GNU df until both GNU runs agree (a busy filesystem changes between
 * runs); then sysward's output must be GNU's, byte for byte.
 */
function compare(args: string[]): void {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = gnuDf(args), ours = swDf(args), b = gnuDf(args);
    if (a.stdout !== b.stdout) continue;
    last = `df ${args.join(' ')}:\n--- GNU\n${a.stdout}--- sysward\n${ours.stdout}${ours.stderr}`;
    if (ours.stdout === a.stdout) {
      assert.equal(ours.status, a.status, `exit status of df ${args.join(' ')}`);
      return;
    }
  }
  assert.fail(`sysward df differs from GNU df (or the filesystems never held still):\n${last}`);
}

for (const args of [[], ['-h'], ['-H'], ['-T'], ['-i'], ['-ih'], ['-hT'], ['-a'], ['-aT'], ['-k'], ['-B', '1M'], ['-l'], ['-x', 'tmpfs'], ['-t', 'tmpfs', '-T']]) {
  test(`df ${args.join(' ') || '(no options)'}: identical to GNU df`, hasDf, () => compare(args));
}

test('df PATH...: the filesystems holding the paths, errors reported as df does (exit 1)', hasDf, () => {
  const paths = ['/', '/dev/shm', '/proc', '/sys/fs/cgroup', tmpdir(), '/dev/null', '/no/such/path'];
  compare(paths);
  compare(['-hT', ...paths]);
  const r = swDf(['/no/such/path']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /sysward df: \/no\/such\/path: No such file or directory/);
});

test('df --json: bytes agree with df -B1 for every filesystem shown', hasDf, () => {
  for (let attempt = 0; ; attempt++) {
    const a = gnuDf(['-B1', '--output=source,target,size,used,avail,itotal,iused,iavail']);
    const ours = JSON.parse(swDf(['--json']).stdout) as { filesystems: { source: string; target: string; sizeBytes: number; usedBytes: number; availableBytes: number; inodes: number; inodesUsed: number; inodesFree: number }[] };
    const b = gnuDf(['-B1', '--output=source,target,size,used,avail,itotal,iused,iavail']);
    if (a.stdout !== b.stdout && attempt < 20) continue;
    const gnu = a.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    const mine = ours.filesystems.map((f) => [f.source, f.target, f.sizeBytes, f.usedBytes, f.availableBytes, f.inodes, f.inodesUsed, f.inodesFree].map(String));
    if (JSON.stringify(gnu) === JSON.stringify(mine) || attempt >= 20) { assert.deepEqual(mine, gnu); return; }
  }
});

test('human_readable: the same rounding as du -h / df -h (ceiling, one decimal below 10)', hasDf, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-human-'));
  try {
    const sizes = [0, 1, 999, 1000, 1023, 1024, 1025, 1536, 10239, 10240, 10241, 1048575, 1048576, 1048577, 9.95 * 1048576, 10 * 1048576 - 1, 123456789, 999999999999, 2 ** 40 + 1];
    sizes.forEach((s, i) => { const p = join(dir, `f${i}`); writeFileSync(p, ''); truncateSync(p, Math.floor(s)); });
    for (const [flag, opts] of [['-h', HumanOpts.AUTOSCALE | HumanOpts.SI | HumanOpts.BASE_1024], ['--si', HumanOpts.AUTOSCALE | HumanOpts.SI]] as const) {
      const out = execFileSync('du', ['--apparent-size', flag, ...sizes.map((_, i) => join(dir, `f${i}`))], { encoding: 'utf8', env: { ...env, LC_ALL: 'C' } });
      out.trim().split('\n').forEach((line, i) => {
        const want = line.split('\t')[0];
        assert.equal(humanReadable(BigInt(Math.floor(sizes[i]!)), opts, 1n, 1n), want, `${Math.floor(sizes[i]!)} bytes with ${flag}`);
      });
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('human_readable: block units, exact integer paths', () => {
  assert.equal(humanReadable(66053021n, 0, 4096n, 1024n), '264212084');
  assert.equal(humanReadable(3n, 0, 512n, 1024n), '2'); // 1.5K rounds up
  assert.equal(humanReadable(1024n, HumanOpts.SUPPRESS_POINT_ZERO | HumanOpts.AUTOSCALE | HumanOpts.SI | HumanOpts.BASE_1024, 1n, 1n), '1K');
  assert.equal(humanReadable(512n, HumanOpts.SUPPRESS_POINT_ZERO | HumanOpts.AUTOSCALE | HumanOpts.SI | HumanOpts.B, 1n, 1n), '512B');
  assert.deepEqual(parseBlockSize('1M'), { opts: 0, blockSize: 1048576n });
  assert.deepEqual(parseBlockSize('MB'), { opts: HumanOpts.SI | HumanOpts.B, blockSize: 1000000n });
  assert.equal(parseBlockSize('x'), undefined);
  assert.equal(dfFormat({ env: { POSIXLY_CORRECT: '1' } }).outputBlockSize, 512n);
  assert.equal(dfFormat({ env: { DF_BLOCK_SIZE: 'human-readable' } }).mode, 'human');
});

const MOUNTINFO = `21 26 0:20 / /fx/proc rw,relatime - proc proc rw
23 26 0:6 / /fx/dev rw,relatime - devtmpfs devtmpfs rw,size=100k
26 1 254:0 / /fx rw,relatime - ext4 /dev/vda rw
24 23 0:22 / /fx/dev/shm rw,relatime - tmpfs tmpfs rw
29 24 0:26 / /fx/dev/shm rw,relatime - tmpfs tmpfs rw
40 26 254:0 /srv /fx/mnt/bind\\040dir rw,relatime - ext4 /dev/vda rw
41 26 0:40 / /fx/mnt/nfs rw - nfs4 server:/export rw
42 26 0:41 / /fx/mnt/empty rw - tmpfs none rw
`;

test('mount table: escapes, device numbers, dummy and remote filesystems (gnulib mountlist)', () => {
  const m = parseMountinfo(MOUNTINFO);
  assert.equal(m.length, 8);
  assert.equal(m[5]!.mountdir, '/fx/mnt/bind dir');
  assert.equal(m[5]!.mntroot, '/srv');
  assert.equal(m[2]!.dev, makedev(254n, 0n));
  assert.deepEqual(m.map((e) => e.dummy), [true, false, false, false, false, false, false, false]);
  assert.deepEqual(m.map((e) => e.remote), [false, false, false, false, false, false, true, false]);
});

test('which filesystems df shows: dummy, zero-size and duplicates hidden; -a shows them; -l hides remote', () => {
  const sizes: Record<string, Partial<FsUsage>> = { '/fx': { blocks: 1000n }, '/fx/dev': { blocks: 10n }, '/fx/dev/shm': { blocks: 20n }, '/fx/mnt/bind dir': { blocks: 1000n }, '/fx/mnt/nfs': { blocks: 50n }, '/fx/mnt/empty': { blocks: 0n }, '/fx/proc': { blocks: 0n } };
  const statvfs = (p: string): FsUsage => {
    const s = sizes[p];
    if (!s) { const e = new Error('ENOENT') as NodeJS.ErrnoException; e.code = 'ENOENT'; throw e; }
    return { blockSize: 1024n, blocks: 0n, bfree: 0n, bavail: 0n, bavailNegative: false, files: 0n, ffree: 0n, ...s };
  };
  // The mount points (/fx/...) do not exist here, so df's stat() fails and no duplicate is merged by st_dev;
  // what remains is the dummy / zero-size / remote / type logic.
  const shown = (o = {}) => diskUsage([], o, { mountinfo: MOUNTINFO, statvfs }).rows.map((r) => r.target.replace(/^\/fx/, '') || '/');
  assert.deepEqual(shown(), ['/dev', '/', '/dev/shm', '/dev/shm', '/mnt/bind dir', '/mnt/nfs']);
  assert.deepEqual(shown({ local: true }), ['/dev', '/', '/dev/shm', '/dev/shm', '/mnt/bind dir']);
  assert.deepEqual(shown({ all: true }), ['/proc', '/dev', '/', '/dev/shm', '/dev/shm', '/mnt/bind dir', '/mnt/nfs', '/mnt/empty']);
  assert.deepEqual(shown({ types: ['tmpfs'] }), ['/dev/shm', '/dev/shm']);
  assert.deepEqual(shown({ exclude: ['tmpfs', 'ext4'] }), ['/dev', '/mnt/nfs']);
  const text = formatDf(diskUsage([], {}, { mountinfo: MOUNTINFO, statvfs }).rows.slice(0, 2), { printType: true });
  assert.equal(text, 'Filesystem     Type     1K-blocks  Used Available Use% Mounted on\ndevtmpfs       devtmpfs        10    10         0 100% /fx/dev\n/dev/vda       ext4          1000  1000         0 100% /fx\n');
});
