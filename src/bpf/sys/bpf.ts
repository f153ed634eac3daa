// One function per bpf(2) command. Raw: buffers in, numbers and FDs out, errors as SysError.
import {
  BtfLoadAttr, Cmd, EnableStatsAttr, GetIdAttr, InfoAttr, LinkCreateAttr, LinkDetachAttr, LinkUpdateAttr, MapBatchAttr,
  MapCreateAttr, MapElemAttr, ObjAttr, ProgAttachAttr, ProgBindMapAttr, ProgLoadAttr, ProgQueryAttr, RawTracepointOpenAttr,
} from './abi.js';
import { SysError, type ErrorHints } from './errors.js';
import { FD } from './fd.js';
import { readU32, readU64, writeU32, writeU64, type Encodable, type Layout, type Spec } from './layout.js';
import { addressOf, bpfSyscallNumber, errno, errnoValue, syscall4 } from './libc.js';

const EAGAIN = errnoValue('EAGAIN');
const ENOENT = errnoValue('ENOENT');
const ENOSPC = errnoValue('ENOSPC');

/** Call bpf(cmd, attr); returns the result or the negated errno (no throw). */
export function bpfRaw(cmd: number, attr: Buffer): number {
  const r = Number(syscall4(bpfSyscallNumber, cmd, attr, attr.length));
  return r < 0 ? -errno() : r;
}

/** Call bpf(cmd, attr); throws SysError naming `op`. */
export function bpf(cmd: number, attr: Buffer, op: string, hints?: ErrorHints): number {
  for (let attempt = 0; ; attempt++) {
    const r = bpfRaw(cmd, attr);
    if (r >= 0) return r;
    // PROG_LOAD returns EAGAIN when a signal interrupted the verifier; libbpf retries too.
    if (-r === EAGAIN && attempt < 5) continue;
    throw new SysError(op, -r, hints);
  }
}

const encode = <S extends Spec>(l: Layout<S>, v: Encodable<S>) => l.encode(v);

export type MapCreateOptions = Encodable<(typeof MapCreateAttr) extends Layout<infer S> ? S : never>;
export type ProgLoadOptions = Encodable<(typeof ProgLoadAttr) extends Layout<infer S> ? S : never>;

export function mapCreate(o: MapCreateOptions, op = 'creating map'): FD {
  return new FD(bpf(Cmd.MAP_CREATE, encode(MapCreateAttr, o), op), 'map');
}

/** false when the key is absent (ENOENT). */
export function mapLookupElem(fd: FD, key: Buffer | null, value: Buffer, flags = 0): boolean {
  const r = bpfRaw(Cmd.MAP_LOOKUP_ELEM, MapElemAttr.encode({ map_fd: fd.value, key, value, flags }));
  if (r === -ENOENT) return false;
  if (r < 0) throw new SysError('looking up a map element', -r);
  return true;
}

export function mapUpdateElem(fd: FD, key: Buffer | null, value: Buffer, flags = 0): void {
  bpf(Cmd.MAP_UPDATE_ELEM, MapElemAttr.encode({ map_fd: fd.value, key, value, flags }), 'updating a map element', {
    E2BIG: 'the map is full (max_entries reached); delete entries or create a larger map',
    EEXIST: 'the key exists and NOEXIST was asked',
    ENOENT: 'the key does not exist and EXIST was asked',
  });
}

/** false when the key is absent. */
export function mapDeleteElem(fd: FD, key: Buffer | null): boolean {
  const r = bpfRaw(Cmd.MAP_DELETE_ELEM, MapElemAttr.encode({ map_fd: fd.value, key }));
  if (r === -ENOENT) return false;
  if (r < 0) throw new SysError('deleting a map element', -r);
  return true;
}

/** Writes the key after `key` (the first key when null) into `next`; false at the end. */
export function mapGetNextKey(fd: FD, key: Buffer | null, next: Buffer): boolean {
  const r = bpfRaw(Cmd.MAP_GET_NEXT_KEY, MapElemAttr.encode({ map_fd: fd.value, key, value: next }));
  if (r === -ENOENT) return false;
  if (r < 0) throw new SysError('iterating map keys', -r);
  return true;
}

/** Queue / stack pop (key null) or hash lookup-and-delete; false when empty / absent. */
export function mapLookupAndDeleteElem(fd: FD, key: Buffer | null, value: Buffer, flags = 0): boolean {
  const r = bpfRaw(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, MapElemAttr.encode({ map_fd: fd.value, key, value, flags }));
  if (r === -ENOENT) return false;
  if (r < 0) throw new SysError('looking up and deleting a map element', -r);
  return true;
}

export function mapFreeze(fd: FD): void {
  bpf(Cmd.MAP_FREEZE, MapElemAttr.encode({ map_fd: fd.value }), 'freezing a map', {
    EBUSY: 'the map is writably memory-mapped; unmap it first',
  });
}

export interface BatchResult { count: number; done: boolean }

/**
 * One batch command. `count` in, elements processed out. For lookups, `done` is true when the
 * kernel said ENOENT (no more elements): the elements it returned with it are still valid.
 */
export function mapBatch(
  cmd: number, fd: FD, o: { inBatch?: Buffer | null; outBatch?: Buffer | null; keys: Buffer | null; values: Buffer | null; count: number; elemFlags?: number },
): BatchResult {
  const attr = MapBatchAttr.encode({
    in_batch: o.inBatch ?? null, out_batch: o.outBatch ?? null, keys: o.keys, values: o.values,
    count: o.count, map_fd: fd.value, elem_flags: o.elemFlags ?? 0,
  });
  const r = bpfRaw(cmd, attr);
  const count = MapBatchAttr.get(attr, 'count');
  if (r === -ENOENT) return { count, done: true };
  if (r < 0) throw new SysError(`map batch command ${cmd}`, -r, { EINVAL: 'this map type may not support batch operations (hash, per-CPU hash, LRU and array maps do)' });
  return { count, done: false };
}

/** PROG_LOAD as is; callers (prog.ts) handle the verifier log. Returns the fd or the negated errno. */
export function progLoadRaw(o: ProgLoadOptions): number {
  for (let attempt = 0; ; attempt++) {
    const r = bpfRaw(Cmd.PROG_LOAD, ProgLoadAttr.encode(o));
    if (r === -EAGAIN && attempt < 5) continue;
    return r;
  }
}

export function objPin(fd: FD, path: string): void {
  bpf(Cmd.OBJ_PIN, ObjAttr.encode({ pathname: cstr(path), bpf_fd: fd.value }), `pinning to ${path}`, {
    EEXIST: 'a pin exists at that path; remove it (rm) or pin elsewhere',
    ENOENT: 'the parent folder does not exist in bpffs; create it first',
    EPERM: 'the path is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf), or you are not root',
  });
}

export function objGet(path: string, fileFlags = 0, kind = 'pinned object'): FD {
  return new FD(bpf(Cmd.OBJ_GET, ObjAttr.encode({ pathname: cstr(path), file_flags: fileFlags }), `opening pinned ${path}`, {
    ENOENT: 'nothing is pinned there; check the path under /sys/fs/bpf',
    EINVAL: 'the path is not on a bpffs mount',
  }), kind);
}

export function progAttach(target: FD, prog: FD, attachType: number, flags: number, replace?: FD, what = 'target'): void {
  bpf(Cmd.PROG_ATTACH, ProgAttachAttr.encode({
    target_fd: target.value, attach_bpf_fd: prog.value, attach_type: attachType, attach_flags: flags,
    replace_bpf_fd: replace?.value ?? 0,
  }), `attaching program to ${what}`, {
    EPERM: 'another program is attached there with different flags (attach with the same flags, e.g. ALLOW_MULTI), or you are not root',
    E2BIG: 'too many programs are attached there (64 at most per cgroup and attach type)',
  });
}

export function progDetach(target: FD, prog: FD | null, attachType: number, what = 'target'): void {
  bpf(Cmd.PROG_DETACH, ProgAttachAttr.encode({
    target_fd: target.value, attach_bpf_fd: prog?.value ?? 0, attach_type: attachType,
  }), `detaching program from ${what}`, { ENOENT: 'that program is not attached there' });
}

export interface QueryResult { attachFlags: number; progIds: number[]; revision: bigint }

// PROG_QUERY is asked once per cgroup attach type (~30) for every cgroup `sysward cgroups` lists:
// its attr and id buffers are made once and refilled in place at fixed offsets (~3 µs a query
// against ~7-20 µs encoding new ones field by field, and much less cold code). Synchronous and not
// reentrant, so one pair serves every call.
const query = { attr: Buffer.alloc(0), ids: Buffer.alloc(0), idsAddress: 0n, at: { target_fd: 0, attach_type: 0, query_flags: 0, attach_flags: 0, prog_ids: 0, prog_cnt: 0, revision: 0 } };

export function progQuery(target: FD, attachType: number, queryFlags = 0, what = 'target'): QueryResult {
  if (!query.attr.length) {
    query.attr = Buffer.alloc(ProgQueryAttr.size);
    for (const f of Object.keys(query.at) as (keyof typeof query.at)[]) query.at[f] = ProgQueryAttr.offsetOf(f);
  }
  const { attr, at } = query;
  let cap = 64;
  for (;;) {
    if (query.ids.length < cap * 4) { query.ids = Buffer.alloc(cap * 4); query.idsAddress = addressOf(query.ids); }
    attr.fill(0);
    writeU32(attr, at.target_fd, target.value);
    writeU32(attr, at.attach_type, attachType);
    writeU32(attr, at.query_flags, queryFlags);
    writeU64(attr, at.prog_ids, query.idsAddress);
    writeU32(attr, at.prog_cnt, cap);
    const r = bpfRaw(Cmd.PROG_QUERY, attr);
    const cnt = readU32(attr, at.prog_cnt);
    if (r < 0 && -r === ENOSPC && cnt > cap) { cap = cnt; continue; }
    if (r < 0) throw new SysError(`querying programs attached to ${what}`, -r);
    const progIds: number[] = [];
    for (let i = 0; i < cnt; i++) progIds.push(query.ids.readUInt32LE(i * 4));
    return { attachFlags: readU32(attr, at.attach_flags), progIds, revision: readU64(attr, at.revision) };
  }
}

export function linkCreate(prog: FD, target: FD, attachType: number, flags = 0, what = 'target'): FD {
  return new FD(bpf(Cmd.LINK_CREATE, LinkCreateAttr.encode({
    prog_fd: prog.value, target_fd: target.value, attach_type: attachType, flags,
  }), `linking program to ${what}`, {
    E2BIG: 'too many programs are attached there (64 at most per cgroup and attach type)',
  }), 'link');
}

/** Replace the program of a link atomically; with `oldProg`, only if it still runs that program. */
export function linkUpdate(link: FD, newProg: FD, oldProg?: FD): void {
  bpf(Cmd.LINK_UPDATE, LinkUpdateAttr.encode({
    link_fd: link.value, new_prog_fd: newProg.value, flags: oldProg ? 4 : 0, old_prog_fd: oldProg?.value ?? 0,
  }), 'replacing the program of a link', {
    EPERM: 'the link runs another program than the one expected (someone replaced it meanwhile)',
    EINVAL: 'the new program has another type or attach type than the link',
    ENOLINK: 'the link was detached',
  });
}

/**
 * RAW_TRACEPOINT_OPEN: run a RAW_TRACEPOINT program on the kernel tracepoint `name` (e.g.
 * "softirq_entry"; Linux 4.17). Needs no tracefs. Returns a link fd: closing it detaches.
 */
export function rawTracepointOpen(prog: FD, name: string): FD {
  const nameBuf = cstr(name); // kept referenced until the syscall returned
  const fd = bpf(Cmd.RAW_TRACEPOINT_OPEN, RawTracepointOpenAttr.encode({ name: nameBuf, prog_fd: prog.value }), `attaching program to raw tracepoint ${name}`, {
    ENOENT: 'this kernel has no tracepoint of that name (see /sys/kernel/tracing/events/*/ when tracefs is mounted)',
    EINVAL: 'the program is not a RAW_TRACEPOINT program, or reads more arguments than the tracepoint has',
    EPERM: 'run as root, or give the process CAP_BPF with CAP_PERFMON',
  });
  void nameBuf.length;
  return new FD(fd, 'link');
}

/**
 * LINK_CREATE for programs whose target the kernel found by BTF id at load (LSM, fentry/fexit,
 * tp_btf): no target fd, the attach type is the program's expected attach type (Linux 5.10 for
 * tracing links through LINK_CREATE). Returns a link fd: closing it detaches.
 */
export function linkCreateTracing(prog: FD, attachType: number, what = 'its BTF target'): FD {
  return new FD(bpf(Cmd.LINK_CREATE, LinkCreateAttr.encode({ prog_fd: prog.value, target_fd: 0, attach_type: attachType }), `attaching program to ${what}`, {
    EINVAL: 'the attach type is not the one the program was loaded with, or this kernel cannot link tracing programs (before 5.10)',
    EPERM: 'run as root, or give the process CAP_BPF with CAP_PERFMON (CAP_SYS_ADMIN for LSM); LSM programs need "bpf" in /sys/kernel/security/lsm',
    EBUSY: 'the program is attached already',
  }), 'link');
}

/** BTF_LOAD: returns the fd, or the negated errno (callers read the log). */
export function btfLoadRaw(btf: Buffer, log: Buffer | null, logLevel = 0): number {
  return bpfRaw(Cmd.BTF_LOAD, BtfLoadAttr.encode({
    btf, btf_size: btf.length, btf_log_buf: log, btf_log_size: log?.length ?? 0, btf_log_level: log ? logLevel || 1 : 0,
  }));
}

/**
 * PROG_BIND_MAP (Linux 5.10): the program holds the map as if its code used it, so the map lives
 * as long as the program and `bpftool prog show` finds it (libbpf binds .rodata, the object's
 * metadata, this way).
 */
export function progBindMap(prog: FD, map: FD): void {
  bpf(Cmd.PROG_BIND_MAP, ProgBindMapAttr.encode({ prog_fd: prog.value, map_fd: map.value }), 'binding a map to a program');
}

export function linkDetach(link: FD): void {
  bpf(Cmd.LINK_DETACH, LinkDetachAttr.encode({ link_fd: link.value }), 'detaching a link');
}

/** OBJ_GET_INFO_BY_FD into `info` (zeroed, with any pointer fields the caller set). */
export function objGetInfo(fd: FD, info: Buffer, what = 'object'): number {
  const attr = InfoAttr.encode({ bpf_fd: fd.value, info_len: info.length, info });
  bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, `reading info of ${what}`);
  return InfoAttr.get(attr, 'info_len');
}

/** PROG/MAP/LINK_GET_NEXT_ID: the next id after `start`, or undefined at the end. */
export function getNextId(cmd: number, start: number): number | undefined {
  const attr = GetIdAttr.encode({ start_id: start });
  const r = bpfRaw(cmd, attr);
  if (r === -ENOENT) return undefined;
  if (r < 0) throw new SysError('listing object ids', -r);
  return GetIdAttr.get(attr, 'next_id');
}

/** PROG/MAP/LINK_GET_FD_BY_ID; undefined when the object went away meanwhile. */
export function getFdById(cmd: number, id: number, kind: string): FD | undefined {
  const r = bpfRaw(cmd, GetIdAttr.encode({ start_id: id }));
  if (r === -ENOENT) return undefined;
  if (r < 0) throw new SysError(`opening ${kind} id ${id}`, -r);
  return new FD(r, kind);
}

/** ENABLE_STATS: run-time statistics stay on while the returned fd is open. */
export function enableStats(type = 0): FD {
  return new FD(bpf(Cmd.ENABLE_STATS, EnableStatsAttr.encode({ type }), 'enabling run-time statistics', {
    EBUSY: 'statistics are being enabled by another process; retry',
  }), 'stats');
}

export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
