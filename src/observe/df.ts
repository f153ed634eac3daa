// Disk usage as GNU coreutils' df (9.x) computes and prints it: the same mount table
// (/proc/self/mountinfo), the same filesystems hidden by default (gnulib's "dummy" types, zero-size
// filesystems, duplicates of one device), the same numbers (statvfs: blocks in f_frsize units;
// Used = blocks - bfree; Use% = ceil(used * 100 / (used + avail))), the same rounding in -h
// (gnulib human_readable, rounding up), the same columns and alignment.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readFileSync, realpathSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { HumanOpts, humanReadable, parseBlockSize } from './human.js';

export interface MountEntry {
  devname: string; mountdir: string; mntroot: string; type: string;
  /** st_dev as glibc's makedev(major, minor) from mountinfo. */
  dev: bigint;
  /** gnulib ME_DUMMY: pseudo filesystems df hides unless -a. */
  dummy: boolean;
  /** gnulib ME_REMOTE: network filesystems df -l hides. */
  remote: boolean;
}

const DUMMY_TYPES = new Set(['autofs', 'proc', 'subfs', 'debugfs', 'devpts', 'fusectl', 'fuse.portal', 'mqueue', 'rpc_pipefs', 'sysfs', 'devfs', 'kernfs', 'ignore', 'none']);
const REMOTE_TYPES = new Set(['acfs', 'afs', 'coda', 'auristorfs', 'fhgfs', 'gpfs', 'ibrix', 'ocfs2', 'vxfs']);

export const isDummy = (type: string): boolean => DUMMY_TYPES.has(type);
export const isRemote = (devname: string, type: string): boolean =>
  devname.includes(':') || (devname.startsWith('//') && ['smbfs', 'smb3', 'cifs'].includes(type)) || REMOTE_TYPES.has(type) || devname === '-hosts';

/** glibc makedev(). */
export const makedev = (major: bigint, minor: bigint): bigint =>
  ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) | ((minor & 0xffffff00n) << 12n) | (minor & 0xffn);

/** Mount tables escape space, tab, newline and backslash as \ooo. */
const unescape = (s: string): string => s.replace(/\\([0-3][0-7][0-7])/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+ \d+ (\d+):(\d+) (\S+) (\S+) .*? - (\S+) (\S+)/.exec(line);
    if (!m) continue;
    const devname = unescape(m[6]!), type = unescape(m[5]!);
    out.push({
      devname, mountdir: unescape(m[4]!), mntroot: unescape(m[3]!), type,
      dev: makedev(BigInt(m[1]!), BigInt(m[2]!)), dummy: isDummy(type), remote: isRemote(devname, type),
    });
  }
  return out;
}

/** statvfs: sizes in `blockSize` (f_frsize) units. Values at or above 2^64 - 2 mean "unknown". */
export interface FsUsage { blockSize: bigint; blocks: bigint; bfree: bigint; bavail: bigint; bavailNegative: boolean; files: bigint; ffree: bigint }

const U64 = 1n << 64n;
const UNKNOWN = U64 - 1n;
const known = (n: bigint) => n < UNKNOWN - 1n;

/**
 * Node's statfs reports f_bsize, not the f_frsize df counts blocks in. Linux fills f_frsize with
 * f_bsize except where a filesystem sets both (FUSE passes its server's values): there ask
 * coreutils' stat(1), which reads f_frsize, and fall back to f_bsize without it.
 */
export function statvfs(path: string, type?: string): FsUsage {
  const s = statfsSync(path, { bigint: true });
  let blockSize = s.bsize;
  let { blocks, bfree, bavail, files, ffree } = s;
  if (type?.startsWith('fuse')) {
    try {
      const f = execFileSync('stat', ['-f', '-c', '%S %b %f %a %c %d', '--', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(' ').map(BigInt);
      [blockSize, blocks, bfree, bavail, files, ffree] = f as [bigint, bigint, bigint, bigint, bigint, bigint];
    } catch { /* keep f_bsize */ }
  }
  const negative = bavail >= 1n << 63n && known(bavail);
  return { blockSize, blocks, bfree, bavail: negative ? U64 - bavail : bavail, bavailNegative: negative, files, ffree };
}

export interface DfOptions {
  /** -a: dummy, zero-size and duplicate filesystems too. */
  all?: boolean;
  /** -l: local filesystems only. */
  local?: boolean;
  /** -t: only these types. */
  types?: string[];
  /** -x: not these types. */
  exclude?: string[];
  /** -i: inodes instead of blocks. */
  inodes?: boolean;
  /** -T: a Type column. */
  printType?: boolean;
  /** -h (powers of 1024), -H (powers of 1000), or -B SIZE / -k; default from DF_BLOCK_SIZE, BLOCK_SIZE, BLOCKSIZE, else 1K. */
  human?: 'binary' | 'si';
  blockSize?: string;
  env?: NodeJS.ProcessEnv;
}

export interface DfRow {
  source: string; fstype: string; target: string;
  /** The PATH argument this row answers (else null). */
  file: string | null;
  /** null: df's "-" (the mount point was inaccessible, or over-mounted, with -a). */
  usage: FsUsage | null;
}

export interface DfResult { rows: DfRow[]; errors: string[] }

interface Ctx { o: DfOptions; mounts: MountEntry[]; showListed: boolean; devlist: Map<bigint, { me: MountEntry }> | null; statvfs: typeof statvfs; errors: string[]; rows: DfRow[] }

const selected = (o: DfOptions, type: string) => (!o.types?.length || o.types.includes(type)) && !o.exclude?.includes(type);
const statDev = (p: string): bigint | undefined => { try { return statSync(p, { bigint: true }).dev; } catch { return undefined; } };
const hasUuidSuffix = (s: string) => s.length > 36 && /^[-0-9a-fA-F]{36}$/.test(s.slice(-36));
const errText = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return { code, text: ({ ENOENT: 'No such file or directory', EACCES: 'Permission denied', ENOTDIR: 'Not a directory', EIO: 'Input/output error', ELOOP: 'Too many levels of symbolic links' } as Record<string, string>)[code ?? ''] ?? (e as Error).message };
};

/** coreutils filter_mount_list(): one entry per device, preferring real devices and shorter paths. */
function filterMounts(c: Ctx, devicesOnly: boolean): MountEntry[] {
  const devlist: { me: MountEntry; dev: bigint }[] = [];
  const seen = new Map<bigint, { me: MountEntry; dev: bigint }>();
  for (const me of c.mounts) {
    let dev: bigint;
    let discard: MountEntry | null = null;
    const st = (me.remote && c.o.local) || (me.dummy && !c.o.all && !c.showListed) || !selected(c.o, me.type) ? undefined : statDev(me.mountdir);
    if (st === undefined) {
      dev = me.dev;
    } else {
      dev = st;
      const s = seen.get(dev);
      if (s) {
        const targetNearerRoot = s.me.mountdir.length > me.mountdir.length;
        const sourceBelowRoot = s.me.mntroot.length < me.mntroot.length;
        if (me.remote && s.me.remote && s.me.devname !== me.devname) {
          // different remote locations of one device: keep both
        } else if ((me.devname.includes('/') && !s.me.devname.includes('/')) || (targetNearerRoot && !sourceBelowRoot)
          || (s.me.devname !== me.devname && me.mountdir === s.me.mountdir)) {
          discard = s.me;
          s.me = me;
        } else {
          discard = me;
        }
      }
    }
    if (discard) continue;
    const d = { me, dev };
    devlist.push(d);
    seen.set(dev, d);
  }
  if (devicesOnly) { c.devlist = seen; return c.mounts; }
  return devlist.map((d) => d.me);
}

/** coreutils get_dev(): one row, or nothing when df would hide it. */
function getDev(c: Ctx, device: string | null, mountPoint: string, file: string | null, statFile: string | null, fstype: string | null, dummy: boolean, remote: boolean, processAll: boolean): void {
  const o = c.o;
  if (remote && o.local) return;
  if (dummy && !o.all && !c.showListed) return;
  if (fstype !== null && !selected(o, fstype)) return;
  if (!mountPoint.startsWith('/')) return;
  const target = statFile ?? mountPoint;
  let usage: FsUsage | null;
  try {
    usage = c.statvfs(target, fstype ?? undefined);
  } catch (e) {
    const { code, text } = errText(e);
    if (processAll && (code === 'EACCES' || code === 'ENOENT')) {
      if (!o.all) return;
      fstype = '-';
      usage = null;
    } else {
      c.errors.push(`${target}: ${text}`);
      return;
    }
  }
  if (usage && processAll && o.all) {
    // An over-mounted directory: the stats are another device's.
    const dev = statDev(target);
    const devMe = dev === undefined ? undefined : c.devlist?.get(dev)?.me;
    if (devMe && devMe.devname !== device && (!devMe.remote || !remote)) { fstype = '-'; usage = null; }
  }
  if (usage && usage.blocks === 0n && !o.all && !c.showListed) return;
  let source = device ?? '-';
  if (processAll && hasUuidSuffix(source)) { try { source = realpathSync(source); } catch { /* keep */ } }
  c.rows.push({ source, fstype: fstype ?? '-', target: mountPoint, file, usage });
}

/** Canonical path, or undefined. */
const canon = (p: string): string | undefined => { try { return realpathSync(p); } catch { return undefined; } };

/** coreutils get_device(): PATH is a device node that is mounted. */
function getDevice(c: Ctx, device: string): boolean {
  const file = device;
  const resolved = canon(device);
  if (resolved?.startsWith('/')) device = resolved;
  let best: MountEntry | undefined;
  let bestAccessible = false;
  let eclipsed = false;
  let bestLen = Infinity;
  for (const me of c.mounts) {
    const devname = canon(me.devname) ?? me.devname;
    if (device !== devname) continue;
    const last = [...c.mounts].reverse().find((x) => x.mountdir === me.mountdir);
    const lastDev = last ? canon(last.devname) ?? last.devname : undefined;
    eclipsed = lastDev !== undefined && lastDev !== devname;
    const len = me.mountdir.length;
    if (!eclipsed && (!bestAccessible || len < bestLen)) {
      const accessible = statDev(me.mountdir) !== undefined;
      if (accessible) bestAccessible = true;
      if (accessible || (!bestAccessible && len < bestLen)) {
        best = me;
        if (len === 1) break;
        bestLen = len;
      }
    }
  }
  if (best) { getDev(c, best.devname, best.mountdir, file, null, best.type, best.dummy, best.remote, false); return true; }
  if (eclipsed) { c.errors.push(`cannot access '${file}': over-mounted by another device`); return true; }
  return false;
}

/** coreutils get_point(): the mount that holds PATH. */
function getPoint(c: Ctx, point: string, dev: bigint): void {
  let best: MountEntry | undefined;
  const resolved = canon(point);
  if (resolved?.startsWith('/')) {
    let bestLen = 0;
    for (const me of c.mounts) {
      if (me.type === 'lofs' || !(!best || best.dummy || !me.dummy)) continue;
      const len = me.mountdir.length;
      if (bestLen <= len && len <= resolved.length && (len === 1 || ((len === resolved.length || resolved[len] === '/') && resolved.startsWith(me.mountdir)))) {
        best = me;
        bestLen = len;
      }
    }
  }
  if (best && statDev(best.mountdir) !== dev) best = undefined;
  if (!best) {
    for (const me of c.mounts) {
      if (me.dev === dev && me.type !== 'lofs' && (!best || best.dummy || !me.dummy) && statDev(me.mountdir) === me.dev) best = me;
    }
  }
  if (best) { getDev(c, best.devname, best.mountdir, point, point, best.type, best.dummy, best.remote, false); return; }
  // Not in the mount table: walk up to where the device changes.
  let mp = resolved ?? point;
  while (mp !== '/' && statDev(dirname(mp)) === dev) mp = dirname(mp);
  getDev(c, null, mp, point, null, null, false, false, false);
}

/**
 * df's rows: every mounted filesystem df shows by default (or with the options), or those holding
 * `paths`. Errors (a PATH that does not exist) are returned, as df reports them, beside the rows.
 */
export function diskUsage(paths: string[], o: DfOptions = {}, deps: { mountinfo?: string; statvfs?: typeof statvfs } = {}): DfResult {
  const c: Ctx = {
    o, mounts: parseMountinfo(deps.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8')), showListed: false, devlist: null,
    statvfs: deps.statvfs ?? statvfs, errors: [], rows: [],
  };
  if (paths.length === 0) {
    const list = filterMounts(c, o.all ?? false);
    for (const me of list) getDev(c, me.devname, me.mountdir, null, null, me.type, me.dummy, me.remote, true);
    return { rows: c.rows, errors: c.errors };
  }
  c.showListed = true;
  for (const p of paths) {
    let st;
    try {
      // Open first, as df does, to trigger an automount.
      let fd: number | undefined;
      try { fd = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') throw e;
      }
      st = fd !== undefined ? fstatSync(fd, { bigint: true }) : statSync(p, { bigint: true });
      if (fd !== undefined) closeSync(fd);
    } catch (e) {
      c.errors.push(`${p}: ${errText(e).text}`);
      continue;
    }
    if ((st.isBlockDevice() || st.isCharacterDevice()) && getDevice(c, p)) continue;
    getPoint(c, p, st.dev);
  }
  return { rows: c.rows, errors: c.errors };
}

// ---- printing, as df prints --------------------------------------------------------------

export interface DfFormat { opts: number; outputBlockSize: bigint; mode: 'default' | 'human' | 'inodes' }

/** Output units and header mode from the options and the environment, as df's main() decides. */
export function dfFormat(o: DfOptions): DfFormat {
  const env = o.env ?? process.env;
  let opts: number;
  let outputBlockSize: bigint;
  if (o.human === 'binary') { opts = HumanOpts.AUTOSCALE | HumanOpts.SI | HumanOpts.BASE_1024; outputBlockSize = 1n; }
  else if (o.human === 'si') { opts = HumanOpts.AUTOSCALE | HumanOpts.SI; outputBlockSize = 1n; }
  else {
    const spec = o.blockSize ?? env.DF_BLOCK_SIZE ?? env.BLOCK_SIZE ?? env.BLOCKSIZE;
    const p = spec === undefined ? undefined : parseBlockSize(spec);
    if (spec !== undefined && !p && o.blockSize !== undefined) throw new RangeError(`invalid block size "${spec}": use a number with an optional K, M, G... suffix, "human-readable" or "si"`);
    opts = p?.opts ?? 0;
    outputBlockSize = p?.blockSize ?? (env.POSIXLY_CORRECT !== undefined ? 512n : 1024n);
  }
  const mode = o.inodes ? 'inodes' : opts & HumanOpts.AUTOSCALE ? 'human' : 'default';
  return { opts, outputBlockSize, mode };
}

/** The "1K-blocks" header: gnulib picks the base that states the block size exactly. */
function blocksHeader(f: DfFormat): string {
  let opts = HumanOpts.SUPPRESS_POINT_ZERO | HumanOpts.AUTOSCALE | HumanOpts.SI | (f.opts & (HumanOpts.GROUP_DIGITS | HumanOpts.BASE_1024 | HumanOpts.B));
  let q1000 = f.outputBlockSize, q1024 = f.outputBlockSize;
  let by1000: boolean, by1024: boolean;
  do {
    by1000 = q1000 % 1000n === 0n; q1000 /= 1000n;
    by1024 = q1024 % 1024n === 0n; q1024 /= 1024n;
  } while (by1000 && by1024);
  if (!by1000 && by1024) opts |= HumanOpts.BASE_1024;
  if (!by1024 && by1000) opts &= ~HumanOpts.BASE_1024;
  if (!(opts & HumanOpts.BASE_1024)) opts |= HumanOpts.B;
  return `${humanReadable(f.outputBlockSize, opts, 1n, 1n)}-blocks`;
}

export interface DfValues { total: bigint; used: bigint; usedNegative: boolean; available: bigint; availableNegative: boolean; inputUnits: bigint; outputUnits: bigint }

/** coreutils get_field_values(): block or inode figures of one row. */
export function dfValues(u: FsUsage, inodes: boolean, outputBlockSize: bigint): DfValues {
  if (inodes) {
    const used = known(u.files) && known(u.ffree) ? u.files - u.ffree : UNKNOWN;
    return { total: u.files, used: used < 0n ? -used : used, usedNegative: used < 0n, available: u.ffree, availableNegative: false, inputUnits: 1n, outputUnits: 1n };
  }
  const used = known(u.blocks) && known(u.bfree) ? u.blocks - u.bfree : UNKNOWN;
  return { total: u.blocks, used: used < 0n ? -used : used, usedNegative: used < 0n, available: u.bavail, availableNegative: u.bavailNegative, inputUnits: u.blockSize, outputUnits: outputBlockSize };
}

/** Use% as df computes it: rounded up; null for df's "-". */
export function usePercent(v: DfValues): number | null {
  if (!known(v.used) || !known(v.available)) return null;
  if (!v.usedNegative && !v.availableNegative && v.used + v.available !== 0n) {
    const u100 = v.used * 100n, total = v.used + v.available;
    return Number(u100 / total + (u100 % total !== 0n ? 1n : 0n));
  }
  const u = v.usedNegative ? -Number(v.used) : Number(v.used);
  const a = v.availableNegative ? -Number(v.available) : Number(v.available);
  if (u + a === 0) return null;
  const pct = (u * 100) / (u + a);
  const ipct = Math.trunc(pct);
  return ipct - 1 < pct && pct <= ipct + 1 ? ipct + (ipct < pct ? 1 : 0) : pct;
}

const cellNum = (negative: boolean, n: bigint, v: DfValues, opts: number) =>
  !known(n) && !negative ? '-' : `${negative ? '-' : ''}${humanReadable(n, opts, v.inputUnits, v.outputUnits)}`;
const printable = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, '?');

/** The table exactly as df prints it. */
export function formatDf(rows: DfRow[], o: DfOptions): string {
  const f = dfFormat(o);
  type Col = { header: string; min: number; right: boolean; cell: (r: DfRow, v: DfValues | null) => string };
  const num = (pick: 'total' | 'used' | 'available'): Col['cell'] => (_r, v) => {
    if (!v) return '-';
    const neg = pick === 'used' ? v.usedNegative : pick === 'available' ? v.availableNegative : false;
    return cellNum(neg, v[pick], v, f.opts);
  };
  const pct: Col['cell'] = (_r, v) => { const p = v ? usePercent(v) : null; return p === null ? '-' : `${Math.round(p)}%`; };
  const cols: Col[] = [{ header: 'Filesystem', min: 14, right: false, cell: (r) => r.source }];
  if (o.printType) cols.push({ header: 'Type', min: 4, right: false, cell: (r) => r.fstype });
  if (f.mode === 'inodes') {
    cols.push({ header: 'Inodes', min: 5, right: true, cell: num('total') }, { header: 'IUsed', min: 5, right: true, cell: num('used') },
      { header: 'IFree', min: 5, right: true, cell: num('available') }, { header: 'IUse%', min: 4, right: true, cell: pct });
  } else {
    cols.push({ header: f.mode === 'human' ? 'Size' : blocksHeader(f), min: 5, right: true, cell: num('total') }, { header: 'Used', min: 5, right: true, cell: num('used') },
      { header: f.mode === 'human' ? 'Avail' : 'Available', min: 5, right: true, cell: num('available') }, { header: 'Use%', min: 4, right: true, cell: pct });
  }
  cols.push({ header: 'Mounted on', min: 0, right: false, cell: (r) => r.target });
  const table = [cols.map((c) => c.header), ...rows.map((r) => {
    const v = r.usage ? dfValues(r.usage, f.mode === 'inodes', f.outputBlockSize) : null;
    return cols.map((c) => printable(c.cell(r, v)));
  })];
  const widths = cols.map((c, i) => Math.max(c.min, ...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => {
    if (i === cols.length - 1) return cell; // the last column is not padded
    return cols[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
  }).join(' ')).join('\n') + '\n';
}

/** A row's figures in bytes and inodes, for --json. */
export function dfJson(r: DfRow) {
  const u = r.usage;
  const b = u ? dfValues(u, false, 1n) : null;
  const i = u ? dfValues(u, true, 1n) : null;
  const bytes = (n: bigint, neg = false) => (u && known(n) ? (neg ? -1n : 1n) * n * u.blockSize : null);
  const count = (n: bigint, neg = false) => (u && known(n) ? (neg ? -1n : 1n) * n : null);
  return {
    source: r.source, type: r.fstype, target: r.target, file: r.file,
    blockSize: u && known(u.blockSize) ? u.blockSize : null,
    sizeBytes: b ? bytes(b.total) : null, usedBytes: b ? bytes(b.used, b.usedNegative) : null, availableBytes: b ? bytes(b.available, b.availableNegative) : null,
    usePercent: b ? usePercent(b) : null,
    inodes: i ? count(i.total) : null, inodesUsed: i ? count(i.used, i.usedNegative) : null, inodesFree: i ? count(i.available) : null,
    inodesUsePercent: i ? usePercent(i) : null,
  };
}
