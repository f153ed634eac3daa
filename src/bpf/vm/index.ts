/**
 * An in-process eBPF interpreter: runs the bytecode the assembler produces (or any struct bpf_insn
 * bytes) without root and without a kernel, with the kernel's semantics, so that a policy can be
 * tested, explained and compared with the kernel's verdicts anywhere.
 *
 * ```ts
 * import { Assembler, R0, R1, R2, R3, R4, R6, R10 } from '../asm/index.js';
 * import { runProgram } from './index.js';
 *
 * const prog = new Assembler()
 *   .mov(R6, R1)
 *   .st('u64', R10, -8, 0).mov(R2, R10).add(R2, -8)                   // char buf[8] = {}
 *   .mov(R1, R6).mov(R3, 8).mov(R4, 1).call('sysctl_get_name')         // base name, 8 bytes
 *   .ldx('u32', R0, R6, 0).xor(R0, 1)                                  // allow reads only
 *   .exit()
 *   .assemble();
 * const r = runProgram(prog, {
 *   ctx: { kind: 'sysctl', name: 'kernel/hostname', write: true, newValue: 'evil\n', currentValue: 'box\n' },
 * });
 * r.returnValue;   // 0n: refused
 * r.allowed;       // false
 * ```
 *
 * ## Running
 *
 * - `runProgram(program, options)` checks and runs once. `program` is an AssembledProgram (its VM
 *   maps are found by themselves), the instruction slots, or the wire bytes.
 * - `new VmProgram(program, { maps, mapsByFd, helpers })` checks once; `.run(options)` runs it
 *   many times (maps persist between runs, as kernel maps do). Checking throws a VmError for what the
 *   verifier would refuse up front: unknown opcodes, jumps out of range or into a ld_imm64,
 *   reserved fields, division by a constant 0, a missing exit, unknown map fds, unimplemented
 *   helpers.
 * - Options: `ctx` (a sysctl access, or `{ kind: 'bytes', bytes }` for other program types),
 *   `task` (pid, tgid, uid, gid, comm, cgroup ids, clock), `cpu`, `budget` (instructions,
 *   default 1,000,000), `trace`, `seed` (get_prandom_u32).
 * - The result: `returnValue` (r0, unsigned 64-bit), `instructionsExecuted`, `printk`
 *   (trace_printk lines), `trace` when asked (see `formatTrace`), `ctxBytes` for a bytes context;
 *   for a sysctl context also `allowed`, `filePos` (after the program's stores to file_pos),
 *   `newValue` (what the sysctl's handler would parse: the set_new_value override when the write
 *   was allowed, else the bytes written) and `newValueUpdated`.
 *
 * ## Semantics
 *
 * Registers hold unsigned 64-bit bigints or typed pointers (stack of a frame, context, map value,
 * map, ring buffer record). Arithmetic is exact: 32-bit operations zero-extend, shifts are masked
 * (& 63 / & 31), division by zero gives 0 and modulo by zero leaves dst (its low half for 32-bit),
 * sdiv / smod / movsx / bswap / ldsx / gotol / atomics (add, and, or, xor, with and without fetch;
 * xchg; cmpxchg; load-acquire, store-release) as the kernel defines them. bpf-to-bpf calls get a
 * new 512-byte stack; r6-r9 are restored on return, r1-r5 are clobbered by every call.
 *
 * Every access is checked, and a bad one throws a VmError naming the instruction (index and
 * disassembly), the problem and the fix: reading a register or stack bytes never written, out of
 * bounds, through NULL or a scalar, misaligned stack or atomic access, stores into ctx->write, a
 * BPF_ST into the context, pointer arithmetic other than ± a number, comparing a pointer with
 * anything but 0 or a pointer into the same memory, ring buffer records used after submit or
 * never released, a cgroup-sysctl program returning anything but 0 or 1, running past the budget.
 *
 * ## Maps
 *
 * `createVmMap(spec)` (bytes) or `VmMap.create({ type, key, value, maxEntries })` (codecs, like
 * BpfMap.create) make HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY (`cpus`, default 1), LPM_TRIE,
 * QUEUE, STACK maps; `createVmRingBuf(sizeBytes)` a RINGBUF. Each has a fake `fd`, so the Assembler
 * takes it where it takes a kernel map; `mapsByFd` binds VM maps to other fds (a program built with
 * kernel maps, or raw bytes), so the same instructions run in the kernel and here. User space
 * gets bpf(2)'s behaviour: lookup (undefined when absent), update (VmMapError with code E2BIG
 * when a hash is full, ENOSPC for an LPM trie, EEXIST / ENOENT with NOEXIST / EXIST, EINVAL for
 * bad flags or prefix lengths), delete (false when absent), nextKey (LPM tries in the kernel's
 * post-order, hashes in insertion order). Values a program looks up are live: its stores and
 * atomics are seen by later lookups and by user space.
 * Ring buffers count 8 bytes of header per record, rounded up to 8, and refuse a record when the
 * unconsumed bytes would pass size - 1, as the kernel does; `drain()` / `takeRecords()` consume.
 *
 * ## Helpers
 *
 * map_lookup_elem / update / delete, map_push / pop / peek_elem, map_lookup_percpu_elem,
 * ringbuf_output / reserve / submit / discard / query, ktime_get_ns (and boot, coarse),
 * get_prandom_u32, get_smp_processor_id, get_numa_node_id, get_current_pid_tgid / uid_gid / comm /
 * cgroup_id / ancestor_cgroup_id, trace_printk, and the cgroup-sysctl helpers with every edge case
 * of the kernel's (sysctl_get_name with and without BPF_F_SYSCTL_BASE_NAME, get_current_value,
 * get_new_value, set_new_value, strtol, strtoul). Add or replace helpers with
 * `helpers: { name: (call) => result }` (see VmHelperCall).
 *
 * What it is not: a verifier. It checks what one run does, on the path that run takes; a program
 * the interpreter runs may still be refused by the kernel on another path or for its complexity.
 */

export { VmProgram, alu32, alu64, bswap, compare } from './interpreter.js';
export { loadVmCollection, type VmCollection } from './collection.js';
export type {
  VmMapInput, VmProgramInput, VmProgramOptions, VmRunOptions, VmRunResult, VmSysctlRunResult, VmTraceStep,
} from './interpreter.js';
export { SYSCTL_PAGE_SIZE } from './context.js';
export type { VmBytesContext, VmContext, VmSysctlContext } from './context.js';
export { Errno, VmError, VmMapError } from './errors.js';
export type { ErrnoName, VmErrorKind } from './errors.js';
export { BUILTIN_HELPERS, DEFAULT_TASK, kernelStrtol, kernelStrtoul, kernelStrtoull } from './helpers.js';
export type { VmHelper, VmHelperCall, VmKernelObject, VmTask } from './helpers.js';
export {
  RINGBUF_HEADER_BYTES, TypedVmMap, VM_F_NO_PREALLOC, VM_F_RDONLY_PROG, VM_PAGE_SIZE, VmArrayMap, VmHashMap,
  VmLpmTrie, VmMap, VmMapUpdate, VmQueueMap, VmRingBuf, createVmMap, createVmRingBuf,
} from './maps.js';
export type { VmMapSpec, VmMapType, VmMapValue, VmRingBufStats, VmTypedMapSpec } from './maps.js';
export { Region, STACK_SIZE, VmPointer, formatScalar, formatValue } from './memory.js';
export type { RegionKind, VmValue } from './memory.js';
export { ProgramTextError, formatTrace, parseProgramFile, parseProgramHex } from './text.js';

import type { VmSysctlContext } from './context.js';
import {
  VmProgram, type VmProgramInput, type VmProgramOptions, type VmRunOptions, type VmRunResult, type VmSysctlRunResult,
} from './interpreter.js';

/** Checks and runs `program` once; see the module comment for the options and the result. */
export function runProgram(program: VmProgramInput, options: VmRunOptions & VmProgramOptions & { ctx: VmSysctlContext }): VmSysctlRunResult;
export function runProgram(program: VmProgramInput, options?: VmRunOptions & VmProgramOptions): VmRunResult;
export function runProgram(program: VmProgramInput, options: VmRunOptions & VmProgramOptions = {}): VmRunResult {
  const { maps, mapsByFd, helpers, ...run } = options;
  const prepared = new VmProgram(program, { ...(maps ? { maps } : {}), ...(mapsByFd ? { mapsByFd } : {}), ...(helpers ? { helpers } : {}) });
  return prepared.run(run);
}
