// Guards that outlive the CLI: compiled, attached to every cgroup of the scope with pinned links,
// replaced atomically on re-apply (link update: no moment without protection), listed, removed.
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
import { policyToJson } from '../model-json.js';
import { loadGuard, type ExemptCgroup } from './loaded.js';
import { GuardInputError } from './errors.js';
import { META_VERSION, guardMeta, guardsDir, readGuardMeta, type GuardOwner, type Meta } from './status.js';

// Reading guards (guard ls, events, metrics) lives in status.ts, which loads no compiler.
export * from './status.js';


export { GuardInputError };

export interface GuardTarget { path: string; abs: string; id: bigint }

export interface ResolvedScope { targets: GuardTarget[]; exempt: (ExemptCgroup & { path: string })[]; notes: string[] }

/** The cgroups a policy's scope names, checked to exist. */
export function resolveScope(policy: Policy, mount = findCgroup2Mount()): ResolvedScope {
  const notes: string[] = [];
  const paths = new Set<string>();
  const target = (path: string): GuardTarget => {
    const abs = join(mount, path);
    if (!existsSync(abs)) throw new GuardInputError(`scope cgroup ${path} does not exist under ${mount}; create it, or fix the path in the policy (paths are relative to the cgroup v2 mount)`);
    return { path, abs, id: cgroupId(abs) };
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
  const exempt = policy.scope.exempt.map((path) => {
    const t = target(path);
    return { path, id: t.id, level: path.split('/').filter(Boolean).length };
  });
  return { targets: kept.map(target), exempt, notes };
}

export interface ApplyResult { name: string; replaced: boolean; attached: string[]; updated: string[]; detached: string[]; notes: string[]; programId: number; instructions: number; generation: number }


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

export function applyGuard(policy: Policy, o: { bpffs?: string; mount?: string; owner?: GuardOwner } = {}): ApplyResult {
  const mount = o.mount ?? findCgroup2Mount();
  const scope = resolveScope(policy, mount);
  // A containers scope may be empty for now: the daemon attaches containers as they appear.
  if (scope.targets.length === 0 && !policy.scope.containers) throw new GuardInputError(`the scope of guard ${policy.name} names no cgroup; add cgroups, containers: true or host: true`);
  ensureBpffs(o.bpffs ?? DEFAULT_BPFFS);
  const dir = join(guardsDir(o.bpffs), policy.name);
  const replacing = existsSync(join(dir, 'prog'));
  const events = existsSync(join(dir, 'events')) ? BpfMap.openPinned(join(dir, 'events'), none, bytes(0)) as BpfMap<null, Buffer> : undefined;
  // Compile, verify and load first: a policy the kernel refuses changes nothing (not even a folder).
  const generation = randomInt(1, 0xffffffff);
  using guard = loadGuard(policy, { ...(events ? { events } : {}), exempt: scope.exempt, generation });
  pinDir(dir);
  const result: ApplyResult = { name: policy.name, replaced: replacing, attached: [], updated: [], detached: [], notes: scope.notes, programId: guard.program.info().id, instructions: guard.instructionCount, generation };
  const existing = new Map<string, string>(); // cgroup id → link pin
  for (const f of readdirSync(dir)) if (/^link-\d+$/.test(f)) existing.set(f.slice(5), join(dir, f));
  const previous = replacing ? readGuardMeta(dir)?.targets ?? [] : [];
  const oldProg = replacing ? Program.openPinned(join(dir, 'prog')) : undefined;
  const rollback: (() => void)[] = [];
  try {
    for (const t of scope.targets) {
      const pin = existing.get(t.id.toString());
      if (pin) {
        using link = Link.openPinned(pin);
        link.update(guard.program);
        if (oldProg) rollback.push(() => { using l = Link.openPinned(pin); l.update(oldProg); });
        result.updated.push(t.path);
      } else {
        const a = attachCgroup({ cgroup: t.abs, program: guard.program, attachType: 'CGROUP_SYSCTL' });
        if (!(a instanceof Link)) { a.detach(); throw new Error('this kernel has no cgroup bpf_link: guards that outlive the CLI need Linux 5.7+'); }
        const path = join(dir, `link-${t.id}`);
        rollback.push(() => { a.detach(); a.close(); rmSync(path, { force: true }); });
        a.pin(path);
        result.attached.push(t.path);
      }
    }
    pinReplacing(guard.program, join(dir, 'prog'));
    pinReplacing(guard.maps.counters, join(dir, 'counters'));
    if (!events) pinReplacing(guard.maps.events, join(dir, 'events'));
    using meta = writeMeta({ version: META_VERSION, policy: policyToJson(policy), appliedAt: new Date().toISOString(), targets: scope.targets.map((t) => ({ path: t.path, id: t.id.toString() })), generation, owner: o.owner ?? 'cli' });
    pinReplacing(meta, join(dir, 'meta'));
  } catch (e) {
    // Put back what was there: old links run the old program again, new links go.
    for (const undo of rollback.reverse()) { try { undo(); } catch { /* best effort: report the first error */ } }
    if (!replacing) rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally { oldProg?.close(); }
  // Cgroups no longer in scope lose the guard only after the new ones have it.
  const keep = new Set(scope.targets.map((t) => t.id.toString()));
  for (const [id, pin] of existing) {
    if (keep.has(id)) continue;
    try { using l = Link.openPinned(pin); l.detach(); } catch { /* already gone with its cgroup */ }
    rmSync(pin, { force: true });
    result.detached.push(previous.find((p) => p.id === id)?.path ?? `cgroup id ${id}`);
  }
  events?.close();
  return result;
}

/** Is the pinned guard exactly this policy on exactly this scope? Then a restart adopts it as is. */
export function guardIsCurrent(policy: Policy, o: { bpffs?: string; mount?: string } = {}): boolean {
  const meta = guardMeta(policy.name, o.bpffs);
  if (!meta || meta.policy !== policyToJson(policy)) return false;
  const want = resolveScope(policy, o.mount ?? findCgroup2Mount()).targets.map((t) => t.id.toString()).sort();
  const dir = join(guardsDir(o.bpffs), policy.name);
  const have = readdirSync(dir).filter((f) => /^link-\d+$/.test(f)).map((f) => f.slice(5)).sort();
  return JSON.stringify(want) === JSON.stringify(have);
}

/**
 * Guard one more cgroup with a pinned guard's program (a container that appeared): a new pinned
 * link, the metadata updated. No-op when it is already guarded.
 */
export function extendGuard(name: string, cgroupPath: string, o: { bpffs?: string; mount?: string } = {}): boolean {
  const mount = o.mount ?? findCgroup2Mount();
  const dir = join(guardsDir(o.bpffs), name);
  const abs = join(mount, cgroupPath);
  const id = cgroupId(abs).toString();
  const pin = join(dir, `link-${id}`);
  if (existsSync(pin)) return false;
  using prog = Program.openPinned(join(dir, 'prog'));
  const link = attachCgroup({ cgroup: abs, program: prog, attachType: 'CGROUP_SYSCTL' });
  try {
    if (!(link instanceof Link)) throw new Error('this kernel has no cgroup bpf_link: guards that outlive the CLI need Linux 5.7+');
    link.pin(pin);
  } catch (e) { link.detach(); throw e; } finally { link.close(); }
  const meta = readGuardMeta(dir);
  if (meta) {
    using m = writeMeta({ ...meta, targets: [...meta.targets, { path: cgroupPath, id }] });
    pinReplacing(m, join(dir, 'meta'));
  }
  return true;
}

export function removeGuard(name: string, bpffs?: string): { detached: number } {
  const dir = join(guardsDir(bpffs), name);
  if (!existsSync(dir)) throw new GuardInputError(`no guard named ${name}; list them with \`sysward guard ls\``);
  let detached = 0;
  for (const f of readdirSync(dir)) {
    if (!/^link-\d+$/.test(f)) continue;
    try { using l = Link.openPinned(join(dir, f)); l.detach(); detached++; } catch { /* its cgroup is gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
  return { detached };
}

