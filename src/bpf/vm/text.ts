// Programs and traces as text: reading instructions from hex (or a raw .bin of struct bpf_insn),
// and printing a run's trace the way a person follows it next to the disassembly.

import { INSTRUCTION_SIZE_BYTES } from '../asm/index.js';
import type { VmTraceStep } from './interpreter.js';

/** Thrown for program text that is not hex instructions; the message says what and where. */
export class ProgramTextError extends Error {
  override readonly name = 'ProgramTextError';
}

/**
 * Instructions from hex text: bytes as hex pairs, in any grouping (`b7000000 01000000`,
 * `b7 00 00 00 01 00 00 00`, `0xb7, 0x00`), `#`, `//` and `;` comments. Lines of disassembly
 * (`   0: (b7) r0 = 1`) are skipped, so `bpftool prog dump xlated id N opcodes` output reads as is.
 */
export function parseProgramHex(text: string): Buffer {
  let hex = '';
  text.split(/\r?\n/).forEach((raw, lineIndex) => {
    if (/^\s*\d+:\s*\(/.test(raw)) return;
    const line = raw.replace(/(#|\/\/|;).*$/, '');
    for (const token of line.split(/[\s,]+/)) {
      if (token === '') continue;
      const digits = token.replace(/^0x/i, '');
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length % 2 !== 0) {
        throw new ProgramTextError(`line ${lineIndex + 1}: "${token}" is not hex bytes; write each byte as two hex digits`);
      }
      hex += digits;
    }
  });
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length === 0) throw new ProgramTextError('no instructions found; give the program as hex bytes (8 per instruction)');
  if (bytes.length % INSTRUCTION_SIZE_BYTES !== 0) {
    throw new ProgramTextError(`${bytes.length} bytes is not a whole number of instructions (8 bytes each)`);
  }
  return bytes;
}

/**
 * A program file's instructions: hex text (see parseProgramHex) or raw struct bpf_insn bytes.
 * Raw programs always hold zero bytes (every exit has them) and text never does.
 */
export function parseProgramFile(content: Uint8Array): Buffer {
  const buf = Buffer.from(content);
  if (buf.length > 0 && !buf.includes(0)) return parseProgramHex(buf.toString('utf8'));
  if (buf.length === 0 || buf.length % INSTRUCTION_SIZE_BYTES !== 0) {
    throw new ProgramTextError(`${buf.length} bytes is not a whole number of instructions (8 bytes each), nor hex text`);
  }
  return buf;
}

/**
 * A trace as text, one executed instruction a line: its index and disassembly (indented by call
 * depth), then the registers it wrote and what else happened:
 *
 *      7: (85) call bpf_sysctl_get_name#101      ; r0 = -7  sysctl_get_name(ctx+0, fp-8, 8, 1) = -7
 */
export function formatTrace(steps: readonly VmTraceStep[]): string {
  let out = '';
  for (const s of steps) {
    const head = `${'  '.repeat(s.frame)}${String(s.index).padStart(4)}: ${s.text}`;
    const parts = s.changes.map((c) => `r${c.register} = ${c.value}`);
    if (s.note !== undefined) parts.push(s.note);
    out += parts.length ? `${head.padEnd(48)} ; ${parts.join('  ')}\n` : `${head}\n`;
  }
  return out;
}
