import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { parse, printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { findCgroup2Mount, walkCgroups } from '../../cgroup/hierarchy.js';
import {
  PSI_RESOURCES, PsiNotAvailableError, PsiTrigger, defaultWindowUs, parseDurationUs, readCgroupPressure, readSystemPressure, stallPercent,
  type PressureSet, type PsiResource, type TriggerSpec,
} from '../../observe/psi.js';
import { formatPercent, jsonLine, table } from '../../observe/format.js';
import { out } from '../output.js';

const HELP = `usage: sysward psi [--cgroup PATH]... [--all-cgroups] [--interval S [--count N]] [--json]
       sysward psi --watch RES [--watch RES]... [--cgroup PATH] [--full] [--threshold T] [--window W]
                   [--count N] [--timeout S] [--json]

Pressure stall information: the share of time tasks waited for CPU, memory, IO (and IRQ time),
system-wide (/proc/pressure) and per cgroup (<cgroup>/<res>.pressure). "some": at least one task
waited; "full": all non-idle tasks waited at once. avg10/60/300 are percentages over 10 s, 60 s,
300 s; total is the stall time since boot.

  --cgroup PATH     a cgroup (relative to the cgroup v2 mount) instead of the system; repeatable
  --all-cgroups     every cgroup, with the system first
  --interval S      live: print every S seconds, with the stall share over each interval (STALL%)
  --count N         stop after N intervals (live) or N events (--watch)
  --watch RES       set a PSI trigger on RES (cpu, memory, io, irq) and print each time the kernel
                    signals it (the kernel's poll interface: no polling); repeatable
  --full            trigger on "full" instead of "some"
  --threshold T     stall time per window that fires (default 150ms; units us, ms, s)
  --window W        the window (500ms..10s; default 1s, or 2s for a process without
                    CAP_SYS_RESOURCE, which may only use multiples of 2s)
  --timeout S       stop watching after S seconds
  --json            JSON (live and --watch: one JSON object per line); docs/observe.md has the schema
  -h, --help

exit status: 0 shown, 1 PSI not available or a trigger could not be set, 2 bad usage.
`;

interface Source { name: string; abs: string | null }

function rowsOf(src: Source, p: PressureSet, prev?: PressureSet, intervalUs?: number): string[][] {
  const rows: string[][] = [];
  for (const res of PSI_RESOURCES) {
    const x = p[res];
    if (!x) continue;
    for (const kind of ['some', 'full'] as const) {
      const l = x[kind];
      if (!l) continue;
      const row = [src.name, res, kind, formatPercent(l.avg10), formatPercent(l.avg60), formatPercent(l.avg300), `${(Number(l.totalUs) / 1e6).toFixed(3)}s`];
      if (prev && intervalUs) row.push(formatPercent(stallPercent(prev[res]?.[kind] ?? null, l, intervalUs)));
      rows.push(row);
    }
  }
  return rows;
}

const read = (s: Source): PressureSet => (s.abs ? readCgroupPressure(s.abs) : readSystemPressure());

const toJson = (s: Source, p: PressureSet, prev?: PressureSet, intervalUs?: number) => ({
  source: s.name,
  pressure: Object.fromEntries(Object.entries(p).map(([res, x]) => [res, Object.fromEntries((['some', 'full'] as const).map((k) => {
    const l = x[k];
    return [k, l ? { avg10: l.avg10, avg60: l.avg60, avg300: l.avg300, totalUs: l.totalUs, ...(prev && intervalUs ? { stallPercent: stallPercent(prev[res as PsiResource]?.[k] ?? null, l, intervalUs) } : {}) } : null];
  }))])),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const command: Command = {
  name: 'psi',
  summary: 'pressure stall information, system-wide and per cgroup; live; PSI triggers',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parse('psi', argv, {
      cgroup: { type: 'string', multiple: true }, 'all-cgroups': { type: 'boolean' }, interval: { type: 'string' }, count: { type: 'string' },
      watch: { type: 'string', multiple: true }, full: { type: 'boolean' }, threshold: { type: 'string' }, window: { type: 'string' },
      timeout: { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; cgroups go with --cgroup PATH`);
    const count = values.count === undefined ? undefined : Number(values.count);
    if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new UsageError(`--count wants a whole number >= 1, not "${values.count}"`);

    const cgroupPaths = values.cgroup ?? [];
    const needsMount = cgroupPaths.length > 0 || values['all-cgroups'];
    const mount = needsMount ? findCgroup2Mount() : '';
    const sources: Source[] = [];
    for (let p of cgroupPaths) {
      if (isAbsolute(p) && p.startsWith(`${mount}/`)) p = `/${relative(mount, p)}`;
      const abs = join(mount, p);
      if (!existsSync(abs)) throw new UsageError(`no cgroup ${p} under ${mount}; PATH is relative to the cgroup v2 mount`);
      sources.push({ name: p.startsWith('/') ? p : `/${p}`, abs });
    }
    if (values['all-cgroups']) {
      sources.push({ name: 'system', abs: null });
      for (const abs of walkCgroups(mount)) sources.push({ name: `/${relative(mount, abs)}`.replace(/\/$/, '') || '/', abs });
    }
    if (!sources.length) sources.push({ name: 'system', abs: null });

    if (values.watch?.length) return watch(values, sources, count);

    const intervalS = values.interval === undefined ? undefined : Number(values.interval);
    if (intervalS !== undefined && !(intervalS > 0)) throw new UsageError(`--interval wants seconds > 0, not "${values.interval}"`);
    try {
      let prev = sources.map(read);
      if (intervalS === undefined) {
        if (values.json) { printJson(sources.map((s, i) => toJson(s, prev[i]!))); return 0; }
        out(table([['SOURCE', 'RESOURCE', 'KIND', 'AVG10', 'AVG60', 'AVG300', 'TOTAL'], ...sources.flatMap((s, i) => rowsOf(s, prev[i]!))], new Set([3, 4, 5, 6])));
        if (sources.some((s, i) => s.abs && !Object.keys(prev[i]!).length)) process.stderr.write('sysward psi: some cgroups expose no pressure (PSI off for them: cgroup.pressure=0, or the kernel has no per-cgroup PSI)\n');
        return 0;
      }
      let stop = false;
      const onInt = () => { stop = true; };
      process.once('SIGINT', onInt);
      let t0 = process.hrtime.bigint();
      for (let n = 0; (count === undefined || n < count) && !stop; n++) {
        await sleep(intervalS * 1000);
        const now = sources.map(read);
        const t1 = process.hrtime.bigint();
        const us = Number(t1 - t0) / 1000;
        if (values.json) out(jsonLine({ at: new Date().toISOString(), intervalS: us / 1e6, sources: sources.map((s, i) => toJson(s, now[i]!, prev[i]!, us)) }));
        else out(`${new Date().toISOString()}\n${table([['SOURCE', 'RESOURCE', 'KIND', 'AVG10', 'AVG60', 'AVG300', 'TOTAL', 'STALL%'], ...sources.flatMap((s, i) => rowsOf(s, now[i]!, prev[i]!, us))], new Set([3, 4, 5, 6, 7]))}\n`);
        prev = now;
        t0 = t1;
      }
      process.off('SIGINT', onInt);
      return 0;
    } catch (e) {
      if (e instanceof PsiNotAvailableError) { process.stderr.write(`sysward psi: ${e.message}\n`); return 1; }
      throw e;
    }
  },
};

async function watch(values: { watch?: string[]; full?: boolean; threshold?: string; window?: string; timeout?: string; json?: boolean }, sources: Source[], count: number | undefined): Promise<number> {
  if (sources.length > 1) throw new UsageError('--watch takes one --cgroup (or none for the system)');
  const thresholdUs = parseDurationUs(values.threshold ?? '150ms');
  const windowUs = values.window === undefined ? defaultWindowUs() : parseDurationUs(values.window);
  if (!thresholdUs) throw new UsageError(`--threshold wants a duration such as 150ms, not "${values.threshold}"`);
  if (!windowUs) throw new UsageError(`--window wants a duration such as 1s, not "${values.window}"`);
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS > 0)) throw new UsageError(`--timeout wants seconds > 0, not "${values.timeout}"`);
  const resources = [...new Set(values.watch!)];
  for (const r of resources) if (!(PSI_RESOURCES as readonly string[]).includes(r)) throw new UsageError(`--watch ${r}: use cpu, memory, io or irq`);
  const src = sources[0]!;
  const kind = values.full ? 'full' : 'some';
  const triggers: PsiTrigger[] = [];
  try {
    for (const r of resources) {
      const spec: TriggerSpec = { resource: r as PsiResource, kind, thresholdUs, windowUs };
      triggers.push(PsiTrigger.open(spec, src.abs ? { cgroupAbs: src.abs } : {}));
    }
  } catch (e) {
    for (const t of triggers) await t.close();
    process.stderr.write(`sysward psi: ${(e as Error).message}\n`);
    return 1;
  }
  if (!values.json) process.stderr.write(`sysward psi: watching ${src.name} ${resources.join(', ')} (${kind} ${thresholdUs / 1000}ms per ${windowUs / 1000}ms window); Ctrl-C stops\n`);
  let events = 0;
  let stop = false;
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  const onInt = () => { stop = true; };
  process.once('SIGINT', onInt);
  // One waiter per trigger, each returning at least every 500 ms so Ctrl-C and --timeout are seen.
  await Promise.all(triggers.map(async (t) => {
    while (!stop && Date.now() < deadline && (count === undefined || events < count) && !t.gone) {
      const ev = await t.next(500);
      if (!ev || stop || (count !== undefined && events >= count)) continue;
      events++;
      const l = ev.pressure?.[ev.spec.kind];
      if (values.json) out(jsonLine({ at: ev.at.toISOString(), source: src.name, resource: ev.spec.resource, kind: ev.spec.kind, thresholdUs: ev.spec.thresholdUs, windowUs: ev.spec.windowUs, avg10: l?.avg10 ?? null, totalUs: l?.totalUs ?? null }));
      else out(`${ev.at.toISOString()}  ${src.name} ${ev.spec.resource} ${ev.spec.kind}: more than ${ev.spec.thresholdUs / 1000}ms stalled within ${ev.spec.windowUs / 1000}ms (avg10 ${formatPercent(l?.avg10)}%)\n`);
    }
    if (t.gone) process.stderr.write(`sysward psi: ${t.path} went away (its cgroup was removed)\n`);
  }));
  process.off('SIGINT', onInt);
  for (const t of triggers) await t.close();
  return 0;
}

export default command;
