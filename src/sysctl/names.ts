// Sysctl names as people write them, and as the kernel hands them to a cgroup-sysctl program.
//
// The kernel names a sysctl by its path below /proc/sys: `net/ipv4/conf/eth0.100/forwarding`
// (bpf_sysctl_get_name returns exactly that). sysctl(8) writes the same name with dots,
// `net.ipv4.conf.eth0/100.forwarding`: a '.' inside a segment (interface eth0.100) becomes '/'.
// procps decides which form a name is in by its first separator: if the first of '.' and '/' is a
// '/', the name is already in kernel form; otherwise every '.' and '/' swap. We do the same, so a
// name means here what it means to sysctl(8).

import { closest } from '../util/suggest.js';

/**
 * The directories directly below /proc/sys. The first ten exist on every current x86-64 and arm64
 * kernel that has the subsystem; `appldata` and `s390dbf` are s390 only.
 */
export const TOP_LEVEL_DIRS: readonly string[] = [
  'abi', 'crypto', 'debug', 'dev', 'fs', 'kernel', 'net', 'sunrpc', 'user', 'vm', 'appldata', 's390dbf',
];

/**
 * The longest name (kernel form, e.g. `net/ipv4/tcp_rmem`) the guard compares, in bytes. The
 * compiler fetches names into a 128-byte buffer (with the NUL); a longer name makes
 * bpf_sysctl_get_name fail with -E2BIG, and the guard then fails closed.
 */
export const MAX_NAME_BYTES = 127;

/**
 * Characters a name segment may hold. Kernel-defined names use letters, digits, '_' and '-';
 * segments that are interface names (net.ipv4.conf.IFNAME.*) may also hold '.', '@', '+', '=',
 * ',', '~', '%' (Linux refuses '/', ':' and white space in interface names; we refuse the rest of
 * punctuation because no sysctl in the tree uses it).
 */
const SEGMENT_CHAR = /^[A-Za-z0-9_.@+=,~%-]$/;

/** A key pattern in kernel segments; structurally the `KeyPattern` of the guard's model. */
export interface SysctlPattern {
  /** As written. */
  text: string;
  /** Kernel segments; `*` marks the wildcard segment. */
  segments: string[];
  /** 'subtree' (written `vm.*`) matches every key below `segments`; 'exact' matches one key. */
  kind: 'exact' | 'subtree';
  /** Index of the `*` segment, or null. */
  wildcard: number | null;
}

/** A name that cannot be a sysctl: what is wrong, the fix, and where in the text (0-based). */
export class SysctlNameError extends Error {
  override name = 'SysctlNameError';
  constructor(message: string, readonly offset = 0) {
    super(message);
  }
}

interface Split {
  /** Segments as written (dotted form still has '/' for '.'). */
  raw: string[];
  /** Offset in the text of each raw segment. */
  offsets: number[];
  form: 'dotted' | 'kernel';
  /** Length of a stripped `/proc/sys/` prefix. */
  prefix: number;
}

const PROC_SYS = '/proc/sys/';

function split(text: string): Split {
  let body = text;
  let prefix = 0;
  if (text.startsWith(PROC_SYS)) {
    body = text.slice(PROC_SYS.length);
    prefix = PROC_SYS.length;
  } else if (text.startsWith('/')) {
    const rest = text.replace(/^\/+/, '');
    throw new SysctlNameError(`"${text}" starts with '/' but not with /proc/sys/; write ${rest} or ${PROC_SYS}${rest}`);
  }
  const first = body.search(/[./]/);
  const form = prefix > 0 || (first >= 0 && body[first] === '/') ? 'kernel' : 'dotted';
  const sep = form === 'kernel' ? '/' : '.';
  const raw = body.split(sep);
  const offsets: number[] = [];
  let at = prefix;
  for (const s of raw) {
    offsets.push(at);
    at += s.length + 1;
  }
  return { raw, offsets, form, prefix };
}

function describeChar(c: string): string {
  if (c === ' ') return 'a space';
  if (c === '\t') return 'a tab';
  const code = c.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `"${c}"`;
}

/**
 * Parse a key pattern as a policy writes it: an exact name (`kernel.core_pattern`,
 * `net/ipv4/conf/eth0.100/forwarding`, `/proc/sys/vm/swappiness`), a subtree (`vm.*`, `net/ipv4/*`)
 * or a name with one wildcard segment (`net.ipv4.conf.*.forwarding`). Throws SysctlNameError.
 */
export function parseKeyPattern(text: string): SysctlPattern {
  if (text.trim() === '') throw new SysctlNameError('the key is empty; write a sysctl name such as kernel.core_pattern');
  const { raw, offsets, form } = split(text);
  const sep = form === 'kernel' ? '/' : '.';
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i]!;
    const at = offsets[i]!;
    if (seg === '') {
      const where = i === 0 ? 'starts with' : i === raw.length - 1 ? 'ends with' : 'has two';
      const what = i === 0 || i === raw.length - 1 ? `'${sep}'` : `'${sep}' in a row`;
      const fixed = raw.filter((s) => s !== '').join(sep);
      throw new SysctlNameError(`"${text}" ${where} ${what}, an empty segment; write ${fixed || 'a sysctl name'}`, at);
    }
    // In dotted form a '/' inside a segment stands for the '.' of the kernel name.
    const kernelSeg = form === 'dotted' ? seg.replaceAll('/', '.') : seg;
    if (kernelSeg.includes('*') && kernelSeg !== '*') {
      throw new SysctlNameError(
        `"${text}": '*' must be a whole segment ("${seg}" is not); a pattern cannot match part of a name, so write ${[...raw.slice(0, i), '*', ...raw.slice(i + 1)].join(sep)}`,
        at + seg.indexOf('*'),
      );
    }
    if (kernelSeg !== '*') {
      for (let k = 0; k < kernelSeg.length; k++) {
        const c = kernelSeg[k]!;
        if (!SEGMENT_CHAR.test(c)) {
          throw new SysctlNameError(
            `"${text}" has ${describeChar(c)} in "${seg}"; sysctl names use letters, digits and _ - . @ + = , ~ %`,
            at + k,
          );
        }
      }
      if (kernelSeg === '.' || kernelSeg === '..') {
        throw new SysctlNameError(`"${text}" has a segment "${kernelSeg}", which names no sysctl; remove it`, at);
      }
    }
    segments.push(kernelSeg);
  }

  let kind: 'exact' | 'subtree' = 'exact';
  if (segments.length > 1 && segments[segments.length - 1] === '*') {
    kind = 'subtree';
    segments.pop();
  }
  if (segments[0] === '*') {
    throw new SysctlNameError(
      `"${text}" starts with '*'; a pattern names its top-level directory (kernel, net, vm, …), and the policy's default: covers every key no rule matches`,
      offsets[0],
    );
  }
  const stars = segments.flatMap((s, i) => (s === '*' ? [i] : []));
  if (stars.length > 1) {
    throw new SysctlNameError(
      `"${text}" has ${stars.length} '*' segments; a pattern may have one (and a final ${sep}* for a subtree): write one rule per fixed segment instead`,
      offsets[stars[1]!],
    );
  }
  const top = segments[0]!;
  if (!TOP_LEVEL_DIRS.includes(top)) {
    const guess = closest(top, TOP_LEVEL_DIRS);
    const fix = guess === undefined
      ? `names start with one of ${TOP_LEVEL_DIRS.slice(0, 10).join(', ')}`
      : `did you mean ${[guess, ...raw.slice(1)].join(sep)}?`;
    throw new SysctlNameError(`"${text}" starts with "${raw[0]}", which is not a directory of /proc/sys; ${fix}`, offsets[0]);
  }
  if (kind === 'exact' && segments.length === 1) {
    throw new SysctlNameError(`"${text}" names the directory /proc/sys/${top}, not a sysctl; write ${top}${sep}* for every key below it`, offsets[0]);
  }
  const kernelText = formatPattern({ segments, kind }, 'kernel');
  const bytes = Buffer.byteLength(kernelText);
  if (bytes > MAX_NAME_BYTES) {
    throw new SysctlNameError(`"${text}" is ${bytes} bytes long in kernel form; the guard compares names of at most ${MAX_NAME_BYTES} bytes`, 0);
  }
  return { text, segments, kind, wildcard: stars.length === 1 ? stars[0]! : null };
}

/** Parse one exact sysctl name (no `*`, no subtree) into kernel segments. Throws SysctlNameError. */
export function parseSysctlName(text: string): string[] {
  const p = parseKeyPattern(text);
  if (p.kind !== 'exact' || p.wildcard !== null) {
    throw new SysctlNameError(`"${text}" is a pattern; write one sysctl name, without '*'`, text.indexOf('*'));
  }
  return p.segments;
}

/** The kernel form: `net/ipv4/conf/eth0.100/forwarding`, what bpf_sysctl_get_name returns. */
export function kernelName(segments: readonly string[]): string {
  return segments.join('/');
}

/** The dotted form sysctl(8) prints: `net.ipv4.conf.eth0/100.forwarding`. */
export function dottedName(segments: readonly string[]): string {
  return segments.map((s) => s.replaceAll('.', '/')).join('.');
}

/** The file below /proc/sys: `/proc/sys/net/ipv4/tcp_rmem`. */
export function procPath(segments: readonly string[]): string {
  return PROC_SYS + kernelName(segments);
}

/** A pattern in either form; a subtree gets its final `.*` or `/*`. */
export function formatPattern(p: Pick<SysctlPattern, 'segments' | 'kind'>, form: 'dotted' | 'kernel'): string {
  const base = form === 'kernel' ? kernelName(p.segments) : dottedName(p.segments);
  if (p.kind === 'exact') return base;
  return base + (form === 'kernel' ? '/*' : '.*');
}
