// The task layout (task-layout.ts) read from a kernel's BTF. Pure: a Btf in, numbers out. Apart
// from task-layout.ts so that what compiles for the interpreter (explain, test) does not load the
// BTF parser.
import { BtfError, type Btf, type BtfType } from '../../bpf/btf/btf.js';
import { NS_STRUCT, NSPROXY_MEMBER, type NsKind, type ProxiedKind, type TaskLayout } from './task-layout.js';

/** Byte offset of `path` (members, anonymous structs and unions searched through) in struct `name`. */
export function memberOffset(btf: Btf, name: string, path: string[]): { offset: number; type: number } {
  let t: BtfType = btf.typeByName(name, 'STRUCT');
  let offset = 0;
  let type = t.id;
  for (const [i, field] of path.entries()) {
    const found = findMember(btf, t, field);
    if (!found) throw new BtfError(`the kernel's struct ${name} has no ${path.slice(0, i + 1).join('.')}`);
    offset += found.bitOffset / 8;
    type = found.type;
    if (i < path.length - 1) t = btf.resolve(type);
  }
  return { offset, type };
}

function findMember(btf: Btf, t: BtfType, field: string, depth = 0): { bitOffset: number; type: number } | undefined {
  if (depth > 8 || !t.members) return undefined;
  for (const m of t.members) {
    if (m.name === field) return { bitOffset: m.bitOffset, type: m.type };
    if (m.name === '') {
      const inner = findMember(btf, btf.resolve(m.type), field, depth + 1);
      if (inner) return { bitOffset: m.bitOffset + inner.bitOffset, type: inner.type };
    }
  }
  return undefined;
}

export function taskLayoutFromBtf(btf: Btf): TaskLayout {
  const off = (s: string, ...p: string[]) => memberOffset(btf, s, p).offset;
  const inum = Object.fromEntries(Object.entries(NS_STRUCT).map(([k, s]) => [k, off(s, 'ns', 'inum')])) as Record<NsKind, number>;
  const proxy = Object.fromEntries(Object.entries(NSPROXY_MEMBER).map(([k, m]) => [k, off('nsproxy', m)])) as Record<ProxiedKind, number>;
  return {
    nsproxy: off('task_struct', 'nsproxy'), proxy, inum,
    cred: off('task_struct', 'cred'), credUserNs: off('cred', 'user_ns'),
    threadPid: off('task_struct', 'thread_pid'), pidLevel: off('pid', 'level'), pidNumbers: off('pid', 'numbers'),
    upidSize: btf.sizeOf(btf.typeByName('upid', 'STRUCT').id), upidNs: off('upid', 'ns'),
    ...mountNamespaceIdOffset(btf),
  };
}

function mountNamespaceIdOffset(btf: Btf): { mntId?: number } {
  for (const path of [['seq'], ['ns', 'ns_id']]) {
    try { return { mntId: memberOffset(btf, 'mnt_namespace', path).offset }; } catch { /* the other one */ }
  }
  return {};
}
