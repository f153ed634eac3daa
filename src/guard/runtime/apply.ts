// Guards that outlive the CLI: compiled, attached to every cgroup of the scope with pinned links,
// replaced atomically on re-apply (link update: no moment without protection), checked against
// what the kernel has and repaired (reconcile), listed, removed. Every change holds the guards'
// lock (lock.ts): one writer at a time, the CLI and the daemon alike.
//
// Pins: layout.ts (/sys/fs/bpf/sysward/guards/NAME/{prog, events, counters, meta, link-<cgroup id>}).
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { BpfMap } from '../../bpf/map.js';
import { bytes, none, u32, u64 } from '../../bpf/codec.js';
import { Link, attachCgroup } from '../../bpf/link.js';
import { Program } from '../../bpf/prog.js';
import { DEFAULT_BPFFS, ensureBpffs, pinDir } from '../../bpf/pin.js';
import { cgroupId, findCgroup2Mount, nearCgroup } from '../../cgroup/hierarchy.js';
import { resolveContainerScope } from '../../cgroup/containers.js';
import type { Policy } from '../model.js';
import { policyFromJson, policyToJson } from '../model-json.js';
import { loadGuard, wantsFollow, type ExemptCgroup } from './loaded.js';
import { Bind } from '../compiler/abi.js';
import { syncBindings, type BindResult } from './bindings.js';
import { mountNamespaceKey, namespaceSupport } from './namespaces.js';
import { GuardInputError } from './errors.js';
import { META_VERSION, readGuardMeta, type GuardOwner, type Meta } from './status.js';
import { guardPins, linkPinCgroupId, type GuardPins } from './layout.js';
import { withGuardLock } from './lock.js';
import { openPinnedAgg } from './agg.js';
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

const didYouMeanCgroup = (mount: string, path: string): string => { const near = nearCgroup(mount, path); return near ? `; did you mean ${near}?` : ''; };

/**
 * `waiting for A (did you mean B?), C to exist: …`: scope cgroups not made yet, a likely typo
 * named (the daemon would otherwise wait for it with nothing amiss). `hints: false` for text never
 * shown (inspectGuard's, at each of the daemon's passes).
 */
export function waitingNote(pending: readonly string[], mount: string, hints = true): string {
  const named = (p: string) => { const near = hints ? nearCgroup(mount, p) : undefined; return near ? `${p} (did you mean ${near}?)` : p; };
  return `waiting for ${pending.map(named).join(', ')} to exist: guarded as soon as ${pending.length === 1 ? 'it appears' : 'they appear'}`;
}

/**
 * The cgroups a policy's scope names, checked to exist. `missing: 'pending'` (the daemon) lists
 * missing ones as pending instead of refusing the policy: a service not started yet, or between
 * a stop and a start, is guarded the moment its cgroup is made again.
 */
export function resolveScope(policy: Policy, mount = findCgroup2Mount(), o: { missing?: 'error' | 'pending'; hints?: boolean } = {}): ResolvedScope {
  const notes: string[] = [];
  const pending: string[] = [];
  const paths = new Set<string>();
  const target = (path: string): GuardTarget | undefined => {
    const abs = join(mount, path);
    let id: bigint;
    try { id = cgroupId(abs); } catch (e) {
      if (existsSync(abs)) throw e;
      if (o.missing === 'pending') { pending.push(path); return undefined; }
      throw new GuardInputError(`scope cgroup ${path} does not exist under ${mount}${didYouMeanCgroup(mount, path)}; create it, or fix the path in the policy (paths are relative to the cgroup v2 mount)`);
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
    if (o.missing === 'pending') {
      // The daemon re-resolves exemptions whenever cgroups change. A cgroup made under a guarded
      // one by whoever may write there (a delegated or privileged container) must not become
      // exempt by taking the exempt path's name: only a cgroup owned by root is exempted.
      const abs = join(mount, path);
      let uid: number | undefined;
      try { uid = statSync(abs).uid; } catch { /* missing */ }
      if (uid === undefined) { notes.push(`exempt cgroup ${path} does not exist: nothing is exempt there`); return []; }
      if (uid !== 0) { notes.push(`exempt cgroup ${path} is not owned by root (uid ${uid}): not exempt (anyone who may write its parent could have made it)`); return []; }
    }
    const t = target(path);
    return t ? [{ path, id: t.id, level: path.split('/').filter(Boolean).length }] : [];
  });
  const targets = kept.flatMap((p) => { const t = target(p); return t ? [t] : []; });
  if (pending.length) notes.push(waitingNote(pending, mount, o.hints !== false));
  return { targets, exempt, notes, pending };
}

export interface ApplyResult {
  name: string; replaced: boolean; attached: string[]; updated: string[]; detached: string[]; notes: string[]; pending: string[]; programId: number; instructions: number; generation: number;
  /** The follower's program id, when the guard follows its tasks' mount namespaces. */
  followId?: number;
  /** The namespaces bound after the apply (with the follower). */
  bindings?: BindResult;
}

export interface ApplyOptions {
  bpffs?: string; mount?: string; owner?: GuardOwner;
  /** The daemon's config directory (meta.managedBy). */
  managedBy?: string;
  /** Missing scope cgroups: refuse the policy (the CLI) or wait for them (the daemon). */
  missing?: 'error' | 'pending';
  /** How long to wait for another writer's lock (the daemon waits briefly and retries later). */
  lockTimeoutMs?: number;
  /** Events per second each kind of access sends at full detail (default 10; 0: every access; compile.ts). */
  eventsPerSecond?: number;
  /** A new guard's ring buffer size and kinds of access counted apart (defaults: compile.ts; tests make them small). */
  eventsBytes?: number; aggKinds?: number;
  /**
   * reconcileGuard: why a guard pinned under this name is not the caller's to change (another
   * owner's), or undefined when it is; a reason stops the pass with that message.
   */
  refuse?: (pinned: Meta) => string | undefined;
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
interface PinnedLink { file: string; pin: string; pinnedFor: string; live: boolean; cgroupId: bigint; programId: number; /** The link's own id (0: unreadable). */ linkId: number }

function pinnedLinks(pins: GuardPins): PinnedLink[] {
  const out: PinnedLink[] = [];
  for (const file of readdirSync(pins.dir)) {
    if (linkPinCgroupId(file) === undefined) continue;
    const pin = join(pins.dir, file);
    try {
      using l = Link.openPinned(pin);
      const i = l.info();
      out.push({ file, pin, pinnedFor: file.slice(5), live: i.cgroupId !== 0n, cgroupId: i.cgroupId, programId: i.programId, linkId: i.id });
    } catch {
      out.push({ file, pin, pinnedFor: file.slice(5), live: false, cgroupId: 0n, programId: 0, linkId: 0 });
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

/**
 * Put back the pins of the ring buffer and counts maps the pinned program still uses, when they
 * were removed while no daemon held them: made anew, the old ring buffer's unread events and the
 * counts not yet summarised would go with the old program, never reported. Found by the ids the
 * metadata records for the program pinned now (it keeps its maps alive, so the ids are theirs).
 */
function repinProgramMaps(pins: GuardPins, meta: Meta | undefined): void {
  if (!meta || meta.programId === undefined || meta.programId !== pinnedId(pins.prog, 'prog')) return;
  for (const [pin, id] of [[pins.events, meta.eventsId], [pins.agg, meta.aggId], [pins.aggValues, meta.aggValuesId], [pins.aggFree, meta.aggFreeId]] as const) {
    if (id === undefined || existsSync(pin)) continue;
    try { using m = BpfMap.openBytesById(id); m.pin(pin); } catch { /* gone, or pinned meanwhile: made anew below */ }
  }
}

export function applyGuard(policy: Policy, o: ApplyOptions = {}): ApplyResult {
  checkGuardName(policy.name);
  return withGuardLock(o.bpffs, () => applyLocked(policy, o), o.lockTimeoutMs);
}

function applyLocked(policy: Policy, o: ApplyOptions): ApplyResult {
  const mount = o.mount ?? findCgroup2Mount();
  const scope = resolveScope(policy, mount, { missing: o.missing ?? 'error' });
  // A containers scope may be empty for now: the daemon attaches containers as they appear.
  if (scope.targets.length === 0 && !policy.scope.containers && !scope.pending.length) throw new GuardInputError(`the scope of guard ${policy.name} names no cgroup; add cgroups, containers: true or host: true`);
  ensureBpffs(o.bpffs ?? DEFAULT_BPFFS);
  const pins = guardPins(policy.name, o.bpffs);
  const dir = pins.dir;
  // The pinned metadata, read once (it holds the whole policy: a large one takes a while).
  const pinnedMeta = readGuardMeta(dir);
  // A daemon's guard is changed through its config: replaced here it would become the CLI's,
  // which the daemon does not take back, and its configured rules would stay lifted.
  if ((o.owner ?? 'cli') !== 'daemon' && pinnedMeta?.owner === 'daemon') throw new GuardInputError(`guard ${policy.name} is managed by \`sysward daemon\` (config ${pinnedMeta.managedBy ?? 'its default directory'}): change its policy file there, or name this policy otherwise (a guard no daemon manages any more: \`sysward guard rm ${policy.name}\` first)`);
  repinProgramMaps(pins, pinnedMeta);
  const replacing = existsSync(pins.prog);
  const events = existsSync(pins.events) ? BpfMap.openPinned(pins.events, none, bytes(0)) as BpfMap<null, Buffer> : undefined;
  // The namespaces bound so far stay bound across a re-apply (their tasks may have moved already).
  const bound = existsSync(pins.bound) ? openBound(pins.bound) : undefined;
  // Counts keep accumulating across a re-apply (the key carries the generation): summaries stay exact.
  const agg = openPinnedAgg(pins);
  // Compile, verify and load first: a policy the kernel refuses changes nothing (not even a folder).
  const generation = randomInt(1, 0xffffffff);
  using guard = loadGuard(policy, { ...(events ? { events } : {}), ...(bound ? { bound } : {}), ...(agg ? { agg } : {}), ...(o.eventsPerSecond !== undefined ? { eventsPerSecond: o.eventsPerSecond } : {}), ...(o.eventsBytes ? { eventsBytes: o.eventsBytes } : {}), ...(o.aggKinds ? { aggKinds: o.aggKinds } : {}), exempt: scope.exempt, generation });
  const existed = existsSync(dir);
  pinDir(dir);
  const result: ApplyResult = { name: policy.name, replaced: replacing, attached: [], updated: [], detached: [], notes: scope.notes, pending: scope.pending, programId: guard.program.info().id, instructions: guard.instructionCount, generation };
  if (guard.follow) result.followId = guard.follow.info().id;
  if (guard.namespacesUnavailable) result.notes.push(`the writer's namespaces cannot be read here (${guard.namespacesUnavailable}): namespace: own is not checked, and a task that moves out of the guarded cgroups is no longer guarded`);
  // Live links by the cgroup they are attached to now. Defunct ones (cgroup gone, or detached)
  // protect nothing: dropped first, so a new link for the same cgroup can take their pin's name.
  const found = existed ? pinnedLinks(pins) : [];
  for (const l of found) if (!l.live) dropLink(l);
  const links = found.filter((l) => l.live);
  const live = new Map(links.filter((l) => l.live).map((l) => [l.cgroupId.toString(), l]));
  const previousMeta = replacing ? pinnedMeta : undefined;
  const previous = previousMeta?.targets ?? [];
  const oldProg = replacing ? Program.openPinned(pins.prog) : undefined;
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
        attachPinned(pins, t, guard.program, rollback);
        result.attached.push(t.path);
      }
    }
    // The follower on the root cgroup, after the cgroups' links: a bound task that already left
    // its cgroup is guarded from here on.
    if (guard.follow) {
      const previousFollow = existsSync(pins.follow) ? Program.openPinned(pins.follow) : undefined;
      try { attachFollower(pins, mount, guard.follow, previousFollow, rollback); } finally { previousFollow?.close(); }
      pinReplacing(guard.follow, pins.follow);
      if (!bound) pinReplacing(guard.maps.bound!, pins.bound);
    }
    pinReplacing(guard.program, pins.prog);
    pinReplacing(guard.maps.counters, pins.counters);
    if (!events) pinReplacing(guard.maps.events, pins.events);
    if (!agg) {
      pinReplacing(guard.maps.agg, pins.agg); pinReplacing(guard.maps.aggv, pins.aggValues); pinReplacing(guard.maps.aggfree, pins.aggFree);
      // What summaries reported of the agg maps these replace (one was unpinned meanwhile): its
      // entries are released only with their kinds, which were in the old maps, so they would stay.
      rmSync(pins.aggReported, { force: true });
    }
    using meta = writeMeta({
      version: META_VERSION, policy: policyToJson(policy), appliedAt: new Date().toISOString(),
      targets: scope.targets.map((t) => ({ path: t.path, id: t.id.toString() })), generation, owner: o.owner ?? 'cli', ...(o.managedBy ? { managedBy: o.managedBy } : {}),
      programId: result.programId, countersId: guard.maps.counters.info().id, eventsId: (events ?? guard.maps.events).info().id, aggId: (agg ?? guard.maps).agg.info().id, aggValuesId: (agg ?? guard.maps).aggv.info().id, aggFreeId: (agg ?? guard.maps).aggfree.info().id,
      ...(guard.follow ? { followId: result.followId!, boundId: (bound ?? guard.maps.bound!).info().id } : {}),
      exempt: scope.exempt.map((e) => ({ path: e.path, id: e.id.toString() })), pending: scope.pending,
      history: ruleHistory(previousMeta),
    });
    pinReplacing(meta, pins.meta);
  } catch (e) {
    // Put back what was there: old links run the old program again, new links go.
    for (const undo of rollback.reverse()) { try { undo(); } catch { /* best effort: report the first error */ } }
    if (!replacing) rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally { oldProg?.close(); events?.close(); bound?.close(); agg?.close(); }
  // A guard that no longer follows (follow: false, or the kernel stopped letting it read
  // namespaces) drops the follower; one that follows binds its tasks' namespaces now.
  if (!guard.follow) dropFollower(pins);
  else result.bindings = bindTargets(pins, scope.targets, scope.exempt.map((e) => e.path));
  // Cgroups no longer in scope (or gone) lose the guard only after the new ones have it.
  const keep = new Set(scope.targets.map((t) => t.id.toString()));
  for (const l of links) {
    if (l.live && keep.has(l.cgroupId.toString())) continue;
    dropLink(l);
    if (l.live) result.detached.push(previous.find((p) => p.id === l.cgroupId.toString())?.path ?? `cgroup id ${l.cgroupId}`);
  }
  return result;
}

/** Versions whose events a reader may still find queued: at most 4, at most 384 KiB of patterns (one version of a 10,000-rule policy; the metadata is rewritten on every apply). */
function ruleHistory(previous: Meta | undefined): Meta['history'] {
  if (!previous) return [];
  const rules = policyFromJson(previous.policy).rules.map((r) => r.key.text);
  const out = [{ generation: previous.generation, rules }, ...(previous.history ?? [])].slice(0, 4);
  let bytes = 0;
  return out.filter((h) => (bytes += h.rules.reduce((t, r) => t + r.length + 3, 0)) <= 384 << 10);
}

/** Attach the program to a target with a new pinned link; `rollback` undoes it. */
function attachPinned(pins: GuardPins, t: GuardTarget, program: Program, rollback?: (() => void)[]): void {
  const a = attachCgroup({ cgroup: t.abs, program, attachType: 'CGROUP_SYSCTL' });
  const path = pins.link(t.id);
  try {
    rmSync(path, { force: true }); // a defunct link pinned for this cgroup (detached by another tool)
    a.pin(path);
  } catch (e) { a.detach(); a.close(); throw e; }
  rollback?.push(() => { a.detach(); rmSync(path, { force: true }); });
  a.close();
}

const openBound = (pin: string) => BpfMap.openPinned(pin, u64, bytes(Bind.SIZE)) as BpfMap<bigint, Buffer>;

/** The follower's link on the root cgroup: updated in place when live, else attached and pinned. */
function attachFollower(pins: GuardPins, mount: string, program: Program, previous: Program | undefined, rollback: (() => void)[]): void {
  const live = followLinkLive(pins);
  if (live) {
    using link = Link.openPinned(pins.followLink);
    link.update(program);
    if (previous) rollback.push(() => { using k = Link.openPinned(pins.followLink); k.update(previous); });
    return;
  }
  rmSync(pins.followLink, { force: true });
  const a = attachCgroup({ cgroup: mount, program, attachType: 'CGROUP_SYSCTL' });
  try { a.pin(pins.followLink); } catch (e) { a.detach(); a.close(); throw e; }
  rollback.push(() => { a.detach(); rmSync(pins.followLink, { force: true }); });
  a.close();
}

/** The follower's link as the kernel has it: its program id, or undefined when missing or defunct. */
function followLinkLive(pins: GuardPins): { programId: number } | undefined {
  if (!existsSync(pins.followLink)) return undefined;
  try {
    using l = Link.openPinned(pins.followLink);
    const i = l.info();
    return i.cgroupId !== 0n ? { programId: i.programId } : undefined;
  } catch { return undefined; }
}

function dropFollower(pins: GuardPins): void {
  if (followLinkLive(pins)) { try { using k = Link.openPinned(pins.followLink); k.detach(); } catch { /* gone meanwhile */ } }
  for (const f of [pins.followLink, pins.follow, pins.bound]) rmSync(f, { force: true });
}

/** The exempt cgroups the program has, as paths: those whose id is still theirs (one made again under the same path is not exempt). */
function exemptPaths(exempt: readonly { path: string; id: bigint | string }[] | undefined, mount = findCgroup2Mount()): string[] {
  return (exempt ?? []).filter((e) => { try { return cgroupId(join(mount, e.path)).toString() === e.id.toString(); } catch { return false; } }).map((e) => e.path);
}

/** Bind the mount namespaces of the tasks of a following guard's cgroups (bindings.ts); tasks in `exempt` are not bound. */
function bindTargets(pins: GuardPins, targets: readonly GuardTarget[], exempt: readonly string[], prune = true): BindResult | undefined {
  const ns = namespaceSupport();
  if (!('facts' in ns) || !existsSync(pins.bound)) return undefined;
  const layout = ns.facts.layout;
  return syncBindings(pins.bound, targets, ns.facts.host.mnt, (pid) => mountNamespaceKey(pid, layout), { prune, exempt });
}

/**
 * Bind the namespaces of the tasks in one of a guard's cgroups now (a task just moved into a
 * container's cgroup), without waiting for the next pass. False when the guard does not follow.
 */
export function bindGuardCgroup(name: string, cgroupPath: string, o: { bpffs?: string; mount?: string; lockTimeoutMs?: number } = {}): BindResult | undefined {
  checkGuardName(name);
  return withGuardLock(o.bpffs, () => {
    const pins = guardPins(name, o.bpffs);
    const meta = readGuardMeta(pins.dir);
    if (meta?.followId === undefined) return undefined;
    const mount = o.mount ?? findCgroup2Mount();
    const abs = join(mount, cgroupPath);
    return bindTargets(pins, [{ path: cgroupPath, abs, id: cgroupId(abs) }], exemptPaths(meta.exempt, mount), false);
  }, o.lockTimeoutMs);
}

/**
 * Detach a link (if live) and remove its pin — only while the pin still holds that link: a new link
 * for the same cgroup (a detached link repaired) is pinned under the same name, and removing it
 * would detach the repair.
 */
function dropLink(l: PinnedLink): void {
  let current: number | undefined; // the id of the link pinned there now
  try { using k = Link.openPinned(l.pin); current = k.info().id; } catch { /* no link there: gone, or not a link */ }
  if (current !== undefined && current !== l.linkId) return; // the pin holds another link now: not ours
  if (l.live && current !== undefined) { try { using k = Link.openPinned(l.pin); k.detach(); } catch { /* gone meanwhile */ } }
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
  /** The follower's link on the root cgroup is missing, defunct or runs another program. */
  unfollowed: boolean;
  /** The scope's cgroups as they exist now. */
  targets: GuardTarget[];
  /** Kernel ids of the pinned program and event ring buffer (readers follow the latter). */
  programId: number | undefined;
  eventsId: number | undefined;
}

export const inspectionProblems = (i: GuardInspection): string[] => [
  ...i.rebuild,
  ...i.unguarded.map((t) => `cgroup ${t.path} (id ${t.id}) not guarded`),
  ...i.wrongProgram.map((l) => `link on cgroup id ${l.cgroupId} runs program ${l.programId}, not the guard's`),
  ...i.stale.map((l) => (l.live ? `link on cgroup id ${l.cgroupId} is out of scope` : `link pinned for cgroup id ${l.pinnedFor} is defunct (its cgroup was removed, or it was detached)`)),
  ...(i.unfollowed ? ['the follower\'s link on the root cgroup is missing or detached'] : []),
];

/** Compare the kernel's objects (program, maps, links on each cgroup) with the desired guard. */
export function inspectGuard(policy: Policy, o: { bpffs?: string; mount?: string; missing?: 'error' | 'pending'; meta?: Meta | null } = {}): GuardInspection {
  const pins = guardPins(policy.name, o.bpffs);
  const dir = pins.dir;
  const scope = resolveScope(policy, o.mount ?? findCgroup2Mount(), { missing: o.missing ?? 'pending', hints: false });
  const programId = pinnedId(pins.prog, 'prog');
  const eventsId = pinnedId(pins.events, 'map');
  const r: GuardInspection = { name: policy.name, rebuild: [], unguarded: [], wrongProgram: [], stale: [], pending: scope.pending, unfollowed: false, targets: scope.targets, programId, eventsId };
  if (programId === undefined) { r.rebuild.push(existsSync(dir) ? 'its program pin is missing' : 'it is not applied'); return r; }
  // `o.meta`: the caller read it already (null: there is none), so it is parsed once per pass.
  const meta = o.meta === undefined ? readGuardMeta(dir) : o.meta ?? undefined;
  if (!meta) r.rebuild.push('its metadata is missing');
  else {
    if (meta.policy !== policyToJson(policy)) r.rebuild.push('it enforces another version of the policy');
    if (meta.programId !== programId) r.rebuild.push(`its metadata names program ${meta.programId ?? '(none)'} but program ${programId} is pinned (an interrupted apply?)`);
    if (eventsId === undefined || meta.eventsId !== eventsId) r.rebuild.push('its event ring buffer is missing or not the program\'s');
    for (const [pin, id, what] of [[pins.agg, meta.aggId, 'agg'], [pins.aggValues, meta.aggValuesId, 'agg-values'], [pins.aggFree, meta.aggFreeId, 'agg-free']] as const) {
      const pinned = pinnedId(pin, 'map');
      if (pinned === undefined || pinned !== id) { r.rebuild.push(`its counts map (${what}) is missing or not the program's`); break; }
    }
    const countersId = pinnedId(pins.counters, 'map');
    if (countersId === undefined || meta.countersId !== countersId) r.rebuild.push('its counters map is missing or not the program\'s');
    const exempt = scope.exempt.map((e) => e.id.toString()).sort().join();
    if ((meta.exempt ?? []).map((e) => e.id).sort().join() !== exempt) r.rebuild.push('its exempt cgroups changed (made again?)');
    const follows = wantsFollow(policy) && 'facts' in namespaceSupport();
    if (follows !== (meta.followId !== undefined)) r.rebuild.push(follows ? 'it does not follow its tasks\' mount namespaces yet' : 'it follows mount namespaces it should not (follow: false, or the kernel no longer lets it read them)');
    else if (follows) {
      if (pinnedId(pins.follow, 'prog') !== meta.followId) r.rebuild.push('its follower program is missing or not the guard\'s');
      else if (pinnedId(pins.bound, 'map') !== meta.boundId) r.rebuild.push('its bound map is missing or not the guard\'s');
      else if (followLinkLive(pins)?.programId !== meta.followId) r.unfollowed = true;
    }
  }
  const want = new Map(scope.targets.map((t) => [t.id.toString(), t]));
  const seen = new Set<string>();
  for (const l of pinnedLinks(pins)) {
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
  /** The follower's bindings after the pass (guards that follow). */
  bindings?: BindResult;
  /** Set when the guard was built and applied (again). */
  applied?: ApplyResult;
  /** Scope cgroups guarded for the first time (a container that appeared): growth, not repair. */
  added: string[];
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
    const meta = readGuardMeta(guardPins(policy.name, o.bpffs).dir);
    const refusal = meta && o.refuse?.(meta);
    if (refusal) throw new GuardInputError(refusal);
    const i = inspectGuard(policy, { ...opts, meta: meta ?? null });
    if (i.rebuild.length) {
      const applied = applyLocked(policy, opts);
      return { repaired: inspectionProblems(i), applied, added: [], pending: applied.pending, programId: applied.programId, eventsId: pinnedId(guardPins(policy.name, o.bpffs).events, 'map'), ...(applied.bindings ? { bindings: applied.bindings } : {}) };
    }
    const pins = guardPins(policy.name, o.bpffs);
    // Cgroups the guard never had (no target of its metadata by that path, nor a pending one) are
    // new, not repaired: a container that appeared. A path it had under another id was made again.
    const known = new Set([...(meta?.targets ?? []).map((t) => t.path), ...(meta?.pending ?? [])]);
    const added = i.unguarded.filter((t) => !known.has(t.path));
    const repaired = inspectionProblems({ ...i, unguarded: i.unguarded.filter((t) => known.has(t.path)) });
    if (i.unfollowed) {
      using follow = Program.openPinned(pins.follow);
      attachFollower(pins, o.mount ?? findCgroup2Mount(), follow, undefined, []);
    }
    // Every pass: containers started since bind their namespaces, stopped ones (gone) unbind.
    const exempt = meta?.followId !== undefined ? exemptPaths(meta.exempt, o.mount) : [];
    const bindings = meta?.followId !== undefined ? bindTargets(pins, i.targets, exempt) : undefined;
    const withBindings = bindings ? { bindings } : {};
    if (!repaired.length && !added.length) return { repaired, added: [], pending: i.pending, programId: i.programId, eventsId: i.eventsId, ...withBindings };
    using prog = Program.openPinned(pins.prog);
    for (const l of i.wrongProgram) { using k = Link.openPinned(l.pin); k.update(prog); }
    // Defunct links first (their pin may have the name a new link takes), out-of-scope ones after.
    for (const l of i.stale) if (!l.live) dropLink(l);
    for (const t of i.unguarded) attachPinned(pins, t, prog);
    for (const l of i.stale) if (l.live) dropLink(l);
    rewriteTargets(pins, i.unguarded.map((t) => ({ path: t.path, id: t.id.toString() })), i.pending);
    // Cgroups guarded just now bind their tasks' namespaces in this pass too.
    const after = i.unguarded.length && meta?.followId !== undefined ? bindTargets(pins, i.targets, exempt) : bindings;
    return { repaired, added: added.map((t) => t.path), pending: i.pending, programId: i.programId, eventsId: i.eventsId, ...(after ? { bindings: after } : {}) };
  }, o.lockTimeoutMs);
}

/** The metadata's targets from the links the kernel has (after links were added or dropped). */
function rewriteTargets(pins: GuardPins, added: { path: string; id: string }[], pending?: string[]): void {
  const meta = readGuardMeta(pins.dir);
  if (!meta) return;
  const byId = new Map<string, string>();
  for (const t of [...meta.targets, ...added]) byId.set(t.id, t.path);
  const targets = pinnedLinks(pins).filter((l) => l.live).map((l) => {
    const id = l.cgroupId.toString();
    return { path: byId.get(id) ?? `cgroup id ${id}`, id };
  });
  using m = writeMeta({ ...meta, targets, ...(pending ? { pending } : {}) });
  pinReplacing(m, pins.meta);
}

/** Is the pinned guard exactly this policy on exactly this scope? Then a restart adopts it as is. */
export function guardIsCurrent(policy: Policy, o: { bpffs?: string; mount?: string } = {}): boolean {
  return inspectionProblems(inspectGuard(policy, o)).length === 0;
}

/**
 * Guard one more cgroup with a pinned guard's program (a container that appeared): a new pinned
 * link, the metadata updated. No-op when it is already guarded.
 */
export function extendGuard(name: string, cgroupPath: string, o: { bpffs?: string; mount?: string; lockTimeoutMs?: number } = {}): boolean {
  checkGuardName(name);
  return withGuardLock(o.bpffs, () => {
    const mount = o.mount ?? findCgroup2Mount();
    const pins = guardPins(name, o.bpffs);
    const abs = join(mount, cgroupPath);
    const id = cgroupId(abs);
    if (pinnedLinks(pins).some((l) => l.live && l.cgroupId === id)) return false;
    using prog = Program.openPinned(pins.prog);
    attachPinned(pins, { path: cgroupPath, abs, id }, prog);
    const meta = readGuardMeta(pins.dir);
    if (meta) {
      using m = writeMeta({ ...meta, targets: [...meta.targets.filter((t) => t.id !== id.toString()), { path: cgroupPath, id: id.toString() }] });
      pinReplacing(m, pins.meta);
    }
    // The container's first task is usually in already (runtimes make the cgroup and move the
    // task in at once): bind its namespace now rather than at the next pass.
    if (meta?.followId !== undefined) bindTargets(pins, [{ path: cgroupPath, abs, id }], exemptPaths(meta.exempt, mount), false);
    return true;
  }, o.lockTimeoutMs);
}

export function removeGuard(name: string, bpffs?: string, lockTimeoutMs?: number): { detached: number } {
  checkGuardName(name);
  return withGuardLock(bpffs, () => {
    const pins = guardPins(name, bpffs);
    if (!existsSync(pins.dir)) throw new GuardInputError(`no guard named ${name}; list them with \`sysward guard ls\``);
    let detached = 0;
    for (const l of pinnedLinks(pins)) { if (l.live) detached++; dropLink(l); }
    if (followLinkLive(pins)) detached++;
    dropFollower(pins);
    rmSync(pins.dir, { recursive: true, force: true });
    return { detached };
  }, lockTimeoutMs);
}
