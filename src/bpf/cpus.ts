import { readFileSync } from 'node:fs';

/** Parse a kernel CPU list such as "0-3,8,10-11". */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

let possible: number | undefined;
/** Possible CPUs: the count per-CPU maps use (not the online count). */
export function possibleCpuCount(): number {
  possible ??= parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8')).length;
  return possible;
}
