// Pressure stall information (PSI, Linux 4.20): how long tasks waited for CPU, memory, IO (and,
// with CONFIG_IRQ_TIME_ACCOUNTING, Linux 6.1, IRQ time), system-wide in /proc/pressure/<res> and
// per cgroup v2 in <cgroup>/<res>.pressure. Triggers: the kernel's own poll interface (write
// "some 150000 1000000" into an O_RDWR fd, then wait for EPOLLPRI), not a loop reading files.
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FD } from '../bpf/sys/fd.js';
import { EPOLLERR, EPOLLPRI, ReadableWaiter } from '../bpf/sys/poll.js';

export const PSI_RESOURCES = ['cpu', 'memory', 'io', 'irq'] as const;
export type PsiResource = (typeof PSI_RESOURCES)[number];

/** One line of a pressure file: share of wall time stalled (percent) over 10, 60, 300 s; total stall µs. */
export interface PressureLine { avg10: number; avg60: number; avg300: number; totalUs: bigint }
/** "some": at least one task stalled; "full": all non-idle tasks stalled at once (absent for irq "some"). */
export interface Pressure { some: PressureLine | null; full: PressureLine | null }

export class PsiNotAvailableError extends Error {
  override name = 'PsiNotAvailableError';
  constructor(readonly where: string, reason: string) {
    super(`pressure stall information is not available (${where}: ${reason}); the kernel needs CONFIG_PSI=y and, where it is built with CONFIG_PSI_DEFAULT_DISABLED, psi=1 on its command line`);
  }
}

/** Parse the text of a pressure file ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0" lines). */
export function parsePressure(text: string): Pressure {
  const out: Pressure = { some: null, full: null };
  for (const line of text.split('\n')) {
    const m = /^(some|full) avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+) total=(\d+)$/.exec(line.trim());
    if (!m) continue;
    out[m[1] as 'some' | 'full'] = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), totalUs: BigInt(m[5]!) };
  }
  return out;
}

/** null when the file is absent or PSI is switched off for it (EOPNOTSUPP: psi=0 or cgroup.pressure=0). */
export function readPressureFile(path: string): Pressure | null {
  try {
    return parsePressure(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EOPNOTSUPP' || code === 'ENOTSUP') return null;
    throw e;
  }
}

export type PressureSet = Partial<Record<PsiResource, Pressure>>;

/** System-wide pressure; throws PsiNotAvailableError when the kernel has none. */
export function readSystemPressure(procDir = '/proc'): PressureSet {
  const dir = join(procDir, 'pressure');
  if (!existsSync(dir)) throw new PsiNotAvailableError(dir, 'no such directory');
  const out: PressureSet = {};
  let errno: string | undefined;
  for (const res of PSI_RESOURCES) {
    try {
      const p = readPressureFile(join(dir, res));
      if (p) out[res] = p;
    } catch (e) { errno = (e as NodeJS.ErrnoException).code; }
  }
  if (Object.keys(out).length === 0) throw new PsiNotAvailableError(dir, errno ? `reading fails with ${errno}` : 'no readable resource (PSI disabled: psi=0?)');
  return out;
}

/** A cgroup's pressure (abs: its folder under the cgroup v2 mount); empty when it exposes none. */
export function readCgroupPressure(abs: string): PressureSet {
  const out: PressureSet = {};
  for (const res of PSI_RESOURCES) {
    const p = readPressureFile(join(abs, `${res}.pressure`));
    if (p) out[res] = p;
  }
  return out;
}

/** Stall time between two readings as a percentage of `intervalUs` (what the avgs smooth). */
export function stallPercent(before: PressureLine | null, after: PressureLine | null, intervalUs: number): number | null {
  if (!before || !after || intervalUs <= 0) return null;
  return (Number(after.totalUs - before.totalUs) / intervalUs) * 100;
}

const CAP_SYS_RESOURCE = 24;

/**
 * Triggers with windows that are not a multiple of 2 s need CAP_SYS_RESOURCE in the opener
 * (Linux 6.5, "sched/psi: allow unprivileged polling of N*2s period"). Root in a container, or under
 * a capability bounding set, may lack it.
 */
export function hasSysResource(statusText?: string): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText ?? readFileSync('/proc/self/status', 'utf8'));
    return m ? ((BigInt(`0x${m[1]}`) >> BigInt(CAP_SYS_RESOURCE)) & 1n) === 1n : false;
  } catch { return false; }
}

/** The default trigger window: 1 s where allowed, else the shortest unprivileged one (2 s). */
export const defaultWindowUs = (): number => (hasSysResource() ? 1_000_000 : 2_000_000);

export interface TriggerSpec {
  resource: PsiResource;
  kind: 'some' | 'full';
  /** Stall time within a window that fires the trigger. */
  thresholdUs: number;
  /** 500 ms to 10 s; without CAP_SYS_RESOURCE only multiples of 2 s (Linux 6.5). */
  windowUs: number;
}

export interface TriggerEvent { at: Date; spec: TriggerSpec; path: string; pressure: Pressure | null }

/**
 * A PSI trigger: the kernel wakes us (EPOLLPRI) when the stall time in a moving window passes the
 * threshold, at most once per window. The trigger lives as long as its fd.
 */
export class PsiTrigger {
  readonly #fd: FD;
  readonly #waiter: ReadableWaiter;
  #gone = false;

  private constructor(readonly path: string, readonly spec: TriggerSpec, fd: FD) {
    this.#fd = fd;
    this.#waiter = new ReadableWaiter(fd, EPOLLPRI);
  }

  /** `cgroupAbs`: a cgroup folder (its <res>.pressure file); else the system-wide /proc/pressure/<res>. */
  static open(spec: TriggerSpec, o: { cgroupAbs?: string; procDir?: string } = {}): PsiTrigger {
    const path = o.cgroupAbs ? join(o.cgroupAbs, `${spec.resource}.pressure`) : join(o.procDir ?? '/proc', 'pressure', spec.resource);
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new PsiNotAvailableError(path, 'no such file');
      if (code === 'EACCES' || code === 'EPERM') throw new Error(`${code} opening ${path} for writing: a trigger needs write access to the pressure file; run as root (or as the cgroup's owner)`);
      throw e;
    }
    try {
      writeSync(fd, `${spec.kind} ${spec.thresholdUs} ${spec.windowUs}\0`);
    } catch (e) {
      closeSync(fd);
      const code = (e as NodeJS.ErrnoException).code;
      const unprivileged = !hasSysResource();
      const fix = code === 'EINVAL'
        ? `the window must be 500ms..10s and the threshold at most the window${unprivileged ? '; this process lacks CAP_SYS_RESOURCE, so the window must also be a multiple of 2s (e.g. --window 2s)' : ''}${spec.kind === 'full' && spec.resource === 'cpu' && !o.cgroupAbs ? '; system-wide cpu "full" may not be supported by this kernel' : ''}`
        : code === 'EOPNOTSUPP' ? 'PSI is disabled for this cgroup or the system (cgroup.pressure=0, psi=0)'
          : code === 'EBUSY' ? 'this fd already has a trigger' : 'see Documentation/accounting/psi.rst';
      throw new Error(`${code} setting PSI trigger "${spec.kind} ${spec.thresholdUs} ${spec.windowUs}" on ${path}: ${fix}`);
    }
    return new PsiTrigger(path, spec, new FD(fd, 'psi trigger'));
  }

  /**
   * Wait for the next event; undefined on timeout, after close(), or when the file went away
   * (its cgroup was removed: `gone` is then true).
   */
  async next(timeoutMs = -1): Promise<TriggerEvent | undefined> {
    if (this.#gone) return undefined;
    const fired = await this.#waiter.wait(timeoutMs);
    if (!fired) {
      if (!existsSync(this.path)) this.#gone = true;
      return undefined;
    }
    const ev = this.#waiter.lastEvents;
    if (ev & EPOLLERR || !existsSync(this.path)) { this.#gone = true; return undefined; }
    if (!(ev & EPOLLPRI)) return undefined;
    return { at: new Date(), spec: this.spec, path: this.path, pressure: readPressureFile(this.path) };
  }

  get gone(): boolean { return this.#gone; }

  async close(): Promise<void> {
    await this.#waiter.close();
    this.#fd.close();
  }
}

/** "150ms", "1s", "500000us", "2" (seconds) → microseconds. */
export function parseDurationUs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const us = m[2] === 'us' || m[2] === 'µs' ? n : m[2] === 'ms' ? n * 1000 : n * 1_000_000;
  return Number.isInteger(us) ? us : Math.round(us);
}
