/**
 * Assembler: write eBPF programs by hand, with symbolic labels, helpers by name, and maps that are
 * resolved to their fds only when the program is assembled.
 *
 * ```ts
 * import { Assembler, R0, R1, R2, R10 } from './index.js';
 *
 * const program = new Assembler()
 *   .ldx('u32', R2, R1, 0)        // r2 = ctx->write (struct bpf_sysctl)
 *   .mov(R0, 1)                   // allow ...
 *   .jeq(R2, 0, 'done')           // ... reads
 *   .ldMapFd(R1, policyMap)       // any object with `readonly fd: number`, or a map's name in a spec
 *   .stx('u64', R10, -8, R2)
 *   .mov(R2, R10)
 *   .add(R2, -8)
 *   .call('map_lookup_elem')      // or 'bpf_map_lookup_elem', or the id 1
 *   .mov(R0, 0)
 *   .label('done')
 *   .exit()
 *   .assemble();                  // { instructions, bytes, mapReferences, labels }
 * ```
 *
 * Conventions: every method returns the assembler, so calls chain. 64-bit operations have plain
 * names (`add`, `jeq`); 32-bit ones end in 32 (`add32` is `w1 += w2`, `jeq32` compares the low
 * halves). A source operand is a Register or an immediate number. Memory operands read like the
 * disassembly: `stx('u64', R10, -8, R1)` is `*(u64 *)(r10 -8) = r1`. Jumps name a label that
 * `label(name)` puts on the next instruction, before or after the jump. Operand errors throw an
 * AsmError at the call; label and map errors throw from `assemble()`.
 */

import { AsmError, closestName } from './errors.js';
import { helperId } from './helpers.js';
import { type Instruction, checkInstruction, encodeInstructions, loadImm64Slots } from './insn.js';
import {
  AluOp,
  AluVariant,
  AtomicOp,
  Endian,
  InsnClass,
  JmpOp,
  Mode,
  PseudoCall,
  PseudoLdImm64,
  Size,
  Source,
} from './opcodes.js';
import { Register } from './registers.js';

/** A map as the assembler sees it: anything with the fd the kernel knows it by. */
export interface MapLike {
  readonly fd: number;
}

/**
 * Where a program refers to a map, for a loader that needs to know (e.g. to use fd_array). A map
 * given by name (a spec: src/bpf/spec.ts) is resolved by the loader; its slot holds 0 until then.
 */
export interface MapReference {
  /** Index of the first slot of the ld_imm64 that loads the map. */
  readonly index: number;
  readonly map: MapLike | string;
  /** `fd`: the map itself (BPF_PSEUDO_MAP_FD); `value`: an address in its value (BPF_PSEUDO_MAP_VALUE). */
  readonly kind: 'fd' | 'value';
  /** Byte offset into the value, for kind `value`; 0 otherwise. */
  readonly valueOffset: number;
}

export interface AssembledProgram {
  /** One entry per 8-byte slot; a ld_imm64 is two entries. */
  readonly instructions: Instruction[];
  /**
   * The instructions in the kernel's wire format, ready for BPF_PROG_LOAD: encoded when first read
   * (the interpreter never reads it), from `instructions`, which are not to be changed.
   */
  readonly bytes: Buffer;
  readonly mapReferences: MapReference[];
  /** Slot index of every label. */
  readonly labels: ReadonlyMap<string, number>;
}

/** Operand sizes as the disassembler prints them; s8..s32 are sign-extending loads. */
export type LoadSize = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32';
export type StoreSize = 'u8' | 'u16' | 'u32' | 'u64';
export type AtomicSize = 'u32' | 'u64';
export type AtomicAluOp = 'add' | 'and' | 'or' | 'xor';

const sizeBits: Record<StoreSize, number> = { u8: Size.B, u16: Size.H, u32: Size.W, u64: Size.DW };
const loadSizes: Record<LoadSize, number> = {
  u8: Size.B | Mode.MEM,
  u16: Size.H | Mode.MEM,
  u32: Size.W | Mode.MEM,
  u64: Size.DW | Mode.MEM,
  s8: Size.B | Mode.MEMSX,
  s16: Size.H | Mode.MEMSX,
  s32: Size.W | Mode.MEMSX,
};
const atomicOps: Record<AtomicAluOp, number> = {
  add: AtomicOp.ADD,
  and: AtomicOp.AND,
  or: AtomicOp.OR,
  xor: AtomicOp.XOR,
};

/** A slot still waiting for assemble(): a jump to a label or a map's fd. */
type Pending =
  | { kind: 'label'; label: string; field: 'off' | 'imm' }
  | { kind: 'map'; map: MapLike | string; pseudo: number; valueOffset: number };

interface Item {
  readonly insn: Instruction;
  readonly pending?: Pending;
}

const S16 = [-0x8000, 0x7fff] as const;
const S32 = [-0x8000_0000, 0x7fff_ffff] as const;
const S32_OR_U32 = [-0x8000_0000, 0xffff_ffff] as const;
// The kernel sign-extends the immediate of 64-bit operations: 0xffffffff would mean -1.
const SIGN_EXTENDED_FIX =
  'a 64-bit operation sign-extends its 32-bit immediate: use -2147483648..2147483647, or ldImm64 the constant into a register';

export class Assembler {
  readonly #items: Item[] = [];
  readonly #labels = new Map<string, number>();

  /** Number of slots written so far; the index the next instruction gets. */
  get length(): number {
    return this.#items.length;
  }

  // ---- labels -------------------------------------------------------------------------------

  /** Names the next instruction, as the target of jumps and local calls. */
  label(name: string): this {
    if (name === '') throw this.#operandError('label', 'the label name is empty', 'give it a name');
    const existing = this.#labels.get(name);
    if (existing !== undefined) {
      throw new AsmError(
        'duplicate-label',
        `label "${name}" is defined twice (instructions ${existing} and ${this.length})`,
        'give each label a unique name',
      );
    }
    this.#labels.set(name, this.length);
    return this;
  }

  // ---- ALU, 64-bit (dst = dst op src) -------------------------------------------------------

  add(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.ADD, dst, src); }
  sub(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.SUB, dst, src); }
  mul(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.MUL, dst, src); }
  /** Unsigned division; division by zero gives 0. */
  div(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.DIV, dst, src); }
  /** Signed division (Linux 6.6). */
  sdiv(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.DIV, dst, src, AluVariant.SIGNED); }
  /** Unsigned modulo; modulo zero leaves dst unchanged. */
  mod(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.MOD, dst, src); }
  /** Signed modulo (Linux 6.6). */
  smod(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.MOD, dst, src, AluVariant.SIGNED); }
  or(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.OR, dst, src); }
  and(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.AND, dst, src); }
  lsh(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.LSH, dst, src); }
  rsh(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.RSH, dst, src); }
  arsh(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.ARSH, dst, src); }
  xor(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.XOR, dst, src); }
  /** dst = src; an immediate is sign-extended to 64 bits (use ldImm64 for wider constants). */
  mov(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU64, AluOp.MOV, dst, src); }
  /** dst = (s8/s16/s32)src, sign-extending (Linux 6.6). */
  movsx(dst: Register, src: Register, bits: 8 | 16 | 32): this { return this.#movsx(InsnClass.ALU64, dst, src, bits, [8, 16, 32]); }
  neg(dst: Register): this { return this.#alu(InsnClass.ALU64, AluOp.NEG, dst, 0); }

  // ---- ALU, 32-bit (wDst = wDst op wSrc; the upper half of dst is zeroed) ------------------

  add32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.ADD, dst, src); }
  sub32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.SUB, dst, src); }
  mul32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.MUL, dst, src); }
  div32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.DIV, dst, src); }
  sdiv32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.DIV, dst, src, AluVariant.SIGNED); }
  mod32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.MOD, dst, src); }
  smod32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.MOD, dst, src, AluVariant.SIGNED); }
  or32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.OR, dst, src); }
  and32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.AND, dst, src); }
  lsh32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.LSH, dst, src); }
  rsh32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.RSH, dst, src); }
  arsh32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.ARSH, dst, src); }
  xor32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.XOR, dst, src); }
  mov32(dst: Register, src: Register | number): this { return this.#alu(InsnClass.ALU, AluOp.MOV, dst, src); }
  /** wDst = (s8/s16)wSrc, sign-extending (Linux 6.6). */
  movsx32(dst: Register, src: Register, bits: 8 | 16): this { return this.#movsx(InsnClass.ALU, dst, src, bits, [8, 16]); }
  neg32(dst: Register): this { return this.#alu(InsnClass.ALU, AluOp.NEG, dst, 0); }

  // ---- byte order -----------------------------------------------------------------------------

  /** dst = htole16/32/64(dst): a no-op on little-endian hosts except that it truncates. */
  toLe(dst: Register, bits: 16 | 32 | 64): this { return this.#end(InsnClass.ALU | Endian.TO_LE, dst, bits); }
  /** dst = htobe16/32/64(dst). */
  toBe(dst: Register, bits: 16 | 32 | 64): this { return this.#end(InsnClass.ALU | Endian.TO_BE, dst, bits); }
  /** dst = bswap16/32/64(dst), unconditionally (Linux 6.6). */
  bswap(dst: Register, bits: 16 | 32 | 64): this { return this.#end(InsnClass.ALU64 | Endian.TO_LE, dst, bits); }

  // ---- jumps: if (dst op src) goto label ---------------------------------------------------

  jeq(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JEQ, dst, src, label); }
  jne(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JNE, dst, src, label); }
  jgt(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JGT, dst, src, label); }
  jge(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JGE, dst, src, label); }
  jlt(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JLT, dst, src, label); }
  jle(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JLE, dst, src, label); }
  jsgt(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JSGT, dst, src, label); }
  jsge(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JSGE, dst, src, label); }
  jslt(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JSLT, dst, src, label); }
  jsle(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JSLE, dst, src, label); }
  /** if (dst & src) goto label */
  jset(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP, JmpOp.JSET, dst, src, label); }

  jeq32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JEQ, dst, src, label); }
  jne32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JNE, dst, src, label); }
  jgt32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JGT, dst, src, label); }
  jge32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JGE, dst, src, label); }
  jlt32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JLT, dst, src, label); }
  jle32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JLE, dst, src, label); }
  jsgt32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JSGT, dst, src, label); }
  jsge32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JSGE, dst, src, label); }
  jslt32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JSLT, dst, src, label); }
  jsle32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JSLE, dst, src, label); }
  jset32(dst: Register, src: Register | number, label: string): this { return this.#jump(InsnClass.JMP32, JmpOp.JSET, dst, src, label); }

  /** goto label, within ±32767 instructions. */
  ja(label: string): this {
    return this.#push({ code: InsnClass.JMP | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0 }, { kind: 'label', label, field: 'off' });
  }

  /** goto label with a 32-bit offset (JMP32 | JA, Linux 6.6), for programs past 32K instructions. */
  gotol(label: string): this {
    return this.#push({ code: InsnClass.JMP32 | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0 }, { kind: 'label', label, field: 'imm' });
  }

  // ---- calls and exit -----------------------------------------------------------------------

  /** Calls a helper by name (with or without `bpf_`) or id. Arguments in r1..r5, result in r0. */
  call(helper: string | number): this {
    const id = typeof helper === 'string' ? helperId(helper) : this.#checkImm('call', helper, [0, S32[1]]);
    return this.#push({ code: InsnClass.JMP | JmpOp.CALL, dst: 0, src: PseudoCall.HELPER, off: 0, imm: id });
  }

  /** Calls the subprogram that starts at `label` (a bpf-to-bpf call). */
  callLocal(label: string): this {
    return this.#push(
      { code: InsnClass.JMP | JmpOp.CALL, dst: 0, src: PseudoCall.CALL, off: 0, imm: 0 },
      { kind: 'label', label, field: 'imm' },
    );
  }

  /** Calls a kernel function by its BTF id in vmlinux. */
  callKfunc(btfId: number): this {
    const imm = this.#checkImm('callKfunc', btfId, [1, S32[1]]);
    return this.#push({ code: InsnClass.JMP | JmpOp.CALL, dst: 0, src: PseudoCall.KFUNC_CALL, off: 0, imm });
  }

  /** Returns r0 from the program or subprogram. */
  exit(): this {
    return this.#push({ code: InsnClass.JMP | JmpOp.EXIT, dst: 0, src: 0, off: 0, imm: 0 });
  }

  // ---- memory -------------------------------------------------------------------------------

  /** dst = *(size *)(src + off); s8/s16/s32 sign-extend (Linux 6.6). */
  ldx(size: LoadSize, dst: Register, src: Register, off: number): this {
    const sizeAndMode = loadSizes[size];
    if (sizeAndMode === undefined) {
      throw this.#operandError('ldx', `there is no ${String(size)} load`, `use one of ${Object.keys(loadSizes).join(', ')}`);
    }
    const code = InsnClass.LDX | sizeAndMode;
    return this.#push({ code, dst: dst.index, src: src.index, off: this.#checkOff('ldx', off), imm: 0 });
  }

  /** *(size *)(dst + off) = src */
  stx(size: StoreSize, dst: Register, off: number, src: Register): this {
    const code = InsnClass.STX | sizeBits[size] | Mode.MEM;
    return this.#push({ code, dst: dst.index, src: src.index, off: this.#checkOff('stx', off), imm: 0 });
  }

  /** *(size *)(dst + off) = imm; a u64 store sign-extends the 32-bit immediate. */
  st(size: StoreSize, dst: Register, off: number, imm: number): this {
    const code = InsnClass.ST | sizeBits[size] | Mode.MEM;
    const checked = size === 'u64' ? this.#checkImm('st', imm, S32, SIGN_EXTENDED_FIX) : this.#checkImm('st', imm, S32_OR_U32);
    return this.#push({ code, dst: dst.index, src: 0, off: this.#checkOff('st', off), imm: checked });
  }

  /** lock *(size *)(dst + off) op= src */
  atomic(op: AtomicAluOp, size: AtomicSize, dst: Register, off: number, src: Register): this {
    return this.#atomic(size, dst, off, src, atomicOps[op]);
  }

  /** src = atomic_fetch_op((size *)(dst + off), src): like atomic(), and src receives the old value. */
  atomicFetch(op: AtomicAluOp, size: AtomicSize, dst: Register, off: number, src: Register): this {
    return this.#atomic(size, dst, off, src, atomicOps[op] | AtomicOp.FETCH);
  }

  /** src = xchg((size *)(dst + off), src) */
  xchg(size: AtomicSize, dst: Register, off: number, src: Register): this {
    return this.#atomic(size, dst, off, src, AtomicOp.XCHG);
  }

  /** r0 = cmpxchg((size *)(dst + off), r0, src): stores src if the memory equals r0. */
  cmpxchg(size: AtomicSize, dst: Register, off: number, src: Register): this {
    return this.#atomic(size, dst, off, src, AtomicOp.CMPXCHG);
  }

  /** Legacy packet load for socket filters: r0 = *(size *)skb[imm], with the skb in r6. */
  ldAbs(size: 'u8' | 'u16' | 'u32', imm: number): this {
    const code = InsnClass.LD | sizeBits[size] | Mode.ABS;
    return this.#push({ code, dst: 0, src: 0, off: 0, imm: this.#checkImm('ldAbs', imm, S32) });
  }

  /** Legacy packet load for socket filters: r0 = *(size *)skb[src + imm], with the skb in r6. */
  ldInd(size: 'u8' | 'u16' | 'u32', src: Register, imm: number): this {
    const code = InsnClass.LD | sizeBits[size] | Mode.IND;
    return this.#push({ code, dst: 0, src: src.index, off: 0, imm: this.#checkImm('ldInd', imm, S32) });
  }

  // ---- 64-bit loads (two slots) -------------------------------------------------------------

  /** dst = value, any 64-bit constant (signed or unsigned). */
  ldImm64(dst: Register, value: bigint | number): this {
    const big = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
    if (typeof big !== 'bigint' || big < -(1n << 63n) || big >= 1n << 64n) {
      throw this.#operandError('ldImm64', `${String(value)} is not a 64-bit integer`, 'pass a bigint from -2^63 to 2^64-1');
    }
    return this.#pushLdImm64(loadImm64Slots(dst.index, PseudoLdImm64.NONE, big));
  }

  /** dst = the map (a pointer the kernel substitutes for its fd), e.g. for map_lookup_elem. */
  ldMapFd(dst: Register, map: MapLike | string): this {
    const slots = loadImm64Slots(dst.index, PseudoLdImm64.MAP_FD, 0n);
    return this.#pushLdImm64(slots, { kind: 'map', map, pseudo: PseudoLdImm64.MAP_FD, valueOffset: 0 });
  }

  /** dst = the address of byte `valueOffset` of the map's value (array maps of one entry). */
  ldMapValue(dst: Register, map: MapLike | string, valueOffset = 0): this {
    const offset = this.#checkImm('ldMapValue', valueOffset, [0, S32[1]]);
    const slots = loadImm64Slots(dst.index, PseudoLdImm64.MAP_VALUE, BigInt(offset) << 32n);
    return this.#pushLdImm64(slots, { kind: 'map', map, pseudo: PseudoLdImm64.MAP_VALUE, valueOffset: offset });
  }

  /** dst = the address of the subprogram at `label`, for callbacks such as bpf_loop's. */
  ldFunc(dst: Register, label: string): this {
    return this.#pushLdImm64(loadImm64Slots(dst.index, PseudoLdImm64.FUNC, 0n), { kind: 'label', label, field: 'imm' });
  }

  // ---- anything else ------------------------------------------------------------------------

  /** Appends instruction slots as they are, e.g. both halves of an unusual ld_imm64. */
  raw(...insns: Instruction[]): this {
    // Checked here, as every other method checks its operands: assemble() encodes nothing.
    for (const insn of insns) {
      checkInstruction(this.length, insn);
      this.#push({ code: insn.code, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm });
    }
    return this;
  }

  // ---- assembly -----------------------------------------------------------------------------

  /** Resolves labels and map fds. Does not change the assembler; call it again after a map is recreated. */
  assemble(): AssembledProgram {
    for (const [name, index] of this.#labels) {
      if (index >= this.length) {
        throw new AsmError('dangling-label', `label "${name}" marks no instruction`, 'add an instruction after it or remove it');
      }
    }
    const instructions: Instruction[] = [];
    const mapReferences: MapReference[] = [];
    this.#items.forEach(({ insn, pending }, index) => {
      // The fields copied one by one: an object spread with a property added takes V8's slow path
      // on Node.js 20 (microseconds an instruction, milliseconds a program).
      if (pending?.kind === 'label') {
        const to = this.#relativeTarget(index, pending);
        instructions.push(pending.field === 'off'
          ? { code: insn.code, dst: insn.dst, src: insn.src, off: to, imm: insn.imm }
          : { code: insn.code, dst: insn.dst, src: insn.src, off: insn.off, imm: to });
      } else if (pending?.kind === 'map') {
        instructions.push({ code: insn.code, dst: insn.dst, src: insn.src, off: insn.off, imm: mapFd(index, pending.map) });
        const kind = pending.pseudo === PseudoLdImm64.MAP_VALUE ? 'value' : 'fd';
        mapReferences.push({ index, map: pending.map, kind, valueOffset: pending.valueOffset });
      } else {
        instructions.push(insn);
      }
    });
    // The wire bytes are made when first asked for: the interpreter runs the instructions as they
    // are (sysward explain and test never encode a program).
    let bytes: Buffer | undefined;
    return {
      instructions, mapReferences, labels: new Map(this.#labels),
      get bytes() { return (bytes ??= encodeInstructions(instructions)); },
    };
  }

  #relativeTarget(index: number, pending: { label: string; field: 'off' | 'imm' }): number {
    const target = this.#labels.get(pending.label);
    if (target === undefined) {
      const suggestion = closestName(pending.label, this.#labels.keys());
      throw new AsmError(
        'undefined-label',
        `instruction ${index} refers to undefined label "${pending.label}"`,
        suggestion !== undefined ? `did you mean "${suggestion}"?` : `define it with label("${pending.label}")`,
      );
    }
    // Offsets count slots from the one after the referring slot; for ldFunc that is the ld_imm64's
    // second slot, as the kernel finds the subprogram at i + imm + 1.
    const relative = target - (index + 1);
    const range = pending.field === 'off' ? S16 : S32;
    if (relative < range[0] || relative > range[1]) {
      throw new AsmError(
        'jump-out-of-range',
        `instruction ${index} jumps ${relative} instructions to "${pending.label}", beyond the ${pending.field === 'off' ? '16' : '32'}-bit offset`,
        pending.field === 'off' ? 'use gotol() for long unconditional jumps, or jump to a nearer gotol' : 'split the program',
      );
    }
    return relative;
  }

  // ---- encoding helpers ---------------------------------------------------------------------

  #push(insn: Instruction, pending?: Pending): this {
    this.#items.push(pending === undefined ? { insn } : { insn, pending });
    return this;
  }

  #pushLdImm64(slots: [Instruction, Instruction], pending?: Pending): this {
    this.#push(slots[0], pending);
    return this.#push(slots[1]);
  }

  #alu(cls: number, op: number, dst: Register, src: Register | number, off = 0): this {
    if (src instanceof Register) {
      return this.#push({ code: cls | op | Source.X, dst: dst.index, src: src.index, off, imm: 0 });
    }
    const imm =
      cls === InsnClass.ALU64
        ? this.#checkImm(op, src, S32, SIGN_EXTENDED_FIX)
        : this.#checkImm(op, src, S32_OR_U32);
    return this.#push({ code: cls | op | Source.K, dst: dst.index, src: 0, off, imm });
  }

  #movsx(cls: number, dst: Register, src: Register, bits: number, allowed: number[]): this {
    if (!allowed.includes(bits)) {
      throw this.#operandError('movsx', `cannot sign-extend from ${bits} bits here`, `use one of ${allowed.join(', ')}`);
    }
    return this.#push({ code: cls | AluOp.MOV | Source.X, dst: dst.index, src: src.index, off: bits, imm: 0 });
  }

  #end(codeBase: number, dst: Register, bits: number): this {
    if (bits !== 16 && bits !== 32 && bits !== 64) {
      throw this.#operandError('byte swap', `${bits} is not a swap width`, 'use 16, 32 or 64');
    }
    return this.#push({ code: codeBase | AluOp.END, dst: dst.index, src: 0, off: 0, imm: bits });
  }

  #jump(cls: number, op: number, dst: Register, src: Register | number, label: string): this {
    const pending: Pending = { kind: 'label', label, field: 'off' };
    if (src instanceof Register) {
      return this.#push({ code: cls | op | Source.X, dst: dst.index, src: src.index, off: 0, imm: 0 }, pending);
    }
    const imm =
      cls === InsnClass.JMP ? this.#checkImm('jump', src, S32, SIGN_EXTENDED_FIX) : this.#checkImm('jump32', src, S32_OR_U32);
    return this.#push({ code: cls | op | Source.K, dst: dst.index, src: 0, off: 0, imm }, pending);
  }

  #atomic(size: AtomicSize, dst: Register, off: number, src: Register, op: number): this {
    const code = InsnClass.STX | sizeBits[size] | Mode.ATOMIC;
    return this.#push({ code, dst: dst.index, src: src.index, off: this.#checkOff('atomic', off), imm: op });
  }

  #checkOff(what: string, off: number): number {
    if (Number.isInteger(off) && off >= S16[0] && off <= S16[1]) return off;
    throw this.#operandError(what, `offset ${off} does not fit 16 bits`, 'use an offset from -32768 to 32767, or add to the pointer first');
  }

  /** `what`: the instruction's name, or an ALU opcode (named only when the check fails: this runs
   * for every instruction the compiler emits). */
  #checkImm(what: string | number, imm: number, range: readonly [number, number], fix?: string): number {
    if (Number.isInteger(imm) && imm >= range[0] && imm <= range[1]) return imm;
    const name = typeof what === 'number' ? aluName(what) : what;
    throw this.#operandError(name, `immediate ${imm} does not fit`, fix ?? `use an integer from ${range[0]} to ${range[1]}`);
  }

  #operandError(what: string, problem: string, fix: string): AsmError {
    return new AsmError('invalid-operand', `instruction ${this.length} (${what}): ${problem}`, fix);
  }
}

function mapFd(index: number, map: MapLike | string): number {
  if (typeof map === 'string') return 0; // by name: the loader puts the fd in
  const fd = map.fd;
  if (!Number.isInteger(fd) || fd < 0 || fd > S32[1]) {
    throw new AsmError(
      'map-not-ready',
      `instruction ${index} refers to a map whose fd is ${String(fd)}`,
      'create the map (or reopen it) before assemble()',
    );
  }
  return fd;
}

function aluName(op: number): string {
  const entry = Object.entries(AluOp).find(([, value]) => value === op);
  return entry ? entry[0].toLowerCase() : 'alu';
}
