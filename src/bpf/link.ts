// Attaching programs to cgroups: a bpf_link first (always multi, pinnable, updatable atomically),
// PROG_ATTACH with ALLOW_MULTI where the kernel has no cgroup links (before 5.7). Callers get one
// CgroupLink either way; what the fallback cannot do (pin) fails with NotSupportedError, and a
// cgroup, pin or link that is not there with NotExistError.
import { openSync, constants } from 'node:fs';
import { Program, type AttachTypeName } from './prog.js';
import {
  AttachFlag, AttachType, Cmd, FD, LinkInfo, LinkType, NotExistError, NotSupportedError, QueryFlag, getFdById, isErrno,
  linkCreate, linkDetach, linkUpdate, objGet, objGetInfo, objPin, progAttach, progDetach, progQuery,
} from './sys/index.js';

export interface LinkInfoData { id: number; type: number; typeName: string; programId: number; cgroupId: bigint; attachType: number }

const linkTypeName = (t: number) => Object.entries(LinkType).find(([, v]) => v === t)?.[0] ?? `type ${t}`;

/** Open a cgroup directory as an fd for attach / query; a clear error when it is not one. */
export function openCgroup(path: string): FD {
  try {
    return new FD(openSync(path, constants.O_RDONLY | constants.O_DIRECTORY), 'cgroup');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotExistError(`cgroup ${path}`, `ENOENT opening cgroup ${path}: the cgroup does not exist; create it or pass an existing path under the cgroup v2 mount`);
    if (code === 'ENOTDIR') throw new Error(`ENOTDIR opening cgroup ${path}: not a directory; pass a cgroup folder under the cgroup v2 mount`);
    throw e;
  }
}

const withCgroup = <T>(cgroup: string | FD, f: (fd: FD, what: string) => T): T => {
  if (typeof cgroup !== 'string') return f(cgroup, 'cgroup');
  const fd = openCgroup(cgroup);
  try { return f(fd, `cgroup ${cgroup}`); } finally { fd.close(); }
};

/** A program attached to a cgroup, however the kernel allows it (Link or ProgAttachment). */
export interface CgroupLink extends Disposable {
  /** `link`: a bpf_link (pinnable, survives its process when pinned); `prog-attach`: the pre-5.7 fallback. */
  readonly kind: 'link' | 'prog-attach';
  /** Swap the program atomically: no moment without one. */
  update(program: Program): void;
  /** Detach now. */
  detach(): void;
  /** Pin in bpffs so it outlives the process; NotSupportedError for the fallback. */
  pin(path: string): void;
  close(): void;
}

/** A kernel bpf_link. Closing the last fd detaches it unless it is pinned. */
export class Link implements CgroupLink {
  readonly kind = 'link' as const;
  constructor(readonly handle: FD) {}
  get fd(): number { return this.handle.value; }

  static openPinned(path: string): Link {
    try { return new Link(objGet(path, 0, 'link')); } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new NotExistError(`pinned link ${path}`, `no link is pinned at ${path}`);
      throw e;
    }
  }
  static fromId(id: number): Link {
    const fd = getFdById(Cmd.LINK_GET_FD_BY_ID, id, 'link');
    if (!fd) throw new NotExistError(`link id ${id}`, `link id ${id} does not exist (any more)`);
    return new Link(fd);
  }

  info(): LinkInfoData {
    const buf = Buffer.alloc(LinkInfo.size);
    objGetInfo(this.handle, buf, 'link');
    const i = LinkInfo.decode(buf);
    const cgroup = i.type === LinkType.CGROUP;
    return { id: i.id, type: i.type, typeName: linkTypeName(i.type), programId: i.prog_id, cgroupId: cgroup ? i.cgroup_id : 0n, attachType: cgroup ? i.attach_type : 0 };
  }

  /** Swap the program atomically: no moment without one. With `expected`, only if that one still runs. */
  update(program: Program, expected?: Program): void { linkUpdate(this.handle, program.handle, expected?.handle); }
  pin(path: string): void { objPin(this.handle, path); }
  /** Detach now, even while pinned or held elsewhere (the link object stays, defunct). */
  detach(): void { linkDetach(this.handle); }
  close(): void { this.handle.close(); }
  [Symbol.dispose](): void { this.close(); }
}

/** A PROG_ATTACH attachment (old kernels): lives until detached, cannot be pinned. */
export class ProgAttachment implements CgroupLink {
  readonly kind = 'prog-attach' as const;
  constructor(readonly cgroupPath: string, readonly program: Program, readonly attachType: AttachTypeName) {}
  pin(): void { throw new NotSupportedError('cgroup bpf_link', 'Linux 5.7+', 'this kernel has no cgroup bpf_link, so an attachment cannot be pinned to outlive its process (Linux 5.7+)'); }
  update(program: Program): void {
    withCgroup(this.cgroupPath, (fd, what) => progAttach(fd, program.handle, AttachType[this.attachType], AttachFlag.F_ALLOW_MULTI | AttachFlag.F_REPLACE, this.program.handle, what));
  }
  detach(): void {
    withCgroup(this.cgroupPath, (fd, what) => progDetach(fd, this.program.handle, AttachType[this.attachType], what));
  }
  close(): void {}
  [Symbol.dispose](): void {}
}

export interface CgroupAttachOptions {
  cgroup: string;
  program: Program;
  attachType: AttachTypeName;
  /** Use PROG_ATTACH even when links work (tests of the fallback). */
  forceProgAttach?: boolean;
}

/** Attach to a cgroup: a bpf_link (preferred) or, on kernels without cgroup links, PROG_ATTACH. */
export function attachCgroup(o: CgroupAttachOptions): CgroupLink {
  const type = AttachType[o.attachType];
  return withCgroup(o.cgroup, (cg, what) => {
    if (!o.forceProgAttach) {
      try {
        return new Link(linkCreate(o.program.handle, cg, type, 0, what));
      } catch (e) {
        // EINVAL: no cgroup bpf_link on this kernel (before 5.7); fall back to PROG_ATTACH.
        if (!isErrno(e, 'EINVAL', 'EOPNOTSUPP', 'ENOTSUPP')) throw e;
      }
    }
    progAttach(cg, o.program.handle, type, AttachFlag.F_ALLOW_MULTI, undefined, what);
    return new ProgAttachment(o.cgroup, o.program, o.attachType);
  });
}

/** Detach a PROG_ATTACH-ed program (for links, use Link.detach). */
export function detachCgroup(cgroup: string, program: Program, attachType: AttachTypeName): void {
  withCgroup(cgroup, (fd, what) => progDetach(fd, program.handle, AttachType[attachType], what));
}

export interface CgroupQuery { attachFlags: number; programIds: number[]; revision: bigint }

/** Programs attached to the cgroup itself, or with `effective` all that run for it (ancestors too). */
export function queryCgroup(cgroup: string | FD, attachType: AttachTypeName, o: { effective?: boolean } = {}): CgroupQuery {
  return withCgroup(cgroup, (fd, what) => {
    const r = progQuery(fd, AttachType[attachType], o.effective ? QueryFlag.F_QUERY_EFFECTIVE : 0, what);
    return { attachFlags: r.attachFlags, programIds: r.progIds, revision: r.revision };
  });
}

