// A live program's instructions as `bpftool prog dump xlated` prints them: the kernel's rewritten
// instructions, with the signature of each function above its first instruction and the C source
// line above the instructions compiled from it (from the program's BTF), and call targets named by
// kernel symbol, bpf-to-bpf calls by the callee's JIT image (bpf_prog_TAG_NAME).
import { decodeInstructions, formatInstructions } from './asm/index.js';
import { programDebugInfo } from './btf/source.js';
import { readKernelSymbols, xlatedCallNames } from './kallsyms.js';
import { readJitedFunctions, readXlated } from './prog.js';
import type { FD } from './sys/index.js';

export interface XlatedDumpOptions {
  /** Each instruction's bytes on the line below it (bpftool's `opcodes`). */
  readonly opcodes?: boolean;
  /** Each source line with its file, line and column (bpftool's `linum`). */
  readonly linum?: boolean;
}

/** The text of `bpftool prog dump xlated id ID [opcodes] [linum]` for the program `prog`. */
export function dumpXlated(prog: FD, options: XlatedDumpOptions = {}): string {
  const insns = decodeInstructions(readXlated(prog));
  const { lines, functions } = programDebugInfo(prog);
  // kallsyms is read after the program is open, so its JIT images are in it.
  const callName = xlatedCallNames(readJitedFunctions(prog), readKernelSymbols());
  return formatInstructions(insns, {
    mapText: (id) => `map[id:${id}]`,
    callName,
    opcodes: options.opcodes ?? false,
    linesBefore: (index) => {
      const signature = functions.get(index);
      const source = lines.get(index);
      let out = signature ? `${signature}:\n` : '';
      if (source) {
        out += options.linum
          ? `; ${source.text} [file:${source.file} line_num:${source.line} line_col:${source.column}]\n`
          : `; ${source.text}\n`;
      }
      return out;
    },
  });
}
