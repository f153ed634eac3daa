// Names for the call targets of xlated (kernel-rewritten) programs, as bpftool prints them: the
// verifier replaces a helper id or a kfunc's BTF id with the function's address relative to
// __bpf_call_base, and a bpf-to-bpf call's imm with the callee's index among the program's JIT
// images (its offset stays in `off`); /proc/kallsyms maps addresses back to names, the JIT images
// included (bpf_prog_TAG_NAME). Needs root (kallsyms shows zero addresses otherwise).
import { readFileSync } from 'node:fs';
import type { Instruction } from './asm/insn.js';
import { PseudoCall } from './asm/opcodes.js';
import type { JitedFunctions } from './prog.js';

/** /proc/kallsyms as read once: every symbol by name, text symbols by address. */
export interface Kallsyms {
  /** True when every address reads 0 (kernel.kptr_restrict, or not root): names only. */
  readonly hidden: boolean;
  /** Every address a name has (module symbols included, "name\t[module]" as name). */
  addressesOf(name: string): bigint[];
  /** The text symbol at exactly this address. */
  nameAt(address: bigint): string | undefined;
}

/** /proc/kallsyms as it is now, or null when it cannot be read. */
export function readKallsyms(): Kallsyms | null {
  let text: string;
  try { text = readFileSync('/proc/kallsyms', 'utf8'); } catch { return null; }
  const byName = new Map<string, bigint[]>();
  const byAddress = new Map<bigint, string>();
  let hidden = true;
  for (const line of text.split('\n')) {
    const [addr, type, name] = line.split(' ');
    if (!addr || !type || !name) continue;
    const a = BigInt(`0x${addr}`);
    if (a !== 0n) hidden = false;
    // "name\t[module]": bpftool prints the name alone.
    const bare = name.split('\t')[0]!;
    const l = byName.get(bare);
    if (!l) byName.set(bare, [a]); else if (!l.includes(a)) l.push(a);
    if ((type === 'T' || type === 't') && !byAddress.has(a)) byAddress.set(a, bare);
  }
  return { hidden, addressesOf: (n) => byName.get(n) ?? [], nameAt: (address) => (hidden ? undefined : byAddress.get(address)) };
}

/** A snapshot of the kernel's text symbols, for naming call targets. */
export interface KernelSymbols {
  /** Address of __bpf_call_base. */
  readonly callBase: bigint;
  /** The symbol at exactly this address. */
  nameAt(address: bigint): string | undefined;
}

/**
 * /proc/kallsyms as it is now, or null when it cannot be read or hides addresses. Read it again
 * after loading programs: their JIT images come and go.
 */
export function readKernelSymbols(): KernelSymbols | null {
  const k = readKallsyms();
  const base = k && !k.hidden ? k.addressesOf('__bpf_call_base')[0] : undefined;
  return base === undefined ? null : { callBase: base, nameAt: (address) => k!.nameAt(address) };
}

const U64 = (1n << 64n) - 1n;
const signed = (value: number): string => (value < 0 ? `${value}` : `+${value}`);

/**
 * The `callName` option of formatInstructions for a live program's xlated instructions: the text
 * bpftool prints for each call. Helpers and kfuncs by their kernel symbol (`bpf_map_lookup_elem`,
 * `bpf_rcu_read_lock`), else `0x` and the address; bpf-to-bpf calls as `+OFF#bpf_prog_TAG_NAME`
 * (the callee's JIT image), `+OFF#0x…` when no symbol is there, `+OFF` for a program that has no
 * JIT images.
 * @param jited the program's functions (Program.jitedFunctions()); without it, bpf-to-bpf calls
 *   keep the disassembler's default text
 * @param symbols read once for the whole program (readKernelSymbols())
 */
export function xlatedCallNames(jited: JitedFunctions | undefined, symbols: KernelSymbols | null = readKernelSymbols()): (insn: Instruction) => string | undefined {
  return (insn) => {
    // Without kallsyms bpftool adds the imm to a call base of 0.
    let address = ((symbols?.callBase ?? 0n) + BigInt(insn.imm)) & U64;
    if (insn.src !== PseudoCall.CALL) return symbols?.nameAt(address) ?? `0x${address.toString(16)}`;
    if (!jited) return undefined;
    if (jited.count === 0) return signed(insn.off);
    const callee = insn.imm >>> 0;
    if (jited.addresses && callee < jited.count) address = jited.addresses[callee] ?? address;
    const name = symbols?.nameAt(address);
    return `${signed(insn.off)}#${name ?? `0x${address.toString(16)}`}`;
  };
}
