// Expected CO-RE values from outside sysward: enumerator values of the installed uapi headers
// through a C program built by gcc, and the kernel's (or an object's) BTF as bpftool dumps it.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VMLINUX_PATH } from '../../../src/bpf/btf/btf.js';
import { needs, which } from '../../helpers/env.js';

export const withGcc = needs(which('gcc') ? false : 'needs gcc and the uapi headers (apt-get install gcc linux-libc-dev)');
export const withBpftool = needs(which('bpftool') ? false : 'needs bpftool (apt-get install bpftool)');

/** Values of uapi enumerators, as the C compiler sees them (printed as unsigned 64-bit). */
export function uapiEnumValues(names: string[]): Map<string, bigint> {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-uapi-'));
  try {
    const src = join(dir, 'values.c');
    writeFileSync(src, [
      '#include <stdio.h>', '#include <linux/bpf.h>', '#include <linux/perf_event.h>',
      'int main(void) {',
      ...names.map((n) => `  printf("${n} %llu\\n", (unsigned long long)(${n}));`),
      '  return 0;', '}', '',
    ].join('\n'));
    execFileSync('gcc', ['-o', join(dir, 'values'), src], { stdio: 'pipe' });
    const out = execFileSync(join(dir, 'values'), { encoding: 'utf8' });
    return new Map(out.trim().split('\n').map((l) => { const [n, v] = l.split(' '); return [n!, BigInt(v!)]; }));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const rawCache = new Map<string, string>();

/** `bpftool btf dump file FILE format raw`: "[id] KIND 'name' …" lines, each type's members indented below. */
function bpftoolRaw(file: string): string {
  let text = rawCache.get(file);
  if (text === undefined) {
    // Through a file: vmlinux dumps to some 12 MB, which a pipe into execFileSync reads slowly.
    const dir = mkdtempSync(join(tmpdir(), 'sysward-btf-dump-'));
    try {
      const out = join(dir, 'raw.txt');
      const fd = openSync(out, 'w');
      try { execFileSync('bpftool', ['btf', 'dump', 'file', file, 'format', 'raw'], { stdio: ['ignore', fd, 'pipe'] }); } finally { closeSync(fd); }
      text = readFileSync(out, 'utf8');
    } finally { rmSync(dir, { recursive: true, force: true }); }
    rawCache.set(file, text);
  }
  return text;
}

/** The value bpftool prints for enumerator `enumerator` of enum `name` (val=-5, val=4026531836, val=…ULL). */
export function bpftoolEnumValue(name: string, enumerator: string, file = VMLINUX_PATH): bigint {
  const text = bpftoolRaw(file);
  for (const header of text.matchAll(new RegExp(`^\\[\\d+\\] ENUM(?:64)? '${name}' .*$`, 'gm'))) {
    const start = header.index! + header[0].length + 1;
    const end = text.indexOf('\n[', start);
    for (const line of text.slice(start, end < 0 ? undefined : end).split('\n')) {
      const m = /^\t'([^']*)' val=(-?\d+)(?:ULL|LL)?$/.exec(line);
      if (m && m[1] === enumerator) return BigInt(m[2]!);
    }
  }
  throw new Error(`bpftool's dump of ${file} has no enumerator ${enumerator} in enum ${name}`);
}

/** Ids of the types of that kind and name in bpftool's dump. */
export function bpftoolTypeIds(kind: string, name: string, file = VMLINUX_PATH): number[] {
  return [...bpftoolRaw(file).matchAll(new RegExp(`^\\[(\\d+)\\] ${kind} '${name}'`, 'gm'))].map((m) => Number(m[1]));
}
