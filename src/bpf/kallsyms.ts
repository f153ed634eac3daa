// Names for the call targets of xlated (kernel-rewritten) programs: the verifier replaces a helper
// id with the helper's address relative to __bpf_call_base; /proc/kallsyms maps it back to a name,
// as bpftool does. Needs root (kallsyms shows zero addresses otherwise).
import { readFileSync } from 'node:fs';
import type { Instruction } from './asm/insn.js';

let table: { base: bigint; byAddress: Map<bigint, string> } | null | undefined;

function load(): typeof table {
  let text: string;
  try { text = readFileSync('/proc/kallsyms', 'utf8'); } catch { return null; }
  const byAddress = new Map<bigint, string>();
  let base: bigint | undefined;
  for (const line of text.split('\n')) {
    const [addr, type, name] = line.split(' ');
    if (!addr || !name || !(type === 'T' || type === 't')) continue;
    const a = BigInt(`0x${addr}`);
    if (a === 0n) return null; // addresses hidden (kptr_restrict or not root)
    if (name === '__bpf_call_base') base = a;
    if (!byAddress.has(a)) byAddress.set(a, name.split('\t')[0]!);
  }
  return base === undefined ? null : { base, byAddress };
}

/** The kernel function a rewritten call instruction targets, or undefined. */
export function xlatedCallName(insn: Instruction): string | undefined {
  if (table === undefined) table = load();
  if (!table || insn.src !== 0) return undefined;
  return table.byAddress.get(table.base + BigInt(insn.imm));
}
