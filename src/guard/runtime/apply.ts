// Guards that outlive the CLI: compiled, attached to every cgroup of the scope with pinned links,
// replaced atomically on re-apply (link update: no moment without protection), checked against
// what the kernel has and repaired (reconcile), listed, removed. Every change holds the guards'
// lock (lock.ts): one writer at a time, the CLI and the daemon alike.
//
// Pins: /sys/fs/bpf/sysward/guards/NAME/{prog, events, counters, meta, link-<cgroup id>}.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { bytes, none, u32 } from '../../bpf/codec.js';
import { Link, attachCgroup } from '../../bpf/link.js';
import { Program } from '../../bpf/prog.js';
import { DEFAULT_BPFFS, ensureBpffs, pinDir } from '../../bpf/pin.js';
import { cgroupId, findCgroup2Mount } from '../../cgroup/hierarchy.js';
import { resolveContainerScope } from '../../cgroup/containers.js';
import type { Policy } from '../model.js';
import { policyFromJson, policyToJson } from '../model-json.js';
import { loadGuard, type ExemptCgroup } from './loaded.js';
import { GuardInputError } from './errors.js';
import { META_VERSION, guardsDir, readGuardMeta, type GuardOwner, type Meta } from './status.js';
import { withGuardLock } from './lock.js';
import { checkGuardName } from './names.js';

// Reading guards (guard ls, events, metrics) lives in status.ts, which loads no compiler.
export * from './status.js';


export { GuardInputError };

export interface GuardTarget { path: string; abs: string; id: bigint }

export interface ResolvedScope {
  targets: GuardTarget[]; exempt: (ExemptCgroup & { path: string })[]; notes: string[];
  /** Scope cgroups that do not exist yet (with `missing: 'pending'`): guarded when they appear. */
  pending: string[];
}

/**
 * The cgroups a policy's scope names, checked to exist. `missing: 'pending'` (the daemon) lists
 * missing ones as pending instead of refusing the policy: a service not started yet, or between
 * a stop and a start, is guarded the moment its cgroup is made again.
 */
export function resolveScope(policy: Policy, mount = findCgroup2Mount(), o: { missing?: 'error' | 'pending' } = {}): ResolvedScope {
  const notes: string[] = [];
  const pending: string[] = [];
  const paths = new Set<string>();
  const target = (path: string): GuardTarget | undefined => {
    const abs = join(mount, path);
    let id: bigint;
    try { id = cgroupId(abs); } catch (e) {
      if (existsSync(abs)) throw e;
      if (o.missing === 'pending') { pending.push(path); return undefined; }
      throw new GuardInputError(`scope cgroup ${path} does not exist under ${mount}; create it, or fix the path in the policy (paths are relative to the cgroup v2 mount)`);
    }
    return { path, abs, id };
  };
  for (const p of policy.scope.cgroups) paths.add(p);
  if (policy.scope.host) paths.add('/');
  if (policy.scope.containers) {
    const s = resolveContainerScope(mount, existsSync);
    for (const r of s.roots) paths.add(r);
    for (const c of s.loose) paths.add(c.path);
    if (s.loose.length) notes.push(`${s.loose.length} container(s) live beside other services; containers started there later are guarded only while \`sysward daemon\` runs`);
    if (!s.roots.length && !s.loose.length) notes.push('no container cgroups on this host yet; `sysward daemon` guards them as they appear');
  }
  // A cgroup below another target is covered by it (programs of ancestors run too).
  const sorted = [...paths].sort();
  const kept = sorted.filter((p) => !sorted.some((q) => q !== p && (q === '/' || p.startsWith(`${q}/`))));
  const exempt = policy.scope.exempt.flatMap((path) => {
    const t = target(path);
    return t ? [{ path, id: t.id, level: path.split('/').filter(Boolean).length }] : [];
  });
  const targets = kept.flatMap((p) => { const t = target(p); return t ? [t] : []; });
  if (pending.length) notes.push(`waiting for ${pending.join(', ')} to exist: guarded as soon as ${pending.length === 1 ? 'it appears' : 'they appear'}`);
  return { targets, exempt, notes, pending };
}

export interface ApplyResult { name: string; replaced: boolean; attached: string[]; updated: string[]; detached: string[]; notes: string[]; pending: string[]; programId: number; instructions: number; generation: number }

export interface ApplyOptions {
  bpffs?: string; mount?: string; owner?: GuardOwner;
  /** Missing scope cgroups: refuse the policy (the CLI) or wait for them (the daemon). */
  missing?: 'error' | 'pending';
}

function writeMeta(meta: Meta): BpfMap<number, Buffer> {
  const json = Buffer.from(JSON.stringify(meta));
  const size = Math.ceil((json.length + 4) / 8) * 8;
  const m = BpfMap.create({ type: 'ARRAY', key: u32, value: bytes(size), maxEntries: 1, name: 'sw_meta' });
  const v = Buffer.alloc(size);
  v.writeUInt32LE(json.length, 0);
  json.copy(v, 4);
  m.set(0, v);
  m.freeze();
  return m;
}

/** Pin `obj` at `path`, replacing what is there in one step (bpffs supports rename). */
function pinReplacing(obj: { pin(path: string): void }, path: string): void {
  const tmp = `${path}-new`; // bpffs refuses names with dots
  rmSync(tmp, { force: true });
  obj.pin(tmp);
  renameSync(tmp, path);
}

/** A pinned link as the kernel sees it: `cgroupId` 0 once its cgroup is gone or it was detached. */
interface PinnedLink { file: string; pin: string; pinnedFor: string; live: boolean; cgroupId: bigint; programId: number }

function pinnedLinks(dir: string): PinnedLink[] {
  const out: PinnedLink[] = [];
  for (const file of readdirSync(dir)) {
    if (!/^link-\d+$/.test(file)) continue;
    const pin = join(dir, file);
    try {
      using l = Link.openPinned(pin);
      const i = l.info();
      out.push({ file, pin, pinnedFor: file.slice(5), live: i.cgroupId !== 0n, cgroupId: i.cgroupId, programId: i.programId });
    } catch {
      out.push({ file, pin, pinnedFor: file.slice(5), live: false, cgroupId: 0n, programId: 0 });
    }
  }
  return out;
}

const pinnedId = (path: string, kind: 'prog' | 'map'): number | undefined => {
  if (!existsSync(path)) return undefined;
  try {
    if (kind === 'prog') { using p = Program.openPinned(path); return p.info().id; }
    using m = BpfMap.openPinnedBytes(path); return m.info().id;
  } catch { return undefined; }
};

export function applyGuard(policy: Policy, o: ApplyOptions = {}): ApplyResult {
  checkGuardName(policy.name);
  return withGuardLock(o.bpffs, () => applyLocked(policy, o));
}

function applyLocked(policy: Policy, o: ApplyOptions): ApplyResult {
  const mount = o.mount ?? findCgroup2Mount();
  const scope = resolveScope(policy, mount, { missing: o.missing ?? 'error' });
  // A containers scope may be empty for now: the daemon attaches containers as they appear.
  if (scope.targets.length === 0 && !policy.scope.containers && !scope.pending.length) throw new GuardInputError(`the scope of guard ${policy.name} names no cgroup; add cgroups, containers: true or host: true`);
  ensureBpffs(o.bpffs ?? DEFAULT_BPFFS);
  const dir = join(guardsDir(o.bpffs), policy.name);
  const replacing = existsSync(join(dir, 'prog'));
  const events = existsSync(join(dir, 'events')) ? BpfMap.openPinned(join(dir, 'events'), none, bytes(0)) as BpfMap<null, Buffer> : undefined;
  // Compile, verify and load first: a policy the kernel refuses changes nothing (not even a folder).
  const generation = randomInt(1, 0xffffffff);
  using guard = loadGuard(policy, { ...(events ? { events } : {}), exempt: scope.exempt, generation });
  const existed = existsSync(dir);
  pinDir(dir);
  const result: ApplyResult = { name: policy.name, replaced: replacing, attached: [], updated: [], detached: [], notes: scope.notes, pending: scope.pending, programId: guard.program.info().id, instructions: guard.instructionCount, generation };
  // Live links by the cgroup they are attached to now (a link whose cgroup is gone is defunct).
  const links = existed ? pinnedLinks(dir) : [];
  const live = new Map(links.filter((l) => l.live).map((l) => [l.cgroupId.toString(), l]));
  const previousMeta = replacing ? readGuardMeta(dir) : undefined;
  const previous = previousMeta?.targets ?? [];
  const oldProg = replacing ? Program.openPinned(join(dir, 'prog')) : undefined;
  const rollback: (() => void)[] = [];
  try {
    for (const t of scope.targets) {
      const l = live.get(t.id.toString());
      if (l) {
        using link = Link.openPinned(l.pin);
        link.update(guard.program);
        if (oldProg) rollback.push(() => { using k = Link.openPinned(l.pin); k.update(oldProg); });
        result.updated.push(t.path);
      } else {
        attachPinned(dir, t, guard.program, rollback);
        result.attached.push(t.path);
      }
    }
    pinReplacing(guard.program, join(dir, 'prog'));
    pinReplacing(guard.maps.counters, join(dir, 'counters'));
    if (!events) pinReplacing(guard.maps.events, join(dir, 'events'));
    using meta = writeMeta({
      version: META_VERSION, policy: policyToJson(policy), appliedAt: new Date().toISOString(),
      targets: scope.targets.map((t) => ({ path: t.path, id: t.id.toString() })), generation, owner: o.owner ?? 'cli',
      programId: result.programId, countersId: guard.maps.counters.info().id, eventsId: (events ?? guard.maps.events).info().id,
      exempt: scope.exempt.map((e) => ({ path: e.path, id: e.id.toString() })), pending: scope.pending,
      history: ruleHistory(previousMeta),
    });
    pinReplacing(meta, join(dir, 'meta'));
  } catch (e) {
    // Put back what was there: old links run the old program again, new links go.
    for (const undo of rollback.reverse()) { try { undo(); } catch { /* best effort: report the first error */ } }
    if (!replacing) rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally { oldProg?.close(); events?.close(); }
  // Cgroups no longer in scope (or gone) lose the guard only after the new ones have it.
  const keep = new Set(scope.targets.map((t) => t.id.toString()));
  for (const l of links) {
    if (l.live && keep.has(l.cgroupId.toString())) continue;
    dropLink(l);
    if (l.live) result.detached.push(previous.find((p) => p.id === l.cgroupId.toString())?.path ?? `cgroup id ${l.cgroupId}`);
  }
  return result;
}

/** Versions whose events a reader may still find queued: at most 4, at most 1 MiB of patterns. */
function ruleHistory(previous: Meta | undefined): Meta['history'] {
  if (!previous) return [];
  const rules = policyFromJson(previous.policy).rules.map((r) => r.key.text);
  const out = [{ generation: previous.generation, rules }, ...(previous.history ?? [])].slice(0, 4);
  let bytes = 0;
  return out.filter((h) => (bytes += h.rules.reduce((t, r) => t + r.length + 3, 0)) <= 1 << 20);
}

/** Attach the program to a target with a new pinned link; `rollback` undoes it. */
function attachPinned(dir: string, t: GuardTarget, program: Program, rollback?: (() => void)[]): void {
  const a = attachCgroup({ cgroup: t.abs, program, attachType: 'CGROUP_SYSCTL' });
  const path = join(dir, `link-${t.id}`);
  try {
    rmSync(path, { force: true }); // a defunct link pinned under the same id (cannot happen for new ids; cheap)
    a.pin(path);
  } catch (e) { a.detach(); a.close(); throw e; }
  rollback?.push(() => { a.detach(); rmSync(path, { force: true }); });
  a.close();
}

function dropLink(l: PinnedLink): void {
  if (l.live) { try { using k = Link.openPinned(l.pin); k.detach(); } catch { /* gone meanwhile */ } }
  rmSync(l.pin, { force: true });
}

/** What differs between a guard's desired policy and scope and what the kernel has. */
export interface GuardInspection {
  name: string;
  /** Why the program must be built and applied again (missing pins, another policy, a half-done apply). */
  rebuild: string[];
  /** Scope cgroups with no live link running the guard's program. */
  unguarded: GuardTarget[];
  /** Links to fix: running another program (update), or defunct / out of scope (drop). */
  wrongProgram: PinnedLink[];
  stale: PinnedLink[];
  pending: string[];
  /** Kernel ids of the pinned program and event ring buffer (readers follow the latter). */
  programId: number | undefined;
  eventsId: number | undefined;
}

export const inspectionProblems = (i: GuardInspection): string[] => [
  ...i.rebuild,
  ...i.unguarded.map((t) => `cgroup ${t.path} (id ${t.id}) not guarded`),
  ...i.wrongProgram.map((l) => `link on cgroup id ${l.cgroupId} runs program ${l.programId}, not the guard's`),
  ...i.stale.map((l) => (l.live ? `link on cgroup id ${l.cgroupId} is out of scope` : `link pinned for cgroup id ${l.pinnedFor} is defunct (its cgroup was removed, or it was detached)`)),
];

/** Compare the kernel's objects (program, maps, links on each cgroup) with the desired guard. */
export function inspectGuard(policy: Policy, o: { bpffs?: string; mount?: string; missing?: 'error' | 'pending' } = {}): GuardInspection {
  const dir = join(guardsDir(o.bpffs), checkGuardName(policy.name));
  const scope = resolveScope(policy, o.mount ?? findCgroup2Mount(), { missing: o.missing ?? 'pending' });
  const programId = pinnedId(join(dir, 'prog'), 'prog');
  const eventsId = pinnedId(join(dir, 'events'), 'map');
  const r: GuardInspection = { name: policy.name, rebuild: [], unguarded: [], wrongProgram: [], stale: [], pending: scope.pending, programId, eventsId };
  if (programId === undefined) { r.rebuild.push(existsSync(dir) ? 'its program pin is missing' : 'it is not applied'); return r; }
  const meta = readGuardMeta(dir);
  if (!meta) r.rebuild.push('its metadata is missing');
  else {
    if (meta.policy !== policyToJson(policy)) r.rebuild.push('it enforces another version of the policy');
    if (meta.programId !== programId) r.rebuild.push(`its metadata names program ${meta.programId ?? '(none)'} but program ${programId} is pinned (an interrupted apply?)`);
    if (eventsId === undefined || meta.eventsId !== eventsId) r.rebuild.push('its event ring buffer is missing or not the program\'s');
    const countersId = pinnedId(join(dir, 'counters'), 'map');
    if (countersId === undefined || meta.countersId !== countersId) r.rebuild.push('its counters map is missing or not the program\'s');
    const exempt = scope.exempt.map((e) => e.id.toString()).sort().join();
    if ((meta.exempt ?? []).map((e) => e.id).sort().join() !== exempt) r.rebuild.push('its exempt cgroups changed (made again?)');
  }
  const want = new Map(scope.targets.map((t) => [t.id.toString(), t]));
  const seen = new Set<string>();
  for (const l of pinnedLinks(dir)) {
    const id = l.cgroupId.toString();
    if (!l.live || !want.has(id) || seen.has(id)) { r.stale.push(l); continue; }
    seen.add(id);
    if (l.programId !== programId) r.wrongProgram.push(l);
  }
  for (const [id, t] of want) if (!seen.has(id)) r.unguarded.push(t);
  return r;
}

export interface ReconcileResult {
  /** What was found different and put back (empty: nothing to do). */
  repaired: string[];
  /** Set when the guard was built and applied (again). */
  applied?: ApplyResult;
  pending: string[];
  eventsId: number | undefined;
  programId: number | undefined;
}

/**
 * Make the kernel enforce `policy` on its scope, changing only what differs: a missing or
 * half-applied guard is applied again; links on cgroups made again, detached or removed are put
 * back or dropped without reloading the program.
 */
export function reconcileGuard(policy: Policy, o: ApplyOptions = {}): ReconcileResult {
  return withGuardLock(o.bpffs, () => {
    const opts = { ...o, missing: o.missing ?? 'pending' as const };
    const i = inspectGuard(policy, opts);
    const repaired = inspectionProblems(i);
    if (i.rebuild.length) {
      const applied = applyLocked(policy, opts);
      return { repaired, applied, pending: applied.pending, programId: applied.programId, eventsId: pinnedId(join(guardsDir(o.bpffs), policy.name, 'events'), 'map') };
    }
    if (!repaired.length) return { repaired, pending: i.pending, programId: i.programId, eventsId: i.eventsId };
    const dir = join(guardsDir(o.bpffs), policy.name);
    using prog = Program.openPinned(join(dir, 'prog'));
    for (const l of i.wrongProgram) { using k = Link.openPinned(l.pin); k.update(prog); }
    for (const t of i.unguarded) attachPinned(dir, t, prog);
    for (const l of i.stale) dropLink(l);
    rewriteTargets(dir, i.unguarded.map((t) => ({ path: t.path, id: t.id.toString() })), i.pending);
    return { repaired, pending: i.pending, programId: i.programId, eventsId: i.eventsId };
  });
}

/** The metadata's targets from the links the kernel has (after links were added or dropped). */
function rewriteTargets(dir: string, added: { path: string; id: string }[], pending?: string[]): void {
  const meta = readGuardMeta(dir);
  if (!meta) return;
  const byId = new Map<string, string>();
  for (const t of [...meta.targets, ...added]) byId.set(t.id, t.path);
  const targets = pinnedLinks(dir).filter((l) => l.live).map((l) => {
    const id = l.cgroupId.toString();
    return { path: byId.get(id) ?? `cgroup id ${id}`, id };
  });
  using m = writeMeta({ ...meta, targets, ...(pending ? { pending } : {}) });
  pinReplacing(m, join(dir, 'meta'));
}

/** Is the pinned guard exactly this policy on exactly this scope? Then a restart adopts it as is. */
export function guardIsCurrent(policy: Policy, o: { bpffs?: string; mount?: string } = {}): boolean {
  return inspectionProblems(inspectGuard(policy, o)).length === 0;
}

/**
 * Guard one more cgroup with a pinned guard's program (a container that appeared): a new pinned
 * link, the metadata updated. No-op when it is already guarded.
 */
export function extendGuard(name: string, cgroupPath: string, o: { bpffs?: string; mount?: string } = {}): boolean {
  checkGuardName(name);
  return withGuardLock(o.bpffs, () => {
    const mount = o.mount ?? findCgroup2Mount();
    const dir = join(guardsDir(o.bpffs), name);
    const abs = join(mount, cgroupPath);
    const id = cgroupId(abs);
    if (pinnedLinks(dir).some((l) => l.live && l.cgroupId === id)) return false;
    using prog = Program.openPinned(join(dir, 'prog'));
    attachPinned(dir, { path: cgroupPath, abs, id }, prog);
    const meta = readGuardMeta(dir);
    if (meta) {
      using m = writeMeta({ ...meta, targets: [...meta.targets.filter((t) => t.id !== id.toString()), { path: cgroupPath, id: id.toString() }] });
      pinReplacing(m, join(dir, 'meta'));
    }
    return true;
  });
}

export function removeGuard(name: string, bpffs?: string): { detached: number } {
  checkGuardName(name);
  return withGuardLock(bpffs, () => {
    const dir = join(guardsDir(bpffs), name);
    if (!existsSync(dir)) throw new GuardInputError(`no guard named ${name}; list them with \`sysward guard ls\``);
    let detached = 0;
    for (const l of pinnedLinks(dir)) { if (l.live) detached++; dropLink(l); }
    rmSync(dir, { recursive: true, force: true });
    return { detached };
  });
}
