// The interpreter: checks a program once (opcodes, jump targets, maps, helpers, as the verifier's
// first passes do), then runs it on a context with exact 64-bit semantics, bounded by an
// instruction budget. Semantics follow kernel/bpf/core.c (the kernel's own interpreter) and the
// verifier's fix-ups (division by zero, sign extension) in kernel/bpf/verifier.c.

import {
  type AssembledProgram, type Instruction, AluOp, AtomicOp, InsnClass, JmpOp, Mode, PseudoCall, PseudoLdImm64,
  Size, decodeInstructions, formatInstruction, helperName, isLoadImm64, loadImm64Value,
} from '../asm/index.js';
import { BytesContext, type ContextModel, SysctlState, type VmContext } from './context.js';
import { VmError } from './errors.js';
import { DEFAULT_TASK, type VmHelper, type VmHelperCall, type VmTask, helperTable } from './helpers.js';
import { TypedVmMap, VmMap } from './maps.js';
import {
  Region, STACK_SIZE, VmPointer, type VmValue, checkAccess, fault, formatScalar, formatValue, markWritten,
  readUnsigned, writeUnsigned,
} from './memory.js';

/** A program: instruction slots, their wire bytes (struct bpf_insn), or what Assembler.assemble() gives. */
export type VmProgramInput = readonly Instruction[] | Uint8Array | AssembledProgram;

/** Anything that is (or wraps) a VM map. */
export type VmMapInput = VmMap | TypedVmMap<unknown, unknown>;

export interface VmProgramOptions {
  /**
   * The maps the program's ld_imm64 instructions refer to (by fd). Maps of an AssembledProgram's
   * mapReferences that are VM maps are found without being listed.
   */
  maps?: Iterable<VmMapInput>;
  /**
   * Maps bound to the fds the program's instructions hold, for programs whose fds are not VM maps'
   * (raw bytes from elsewhere, or a program assembled with kernel maps to compare both runs).
   */
  mapsByFd?: ReadonlyMap<number, VmMapInput> | Iterable<readonly [number, VmMapInput]>;
  /** Helpers to add or replace, by name (without bpf_) or id. */
  helpers?: Readonly<Record<string, VmHelper>>;
}

export interface VmRunOptions {
  /** What r1 points at: a sysctl access, or plain bytes. Default: 0 bytes of context. */
  ctx?: VmContext;
  task?: VmTask;
  /** The CPU the program runs on (default 0). */
  cpu?: number;
  /** Instructions the run may execute before it is stopped (default 1,000,000). */
  budget?: number;
  /** Record every executed instruction (index, disassembly, registers changed). */
  trace?: boolean;
  /** Seed of get_prandom_u32 (default 1): runs are reproducible. */
  seed?: number;
}

/** One executed instruction. */
export interface VmTraceStep {
  /** Slot index. */
  index: number;
  /** Call depth: 0 in the main program, 1 in a subprogram it called, ... */
  frame: number;
  /** Disassembly, as bpftool prints it. */
  text: string;
  /** Registers written by the instruction, with their new values (`r0 = map_value(counts)+0`). */
  changes: { register: number; value: string }[];
  /** What else happened: the store made, the helper called and its result. */
  note?: string;
}

export interface VmRunResult {
  /** r0 at exit, as an unsigned 64-bit value. */
  returnValue: bigint;
  instructionsExecuted: number;
  /** Lines the program printed with trace_printk. */
  printk: string[];
  trace?: VmTraceStep[];
  /** For a bytes context: its bytes after the run. */
  ctxBytes?: Buffer;
}

export interface VmSysctlRunResult extends VmRunResult {
  /** The program allowed the access (returned 1). */
  allowed: boolean;
  /** ctx->file_pos after the run: the position the kernel goes on with (the program may set it). */
  filePos: number;
  /**
   * For a write: the bytes the sysctl's handler parses: the value set with sysctl_set_new_value
   * when it succeeded and the program allowed the write, otherwise the bytes written (at most a
   * page). null for a read, or a write of nothing.
   */
  newValue: Buffer | null;
  /** sysctl_set_new_value stored a value (whatever the program returned afterwards). */
  newValueUpdated: boolean;
}

const DEFAULT_BUDGET = 1_000_000;
/** MAX_CALL_FRAMES */
const MAX_FRAMES = 8;
/** BPF_MAX_VAR_OFF: the verifier refuses pointers moved further than this. */
const MAX_POINTER_OFFSET = 1 << 29;
/** BPF_MAX_LOOPS: may_goto's budget. */
const MAY_GOTO_BUDGET = 8 * 1024 * 1024;

const M32 = 0xffff_ffffn;
const EMPTY = new Uint8Array(0);
const CALLER_SAVED = [1, 2, 3, 4, 5] as const;

/** A slot, decoded once, with the values the loop needs precomputed. */
interface Slot extends Instruction {
  /** imm sign-extended to 64 bits, as an unsigned bigint (64-bit ops and JMP compare with it). */
  readonly k64: bigint;
  /** imm as a u32 (32-bit ops). */
  readonly k32: bigint;
  /** Jump or call target slot. */
  readonly target: number;
  /** Load / store size in bytes. */
  readonly bytes: number;
  /** ld_imm64: the constant, or the map it loads. */
  readonly value64: bigint;
  readonly map: VmMap | undefined;
}

/** A slot of `insn`, its five fields copied one by one: an object spread (`{ ...insn, k64, ... }`)
 * takes V8's slow path on Node.js 20, ~15 µs a slot: ~13 ms of `sysward explain`'s start for the
 * guard's ~900 slots. Every slot has the same shape, which keeps the interpreter's loop monomorphic. */
const slot = (insn: Instruction, k64: bigint, k32: bigint, target: number, bytes: number, value64: bigint, map: VmMap | undefined): Slot =>
  ({ code: insn.code, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm, k64, k32, target, bytes, value64, map });

const SIZE_BYTES: Record<number, number> = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 };
const ALU_OPS = new Set<number>(Object.values(AluOp));
const COND_JUMPS = new Set<number>([JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE]);
const ATOMIC_ALU = new Set<number>([AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR]);

function toVmMap(m: unknown): VmMap | undefined {
  if (m instanceof VmMap) return m;
  if (m instanceof TypedVmMap) return m.map;
  return undefined;
}

/**
 * A program checked and decoded for the interpreter, ready to run many times (maps persist between
 * runs, as kernel maps do). Construction throws a VmError (kind `invalid-program`, `unknown-map` or
 * `helper`) for what the verifier would refuse before running anything.
 */
export class VmProgram {
  readonly instructions: readonly Instruction[];
  /** The program's maps by fd. */
  readonly maps: ReadonlyMap<number, VmMap>;
  readonly #slots: Slot[];
  readonly #helpers: Map<number, VmHelper>;
  readonly #mapRegions = new Map<VmMap, Region>();
  // Memory reused across runs (allocating typed arrays is most of a short run's cost otherwise).
  readonly #stacks: Region[] = [];
  readonly #sysctlRegion = new Region('ctx', 'ctx', new Uint8Array(8), false);
  readonly #emptyRegion = new Region('ctx', 'ctx', new Uint8Array(0), true);
  #running = false;

  constructor(input: VmProgramInput, options: VmProgramOptions = {}) {
    let insns: readonly Instruction[];
    const maps = new Map<number, VmMap>();
    if (input instanceof Uint8Array) {
      insns = decodeInstructions(input);
    } else if (Array.isArray(input)) {
      insns = input as readonly Instruction[];
    } else {
      const asm = input as AssembledProgram;
      insns = asm.instructions;
      for (const ref of asm.mapReferences) {
        const m = toVmMap(ref.map);
        if (m) maps.set(m.fd, m);
      }
    }
    const notVm = 'options.maps takes VM maps (createVmMap, VmMap.create, createVmRingBuf), not kernel maps';
    for (const given of options.maps ?? []) {
      const m = toVmMap(given);
      if (!m) throw new TypeError(notVm);
      maps.set(m.fd, m);
    }
    for (const [fd, given] of options.mapsByFd ?? []) {
      const m = toVmMap(given);
      if (!m) throw new TypeError(notVm.replace('maps', 'mapsByFd'));
      maps.set(fd, m);
    }
    this.instructions = insns;
    this.maps = maps;
    this.#helpers = helperTable(options.helpers);
    this.#slots = this.#check(insns);
  }

  /** Runs the program once. With a sysctl context the result also says what the kernel would do next. */
  run(options: VmRunOptions & { ctx: VmContext & { kind: 'sysctl' } }): VmSysctlRunResult;
  run(options?: VmRunOptions): VmRunResult;
  run(options: VmRunOptions = {}): VmRunResult | VmSysctlRunResult {
    // A helper may run a program from inside a run: it gets memory of its own.
    const reuse = !this.#running;
    const ctx: ContextModel = options.ctx?.kind === 'sysctl'
      ? new SysctlState(options.ctx, reuse ? this.#sysctlRegion : undefined)
      : new BytesContext(options.ctx ?? { kind: 'bytes', bytes: EMPTY }, reuse ? this.#emptyRegion : undefined);
    const machine = new Machine(this, this.#slots, this.#helpers, ctx, options, reuse ? this.#stacks : []);
    let r0: bigint;
    this.#running = true;
    try {
      r0 = machine.execute();
    } finally {
      if (reuse) this.#running = false;
    }
    const result: VmRunResult = { returnValue: r0, instructionsExecuted: machine.executed, printk: machine.printk };
    if (machine.trace) result.trace = machine.trace;
    if (ctx instanceof BytesContext && ctx.region.size) result.ctxBytes = Buffer.from(ctx.region.bytes);
    if (!(ctx instanceof SysctlState)) return result;
    if (r0 !== 0n && r0 !== 1n) {
      throw new VmError('invalid-return', `the program returned ${formatScalar(r0)}`, 'a cgroup-sysctl program must return 0 (refuse) or 1 (allow); the verifier rejects programs that may return anything else');
    }
    const allowed = r0 === 1n;
    // The handler gets the program's value only if every program allowed and one set it
    // (kernel/bpf/cgroup.c, __cgroup_bpf_run_filter_sysctl).
    const handlerValue = allowed && ctx.newUpdated ? ctx.newValue : ctx.writtenValue;
    // Properties added to the object rather than spread into a new one: the spread is the slowest
    // step of a short run.
    const sysctl = result as VmSysctlRunResult;
    sysctl.allowed = allowed;
    sysctl.filePos = ctx.filePos;
    sysctl.newValue = handlerValue && Buffer.from(handlerValue);
    sysctl.newValueUpdated = ctx.newUpdated;
    return sysctl;
  }

  /** The region a ld_imm64 of `map` points at (one per map, so pointers to it compare equal). */
  mapRegion(map: VmMap): Region {
    let r = this.#mapRegions.get(map);
    if (!r) {
      r = new Region('map', `map(${map.label})`, new Uint8Array(0), false, map);
      this.#mapRegions.set(map, r);
    }
    return r;
  }

  /** Disassembly of slot `index`. */
  text(index: number): string {
    return formatInstruction(this.instructions, index);
  }

  // ---- the load-time checks -------------------------------------------------------------------

  #check(insns: readonly Instruction[]): Slot[] {
    const n = insns.length;
    if (n === 0) throw new VmError('invalid-program', 'the program has no instructions', 'end it with exit');
    const second = new Uint8Array(n);
    const slots: Slot[] = new Array<Slot>(n);
    // Jumps as (from, to) pairs, flat; `bad` names the instruction being checked, `at` (one
    // closure for the program: this loop runs for every instruction of every program loaded).
    const targets: number[] = [];
    let at = 0;
    const bad = (problem: string, fix = ''): VmError => new VmError('invalid-program', problem, fix, at, this.#safeText(insns, at));
    for (let i = 0; i < n; i++) {
      const insn = insns[i]!;
      if (second[i]) {
        slots[i] = slot(insn, 0n, 0n, -1, 0, 0n, undefined);
        continue;
      }
      at = i;
      const k64 = insn.imm === 0 ? 0n : BigInt.asUintN(64, BigInt(insn.imm | 0));
      const k32 = insn.imm === 0 ? 0n : BigInt(insn.imm >>> 0);
      let target = -1;
      let bytes = 0;
      let value64 = 0n;
      let map: VmMap | undefined;
      // src of a call or a ld_imm64 says what imm is (a pseudo source), not a register.
      const srcIsRegister = !(insn.code === (InsnClass.JMP | JmpOp.CALL) || isLoadImm64(insn));
      if (insn.dst > 10 || (srcIsRegister && insn.src > 10)) {
        throw bad(`register r${insn.dst > 10 ? insn.dst : insn.src} does not exist`, 'eBPF has r0..r10');
      }
      const cls = insn.code & 0x07;
      const op = insn.code & 0xf0;
      const x = (insn.code & 0x08) !== 0;
      switch (cls) {
        case InsnClass.ALU:
        case InsnClass.ALU64: {
          if (!ALU_OPS.has(op)) throw bad(`unknown ALU operation 0x${op.toString(16)}`);
          if (insn.dst === 10) throw bad('r10 (the frame pointer) is read-only');
          const is64 = cls === InsnClass.ALU64;
          if (op === AluOp.END) {
            if (![16, 32, 64].includes(insn.imm)) throw bad(`byte swap of ${insn.imm} bits`, 'use 16, 32 or 64');
            if (is64 && x) throw bad('ALU64 byte swap must have the source bit clear (bswap)');
            break;
          }
          if (op === AluOp.NEG) {
            if (x || insn.src !== 0 || insn.imm !== 0 || insn.off !== 0) throw bad('neg uses reserved fields');
            break;
          }
          if (!x && insn.src !== 0) throw bad('an ALU operation with an immediate has a source register', 'set src to 0');
          if (x && insn.imm !== 0) throw bad('an ALU operation with a register source has an immediate', 'set imm to 0');
          if (op === AluOp.DIV || op === AluOp.MOD) {
            if (insn.off !== 0 && insn.off !== 1) throw bad(`div/mod with off = ${insn.off}`, 'off is 0 (unsigned) or 1 (signed)');
            if (!x && insn.imm === 0) throw bad('division by zero', 'the verifier rejects a constant divisor of 0');
          } else if (op === AluOp.MOV && x) {
            if (is64 && insn.off === 1) throw bad('addr_space_cast (arena pointers) is not supported by the interpreter');
            const allowed = is64 ? [0, 8, 16, 32] : [0, 8, 16];
            if (!allowed.includes(insn.off)) throw bad(`mov with off = ${insn.off}`, `off is ${allowed.join(', ')}`);
          } else if (insn.off !== 0) {
            throw bad(`${op === AluOp.MOV ? 'mov of an immediate' : 'this ALU operation'} with off = ${insn.off}`, 'set off to 0');
          }
          if (!x && (op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH)) {
            const limit = is64 ? 64 : 32;
            if (insn.imm < 0 || insn.imm >= limit) throw bad(`invalid shift ${insn.imm}`, `shift by 0..${limit - 1}`);
          }
          break;
        }
        case InsnClass.JMP:
        case InsnClass.JMP32: {
          const is32 = cls === InsnClass.JMP32;
          if (op === JmpOp.JA) {
            target = is32 ? i + insn.imm + 1 : i + insn.off + 1;
            targets.push(i, target);
          } else if (op === JmpOp.CALL) {
            if (is32) throw bad('call in class JMP32');
            if (insn.dst !== 0 || (insn.off !== 0 && insn.src !== PseudoCall.KFUNC_CALL)) throw bad('a call uses reserved fields', 'set dst and off to 0');
            if (insn.src === PseudoCall.HELPER) {
              if (!this.#helpers.has(insn.imm)) {
                const name = helperName(insn.imm);
                throw new VmError('helper', `helper ${name ? `bpf_${name}` : ''}#${insn.imm} is not implemented by the interpreter`, 'pass an implementation in options.helpers', i, this.#safeText(insns, i));
              }
            } else if (insn.src === PseudoCall.CALL) {
              target = i + insn.imm + 1;
              targets.push(i, target);
            } else {
              throw bad('calls of kernel functions (kfuncs) are not supported by the interpreter');
            }
          } else if (op === JmpOp.EXIT) {
            if (is32) throw bad('exit in class JMP32');
            if (insn.dst !== 0 || insn.src !== 0 || insn.off !== 0 || insn.imm !== 0) throw bad('exit uses reserved fields');
          } else if (op === JmpOp.JCOND) {
            if (is32 || insn.src !== 0) throw bad('unknown conditional pseudo jump');
            target = i + insn.off + 1;
            targets.push(i, target);
          } else if (COND_JUMPS.has(op)) {
            target = i + insn.off + 1;
            targets.push(i, target);
            if (!x && insn.src !== 0) throw bad('a jump with an immediate has a source register', 'set src to 0');
            if (x && insn.imm !== 0) throw bad('a jump with a register source has an immediate', 'set imm to 0');
          } else {
            throw bad(`unknown jump operation 0x${op.toString(16)}`);
          }
          break;
        }
        case InsnClass.LDX: {
          const mode = insn.code & 0xe0;
          bytes = SIZE_BYTES[insn.code & 0x18]!;
          if (mode !== Mode.MEM && mode !== Mode.MEMSX) throw bad('unknown load mode');
          if (mode === Mode.MEMSX && bytes === 8) throw bad('sign-extending 8-byte load');
          if (insn.dst === 10) throw bad('r10 (the frame pointer) is read-only');
          if (insn.imm !== 0) throw bad('a load uses reserved fields', 'set imm to 0');
          break;
        }
        case InsnClass.ST:
        case InsnClass.STX: {
          const mode = insn.code & 0xe0;
          bytes = SIZE_BYTES[insn.code & 0x18]!;
          if (mode === Mode.MEM) {
            if (cls === InsnClass.ST && insn.src !== 0) throw bad('a store of an immediate uses reserved fields', 'set src to 0');
            if (cls === InsnClass.STX && insn.imm !== 0) throw bad('a store of a register uses reserved fields', 'set imm to 0');
            break;
          }
          if (cls === InsnClass.STX && mode === Mode.ATOMIC) {
            const aop = insn.imm;
            const known = ATOMIC_ALU.has(aop & ~AtomicOp.FETCH) || aop === AtomicOp.XCHG || aop === AtomicOp.CMPXCHG || aop === AtomicOp.LOAD_ACQ || aop === AtomicOp.STORE_REL;
            if (!known) throw bad(`unknown atomic operation 0x${(aop >>> 0).toString(16)}`);
            if (aop !== AtomicOp.LOAD_ACQ && aop !== AtomicOp.STORE_REL && bytes < 4) throw bad('atomic operations work on 4 or 8 bytes');
            if (aop === AtomicOp.LOAD_ACQ && insn.dst === 10) throw bad('r10 (the frame pointer) is read-only');
            break;
          }
          throw bad('unknown store mode');
        }
        case InsnClass.LD: {
          if (!isLoadImm64(insn)) throw bad('legacy packet loads (ld_abs / ld_ind) are not supported by the interpreter');
          const next = insns[i + 1];
          if (!next || next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
            throw bad('ld_imm64 without its second slot', 'a ld_imm64 takes two slots; the second has code 0');
          }
          if (insn.dst === 10) throw bad('r10 (the frame pointer) is read-only');
          second[i + 1] = 1;
          if (insn.src === PseudoLdImm64.NONE) {
            value64 = loadImm64Value(insn, next);
          } else if (insn.src === PseudoLdImm64.MAP_FD || insn.src === PseudoLdImm64.MAP_VALUE) {
            map = this.maps.get(insn.imm);
            if (!map) {
              throw new VmError('unknown-map', `map fd ${insn.imm} is not one of the run's maps`, 'create the map with createVmMap / VmMap.create and pass it in options.maps (or assemble the program with it)', i, this.#safeText(insns, i));
            }
            if (insn.src === PseudoLdImm64.MAP_VALUE) {
              try { map.directValue(next.imm); } catch (e) { throw bad((e as Error).message); }
            }
          } else {
            throw bad(`ld_imm64 with src = ${insn.src} (BTF ids, callbacks, fd_array) is not supported by the interpreter`);
          }
          break;
        }
        default:
          throw bad('unknown instruction class');
      }
      slots[i] = slot(insn, k64, k32, target, bytes, value64, map);
    }
    for (let t = 0; t < targets.length; t += 2) {
      const from = targets[t]!;
      const to = targets[t + 1]!;
      if (to < 0 || to >= n || second[to]) {
        throw new VmError('invalid-program', `jump out of range to ${to}${second[to] ? ' (the middle of a ld_imm64)' : ''}`, 'check the label or offset', from, this.#safeText(insns, from));
      }
    }
    const last = insns[n - 1]!;
    const lastSlot = second[n - 1] ? n - 2 : n - 1;
    if (second[n - 1] || !(last.code === (InsnClass.JMP | JmpOp.EXIT) || last.code === (InsnClass.JMP | JmpOp.JA) || last.code === (InsnClass.JMP32 | JmpOp.JA))) {
      throw new VmError('invalid-program', 'the last instruction is not an exit or a jump', 'end the program with exit', lastSlot, this.#safeText(insns, lastSlot));
    }
    return slots;
  }

  #safeText(insns: readonly Instruction[], i: number): string {
    try { return formatInstruction(insns, i); } catch { return ''; }
  }
}

/** One call frame: where to return, and the caller's callee-saved registers and stack. */
interface Frame {
  returnTo: number;
  saved: (VmValue | undefined)[];
  stack: Region;
}

/** The state of one run. */
class Machine implements VmHelperCall {
  readonly regs: (VmValue | undefined)[] = new Array(11).fill(undefined);
  readonly frames: Frame[] = [];
  readonly printk: string[] = [];
  readonly trace: VmTraceStep[] | undefined;
  executed = 0;
  args: (VmValue | undefined)[] = [];
  readonly task: VmHelperCall['task'];
  readonly cpu: number;
  readonly #budget: number;
  #random: number;
  #mayGoto = MAY_GOTO_BUDGET;
  /** Ring buffer reservations not yet released, with the slot that made them. */
  readonly #reservations = new Map<Region, number>();
  #pc = 0;
  #note: string | undefined;

  constructor(
    readonly program: VmProgram,
    readonly slots: Slot[],
    readonly helpers: Map<number, VmHelper>,
    readonly ctx: ContextModel,
    options: VmRunOptions,
    /** Stack regions by frame depth, reused across runs. */
    readonly stacks: Region[],
  ) {
    const t = options.task ?? {};
    const cgroupId = t.cgroupId ?? DEFAULT_TASK.cgroupId;
    const clock = t.ktimeNs;
    this.task = {
      pid: t.pid ?? DEFAULT_TASK.pid, tgid: t.tgid ?? t.pid ?? DEFAULT_TASK.tgid, uid: t.uid ?? DEFAULT_TASK.uid,
      gid: t.gid ?? DEFAULT_TASK.gid, comm: t.comm ?? DEFAULT_TASK.comm, cgroupId,
      ancestorCgroupIds: t.ancestorCgroupIds ?? (cgroupId === 1n ? [1n] : [1n, cgroupId]),
      kernelTask: t.kernelTask,
      ktimeNs: typeof clock === 'function' ? clock : clock !== undefined ? () => clock : () => process.hrtime.bigint(),
    };
    this.cpu = options.cpu ?? 0;
    this.#budget = options.budget ?? DEFAULT_BUDGET;
    this.#random = (options.seed ?? 1) >>> 0 || 1;
    if (options.trace) this.trace = [];
  }

  execute(): bigint {
    const regs = this.regs;
    regs[1] = new VmPointer(this.ctx.region, 0);
    regs[10] = this.#newFrame(-1, []);
    const slots = this.slots;
    const trace = this.trace;
    let before: (VmValue | undefined)[] = [];
    let pc = 0;
    try {
      for (;;) {
        this.#pc = pc;
        if (++this.executed > this.#budget) {
          throw fault('budget-exceeded', `the run executed ${this.#budget} instructions without finishing`, 'raise the budget, or look for a loop that does not end');
        }
        const d = slots[pc]!;
        if (trace) {
          before = regs.slice();
          this.#note = undefined;
        }
        const code = d.code;
        let next = pc + 1;
        switch (code & 0x07) {
          case InsnClass.ALU64:
            this.#alu64(d);
            break;
          case InsnClass.ALU:
            this.#alu32(d);
            break;
          case InsnClass.JMP:
          case InsnClass.JMP32: {
            const op = code & 0xf0;
            if (op === JmpOp.CALL) {
              if (d.src === PseudoCall.CALL) {
                next = this.#callLocal(d, pc);
              } else {
                this.#callHelper(d);
              }
            } else if (op === JmpOp.EXIT) {
              const r0 = this.#read(0);
              if (this.frames.length === 1) {
                if (trace) this.#record(pc, before);
                this.#checkReleased();
                return typeof r0 === 'bigint' ? r0 : this.#pointerReturn(r0);
              }
              if (typeof r0 !== 'bigint') throw fault('pointer-arithmetic', `a subprogram returns a pointer (${r0.toString()})`, 'the verifier wants a number in r0 at a subprogram\'s exit');
              next = this.#return();
            } else if (op === JmpOp.JA) {
              next = d.target;
            } else if (op === JmpOp.JCOND) {
              if (this.#mayGoto === 0) next = d.target;
              else this.#mayGoto--;
            } else if (this.#condition(d, (code & 0x07) === InsnClass.JMP32)) {
              next = d.target;
            }
            break;
          }
          case InsnClass.LDX: {
            const p = this.#address(d.src, 'load');
            let v = this.#load(p, d.off, d.bytes, (code & 0xe0) === Mode.MEM && d.bytes === 8);
            if ((code & 0xe0) === Mode.MEMSX && typeof v === 'bigint') v = BigInt.asUintN(64, BigInt.asIntN(d.bytes * 8, v));
            regs[d.dst] = v;
            break;
          }
          case InsnClass.ST:
            this.#store(this.#address(d.dst, 'store'), d.off, d.bytes, d.bytes === 8 ? d.k64 : d.k32, true);
            break;
          case InsnClass.STX:
            if ((code & 0xe0) === Mode.ATOMIC) this.#atomic(d);
            else this.#store(this.#address(d.dst, 'store'), d.off, d.bytes, this.#read(d.src), false);
            break;
          default: // LD: ld_imm64, the only LD the checks let through
            regs[d.dst] = d.map === undefined ? d.value64
              : d.src === PseudoLdImm64.MAP_FD ? new VmPointer(this.program.mapRegion(d.map), 0)
              : new VmPointer(d.map.directValue(slots[pc + 1]!.imm), slots[pc + 1]!.imm);
            next = pc + 2;
        }
        if (trace) this.#record(pc, before);
        pc = next;
      }
    } catch (e) {
      if (e instanceof VmError && e.index === undefined) {
        throw new VmError(e.kind, e.problem, e.fix, this.#pc, this.program.text(this.#pc));
      }
      throw e;
    }
  }

  // ---- registers ------------------------------------------------------------------------------

  #read(r: number): VmValue {
    const v = this.regs[r];
    if (v === undefined) {
      throw fault('uninitialised-register', `r${r} is read before it is written${this.frames.length > 1 && r >= 6 && r <= 9 ? ' (a subprogram does not see its caller\'s r6-r9)' : ''}`, r >= 1 && r <= 5 ? 'calls clobber r1-r5: keep values across calls in r6-r9 or on the stack' : 'write the register first');
    }
    return v;
  }

  #scalarReg(r: number): bigint {
    const v = this.#read(r);
    if (typeof v !== 'bigint') throw fault('pointer-arithmetic', `r${r} holds a pointer (${v.toString()}) where a number is needed`, '');
    return v;
  }

  /** The pointer in register `r` for a load or store; NULL and other scalars fault. */
  #address(r: number, what: string): VmPointer {
    const v = this.#read(r);
    if (typeof v === 'bigint') {
      if (v === 0n) throw fault('null-pointer', `${what} through r${r}, which is NULL (0)`, 'check the pointer against 0 first (a map lookup that finds nothing returns NULL)');
      throw fault('invalid-pointer', `${what} through r${r}, which holds the number ${formatScalar(v)}, not a pointer`, 'only pointers from r1 (ctx), r10 (stack), map lookups and ring buffer reservations can be dereferenced');
    }
    return v;
  }

  // ---- ALU ------------------------------------------------------------------------------------

  #alu64(d: Slot): void {
    const op = d.code & 0xf0;
    const x = (d.code & 0x08) !== 0;
    const regs = this.regs;
    if (op === AluOp.MOV) {
      if (!x) { regs[d.dst] = d.k64; return; }
      const v = this.#read(d.src);
      if (d.off === 0) { regs[d.dst] = v; return; }
      if (typeof v !== 'bigint') throw fault('pointer-arithmetic', `sign-extending move of a pointer (${v.toString()})`, '');
      regs[d.dst] = BigInt.asUintN(64, BigInt.asIntN(d.off, v));
      return;
    }
    if (op === AluOp.END) {
      regs[d.dst] = bswap(this.#scalarReg(d.dst), d.imm);
      return;
    }
    const a = this.#read(d.dst);
    if (op === AluOp.NEG) {
      if (typeof a !== 'bigint') throw fault('pointer-arithmetic', `negating a pointer (${a.toString()})`, '');
      regs[d.dst] = BigInt.asUintN(64, -a);
      return;
    }
    const b = x ? this.#read(d.src) : d.k64;
    if (typeof a === 'bigint' && typeof b === 'bigint') {
      regs[d.dst] = alu64(op, a, b, d.off === 1);
      return;
    }
    regs[d.dst] = pointerArithmetic(op, a, b);
  }

  #alu32(d: Slot): void {
    const op = d.code & 0xf0;
    const x = (d.code & 0x08) !== 0;
    const regs = this.regs;
    if (op === AluOp.END) {
      const v = this.#scalarReg(d.dst);
      if (d.code & 0x08) regs[d.dst] = bswap(v, d.imm);
      else regs[d.dst] = d.imm === 64 ? v : v & ((1n << BigInt(d.imm)) - 1n);
      return;
    }
    if (op === AluOp.MOV) {
      if (!x) { regs[d.dst] = d.k32; return; }
      const v = this.#read(d.src);
      if (typeof v !== 'bigint') throw fault('pointer-arithmetic', `32-bit move of a pointer (${v.toString()})`, 'a 32-bit copy keeps only half of the address; use a 64-bit mov');
      regs[d.dst] = d.off === 0 ? v & M32 : BigInt.asUintN(32, BigInt.asIntN(d.off, v));
      return;
    }
    const a = this.#read(d.dst);
    if (typeof a !== 'bigint') throw fault('pointer-arithmetic', `32-bit arithmetic on a pointer (${a.toString()})`, 'use 64-bit operations on pointers');
    if (op === AluOp.NEG) { regs[d.dst] = BigInt.asUintN(32, -a); return; }
    const b = x ? this.#read(d.src) : d.k32;
    if (typeof b !== 'bigint') throw fault('pointer-arithmetic', `32-bit arithmetic with a pointer (${b.toString()})`, '');
    regs[d.dst] = alu32(op, a & M32, b & M32, d.off === 1);
  }

  // ---- jumps ----------------------------------------------------------------------------------

  #condition(d: Slot, is32: boolean): boolean {
    const op = d.code & 0xf0;
    const a = this.#read(d.dst);
    const b = (d.code & 0x08) !== 0 ? this.#read(d.src) : is32 ? d.k32 : d.k64;
    if (typeof a === 'bigint' && typeof b === 'bigint') return compare(op, a, b, is32);
    if (is32) throw fault('pointer-arithmetic', 'a 32-bit comparison with a pointer', 'compare pointers with 64-bit jumps');
    return comparePointers(op, a, b);
  }

  // ---- memory ---------------------------------------------------------------------------------

  #load(p: VmPointer, extra: number, size: number, mayBePointer: boolean): VmValue {
    const r = p.region;
    if (r.kind === 'ctx') return this.ctx.load(p.off, extra, size);
    const off = p.off + extra;
    if (r.kind === 'stack') {
      if (off % size !== 0) throw fault('misaligned', `misaligned stack access: ${size} bytes at fp${off - r.size}`, `align it to ${size} bytes`);
      if (mayBePointer && r.spills!.size) {
        const spilled = r.spills!.get(off);
        if (spilled) return spilled;
      }
    }
    checkAccess(p, extra, size, false, `load of ${size} bytes`);
    // A pointer member of a kernel object: the verifier types the load as a BTF pointer too.
    if (r.kind === 'kernel' && size === 8 && mayBePointer) { const to = r.pointers?.get(off); if (to) return to; }
    return readUnsigned(r.view, off, size);
  }

  #store(p: VmPointer, extra: number, size: number, value: VmValue, viaImmediate: boolean): void {
    const r = p.region;
    if (r.kind === 'ctx') {
      if (typeof value !== 'bigint') throw fault('pointer-arithmetic', `storing a pointer (${value.toString()}) into the context`, '');
      this.ctx.store(p.off, extra, size, value, viaImmediate);
      if (this.trace) this.#note = `ctx${extra >= 0 ? '+' : ''}${extra} = ${formatScalar(value)}`;
      return;
    }
    const off = p.off + extra;
    if (r.kind === 'stack' && off % size !== 0) throw fault('misaligned', `misaligned stack access: ${size} bytes at fp${off - r.size}`, `align it to ${size} bytes`);
    checkAccess(p, extra, size, true, `store of ${size} bytes`);
    if (typeof value !== 'bigint') {
      if (r.kind !== 'stack') throw fault('pointer-arithmetic', `storing a pointer (${value.toString()}) into ${r.label}`, 'only the stack can hold pointers (the value would be a kernel address)');
      if (size !== 8) throw fault('pointer-arithmetic', `a ${size}-byte store of a pointer (${value.toString()})`, 'spill pointers with 8-byte stores');
      markWritten(r, off, size);
      r.spills!.set(off, value);
      r.bytes.fill(0, off, off + 8);
    } else {
      markWritten(r, off, size);
      writeUnsigned(r.view, off, size, value);
    }
    if (this.trace) this.#note = `*(u${size * 8} *)(${new VmPointer(r, off).toString()}) = ${formatValue(value)}`;
  }

  #atomic(d: Slot): void {
    const size = d.bytes;
    const aop = d.imm;
    if (aop === AtomicOp.LOAD_ACQ) {
      this.regs[d.dst] = this.#load(this.#address(d.src, 'load-acquire'), d.off, size, size === 8);
      return;
    }
    const p = this.#address(d.dst, 'atomic operation');
    const r = p.region;
    if (aop === AtomicOp.STORE_REL) {
      this.#store(p, d.off, size, this.#read(d.src), false);
      return;
    }
    if (r.kind === 'ctx') throw fault('invalid-context-access', 'atomic operation on the context', 'the verifier rejects it');
    const off = p.off + d.off;
    if (off % size !== 0) throw fault('misaligned', `misaligned atomic access: ${size} bytes at ${new VmPointer(r, off).toString()}`, `align it to ${size} bytes`);
    checkAccess(p, d.off, size, false, `atomic operation on ${size} bytes`);
    checkAccess(p, d.off, size, true, `atomic operation on ${size} bytes`);
    const mask = size === 8 ? (1n << 64n) - 1n : M32;
    const old = readUnsigned(r.view, off, size);
    const src = this.#scalarReg(d.src);
    let stored: bigint | undefined;
    if (aop === AtomicOp.CMPXCHG) {
      const expected = this.#scalarReg(0) & mask;
      if (old === expected) stored = src & mask;
      this.regs[0] = old;
    } else if (aop === AtomicOp.XCHG) {
      stored = src & mask;
      this.regs[d.src] = old;
    } else {
      const base = aop & ~AtomicOp.FETCH;
      stored = (base === AtomicOp.ADD ? old + src : base === AtomicOp.AND ? old & src : base === AtomicOp.OR ? old | src : old ^ src) & mask;
      if (aop & AtomicOp.FETCH) this.regs[d.src] = old;
    }
    if (stored !== undefined) {
      writeUnsigned(r.view, off, size, stored);
      markWritten(r, off, size);
    }
    if (this.trace && stored !== undefined) this.#note = `*(u${size * 8} *)(${new VmPointer(r, off).toString()}) = ${formatScalar(stored)}`;
  }

  // ---- calls ----------------------------------------------------------------------------------

  #newFrame(returnTo: number, saved: (VmValue | undefined)[]): VmPointer {
    const depth = this.frames.length;
    if (depth >= MAX_FRAMES) throw fault('call-depth', `calls nested more than ${MAX_FRAMES} frames deep`, 'the kernel allows 8 frames: flatten the calls');
    let stack = this.stacks[depth];
    if (stack) {
      stack.resetStack();
    } else {
      stack = new Region('stack', depth === 0 ? 'fp' : `fp${depth}`, new Uint8Array(STACK_SIZE), true);
      this.stacks[depth] = stack;
    }
    this.frames.push({ returnTo, saved, stack });
    return new VmPointer(stack, STACK_SIZE);
  }

  #callLocal(d: Slot, pc: number): number {
    const regs = this.regs;
    const saved = regs.slice(6, 11);
    const fp = this.#newFrame(pc + 1, saved);
    regs[0] = undefined;
    for (let r = 6; r <= 9; r++) regs[r] = undefined;
    regs[10] = fp;
    return d.target;
  }

  #return(): number {
    const frame = this.frames.pop()!;
    const regs = this.regs;
    for (let r = 6; r <= 10; r++) regs[r] = frame.saved[r - 6];
    for (const r of CALLER_SAVED) regs[r] = undefined;
    return frame.returnTo;
  }

  #callHelper(d: Slot): void {
    const fn = this.helpers.get(d.imm)!;
    const regs = this.regs;
    this.args = regs.slice(1, 6);
    const r0 = fn(this);
    regs[0] = r0;
    for (const r of CALLER_SAVED) regs[r] = undefined;
    if (this.trace) {
      const name = helperName(d.imm) ?? `#${d.imm}`;
      const args = this.args.map((a) => (a === undefined ? '_' : formatValue(a)));
      while (args.length && args[args.length - 1] === '_') args.pop();
      this.#note = `${name}(${args.join(', ')})${r0 === undefined ? '' : ` = ${formatValue(r0)}`}`;
    }
  }

  #pointerReturn(p: VmPointer): never {
    throw fault('pointer-arithmetic', `the program returns a pointer (${p.toString()})`, 'return a number');
  }

  #checkReleased(): void {
    for (const [, at] of this.#reservations) {
      throw fault('helper', `the ring buffer record reserved at instruction ${at} was neither submitted nor discarded`, 'release every reservation on every path (the verifier rejects the leak)');
    }
  }

  #record(pc: number, before: (VmValue | undefined)[]): void {
    const changes: { register: number; value: string }[] = [];
    for (let r = 0; r <= 10; r++) {
      const v = this.regs[r];
      if (v !== before[r] && v !== undefined) changes.push({ register: r, value: formatValue(v) });
    }
    const step: VmTraceStep = { index: pc, frame: this.frames.length - 1, text: this.program.text(pc), changes };
    if (this.#note !== undefined) step.note = this.#note;
    this.trace!.push(step);
  }

  // ---- VmHelperCall -------------------------------------------------------------------------

  #arg(n: number): VmValue {
    const v = this.args[n - 1];
    if (v === undefined) throw fault('uninitialised-register', `helper argument r${n} is not initialised`, 'set every argument the helper takes');
    return v;
  }

  scalar(n: number): bigint {
    const v = this.#arg(n);
    if (typeof v !== 'bigint') throw fault('helper', `helper argument r${n} is a pointer (${v.toString()}), a number is expected`, '');
    return v;
  }

  pointer(n: number): VmPointer {
    const v = this.#arg(n);
    if (typeof v === 'bigint') {
      throw fault(v === 0n ? 'null-pointer' : 'invalid-pointer', `helper argument r${n} is ${v === 0n ? 'NULL' : `the number ${formatScalar(v)}`}, a pointer is expected`, v === 0n ? 'check the pointer against 0 before passing it' : '');
    }
    return v;
  }

  size(n: number, allowZero: boolean, limit = 0x7fff_ffff): number {
    const v = this.scalar(n);
    if (v === 0n && !allowZero) throw fault('helper', `helper size argument r${n} is 0`, 'the verifier requires a size greater than 0');
    if (v > BigInt(limit)) throw fault('helper', `helper size argument r${n} is ${formatScalar(v)}`, 'the verifier requires a bounded size');
    return Number(v);
  }

  #helperMemory(n: number, len: number, write: boolean): { region: Region; off: number } {
    const p = this.pointer(n);
    const r = p.region;
    if (r.kind === 'ctx' && !this.ctx.helperAccess) {
      throw fault('helper', `helper argument r${n} points at the context`, 'pass a buffer on the stack or in a map value');
    }
    const off = checkAccess(p, 0, len, write, `helper ${write ? 'write' : 'read'} through r${n}`);
    return { region: r, off };
  }

  read(n: number, len: number): Buffer {
    const { region, off } = this.#helperMemory(n, len, false);
    return Buffer.from(region.bytes.subarray(off, off + len));
  }

  write(n: number, bytes: Uint8Array): void {
    const { region, off } = this.#helperMemory(n, bytes.length, true);
    region.bytes.set(bytes, off);
    markWritten(region, off, bytes.length);
  }

  map(n: number): VmMap {
    const p = this.#arg(n);
    if (typeof p === 'bigint' || p.region.kind !== 'map' || p.off !== 0) {
      throw fault('helper', `helper argument r${n} is ${formatValue(p)}, a map is expected`, 'load the map with ld_imm64 (ldMapFd) into the argument register');
    }
    return p.region.owner as VmMap;
  }

  context(n: number): ContextModel {
    const p = this.#arg(n);
    if (typeof p === 'bigint' || p.region !== this.ctx.region || p.off !== 0) {
      throw fault('helper', `helper argument r${n} is ${formatValue(p)}, the context is expected`, 'pass the pointer the program got in r1 (keep it in r6 across calls)');
    }
    return this.ctx;
  }

  random(): number {
    // xorshift32: deterministic per seed, as tests need.
    let x = this.#random;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.#random = x;
    return x;
  }

  print(line: string): void {
    this.printk.push(line);
  }

  reserved(region: Region): void {
    this.#reservations.set(region, this.#pc);
  }

  released(region: Region): void {
    this.#reservations.delete(region);
  }
}

// ---- arithmetic ---------------------------------------------------------------------------------

/** A 64-bit ALU operation on unsigned 64-bit values; `signed` selects sdiv / smod (off = 1). */
export function alu64(op: number, a: bigint, b: bigint, signed = false): bigint {
  switch (op) {
    case AluOp.ADD: return BigInt.asUintN(64, a + b);
    case AluOp.SUB: return BigInt.asUintN(64, a - b);
    case AluOp.MUL: return BigInt.asUintN(64, a * b);
    case AluOp.DIV:
      if (b === 0n) return 0n;
      return signed ? BigInt.asUintN(64, BigInt.asIntN(64, a) / BigInt.asIntN(64, b)) : a / b;
    case AluOp.MOD:
      if (b === 0n) return a;
      return signed ? BigInt.asUintN(64, BigInt.asIntN(64, a) % BigInt.asIntN(64, b)) : a % b;
    case AluOp.OR: return a | b;
    case AluOp.AND: return a & b;
    case AluOp.XOR: return a ^ b;
    case AluOp.LSH: return BigInt.asUintN(64, a << (b & 63n));
    case AluOp.RSH: return a >> (b & 63n);
    case AluOp.ARSH: return BigInt.asUintN(64, BigInt.asIntN(64, a) >> (b & 63n));
    default: throw new Error(`alu64: operation 0x${op.toString(16)} is not binary`);
  }
}

/** A 32-bit ALU operation on the low halves; the result is zero-extended. */
export function alu32(op: number, a: bigint, b: bigint, signed = false): bigint {
  a &= M32;
  b &= M32;
  switch (op) {
    case AluOp.ADD: return (a + b) & M32;
    case AluOp.SUB: return BigInt.asUintN(32, a - b);
    case AluOp.MUL: return (a * b) & M32;
    case AluOp.DIV:
      if (b === 0n) return 0n;
      return signed ? BigInt.asUintN(32, BigInt.asIntN(32, a) / BigInt.asIntN(32, b)) : a / b;
    case AluOp.MOD:
      if (b === 0n) return a;
      return signed ? BigInt.asUintN(32, BigInt.asIntN(32, a) % BigInt.asIntN(32, b)) : a % b;
    case AluOp.OR: return a | b;
    case AluOp.AND: return a & b;
    case AluOp.XOR: return a ^ b;
    case AluOp.LSH: return (a << (b & 31n)) & M32;
    case AluOp.RSH: return a >> (b & 31n);
    case AluOp.ARSH: return BigInt.asUintN(32, BigInt.asIntN(32, a) >> (b & 31n));
    default: throw new Error(`alu32: operation 0x${op.toString(16)} is not binary`);
  }
}

/** bswap16/32/64: the low `bits` bits byte-reversed, zero-extended. */
export function bswap(v: bigint, bits: number): bigint {
  let out = 0n;
  for (let i = 0; i < bits / 8; i++) out = (out << 8n) | ((v >> BigInt(i * 8)) & 0xffn);
  return out;
}

/** A jump condition on scalars; JMP32 compares the low halves. */
export function compare(op: number, a: bigint, b: bigint, is32: boolean): boolean {
  const bits = is32 ? 32 : 64;
  if (is32) { a &= M32; b &= M32; }
  switch (op) {
    case JmpOp.JEQ: return a === b;
    case JmpOp.JNE: return a !== b;
    case JmpOp.JGT: return a > b;
    case JmpOp.JGE: return a >= b;
    case JmpOp.JLT: return a < b;
    case JmpOp.JLE: return a <= b;
    case JmpOp.JSET: return (a & b) !== 0n;
    case JmpOp.JSGT: return BigInt.asIntN(bits, a) > BigInt.asIntN(bits, b);
    case JmpOp.JSGE: return BigInt.asIntN(bits, a) >= BigInt.asIntN(bits, b);
    case JmpOp.JSLT: return BigInt.asIntN(bits, a) < BigInt.asIntN(bits, b);
    case JmpOp.JSLE: return BigInt.asIntN(bits, a) <= BigInt.asIntN(bits, b);
    default: throw new Error(`compare: operation 0x${op.toString(16)} is not a condition`);
  }
}

/**
 * Comparisons involving pointers that have a kernel-exact answer: a pointer against NULL (a valid
 * pointer is never 0, so JEQ is false and JNE, JGT true), and two pointers into the same memory
 * (their offsets). Anything else depends on kernel addresses and faults.
 */
function comparePointers(op: number, a: VmValue, b: VmValue): boolean {
  if (a instanceof VmPointer && b instanceof VmPointer) {
    if (a.region === b.region) return compare(op, BigInt(a.off), BigInt(b.off), false);
    if (op === JmpOp.JEQ) return false;
    if (op === JmpOp.JNE) return true;
    throw fault('pointer-arithmetic', `comparing pointers into different memory (${a.toString()}, ${b.toString()})`, 'only == and != have a defined answer');
  }
  const [p, s, swapped] = a instanceof VmPointer ? [a, b as bigint, false] : [b as VmPointer, a as bigint, true];
  if (s !== 0n) throw fault('pointer-arithmetic', `comparing a pointer (${p.toString()}) with the number ${formatScalar(s)}`, 'compare pointers with 0 only');
  // p vs 0 (or 0 vs p when swapped): p is a non-zero unsigned value.
  switch (op) {
    case JmpOp.JEQ: return false;
    case JmpOp.JNE: return true;
    case JmpOp.JGT: return !swapped;
    case JmpOp.JGE: return !swapped;
    case JmpOp.JLT: return swapped;
    case JmpOp.JLE: return swapped;
    case JmpOp.JSET: return false;
    default:
      throw fault('pointer-arithmetic', `a signed comparison of a pointer (${p.toString()}) with 0`, 'test pointers with == 0 / != 0');
  }
}

/** ptr += scalar, ptr -= scalar, scalar + ptr, ptr - ptr (same memory: the distance). */
function pointerArithmetic(op: number, a: VmValue, b: VmValue): VmValue {
  if (op === AluOp.ADD || op === AluOp.SUB) {
    if (a instanceof VmPointer && typeof b === 'bigint') return movePointer(a, op === AluOp.ADD ? BigInt.asIntN(64, b) : -BigInt.asIntN(64, b));
    if (op === AluOp.ADD && typeof a === 'bigint' && b instanceof VmPointer) return movePointer(b, BigInt.asIntN(64, a));
    if (op === AluOp.SUB && a instanceof VmPointer && b instanceof VmPointer && a.region === b.region) return BigInt.asUintN(64, BigInt(a.off - b.off));
  }
  const name = Object.entries(AluOp).find(([, v]) => v === op)?.[0].toLowerCase() ?? 'alu';
  throw fault('pointer-arithmetic', `${name} on a pointer (${formatValue(a)}, ${formatValue(b)})`, 'pointers can only move by adding or subtracting a number');
}

function movePointer(p: VmPointer, by: bigint): VmPointer {
  const off = BigInt(p.off) + by;
  if (off <= -BigInt(MAX_POINTER_OFFSET) || off >= BigInt(MAX_POINTER_OFFSET)) {
    throw fault('pointer-arithmetic', `moving ${p.toString()} by ${by} takes it out of any valid range`, 'the verifier refuses pointer offsets beyond ±2^29');
  }
  return new VmPointer(p.region, Number(off));
}
