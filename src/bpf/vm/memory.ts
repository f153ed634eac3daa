// The interpreter's memory model. A register holds a scalar (a bigint, 0..2^64-1) or a pointer: a
// region of memory and a byte offset into it. Regions are typed like the verifier's pointer types
// (stack, context, map value, map, ring buffer record, helper memory), so every load and store is
// checked against the region's bounds, its access rules and, for the stack, which bytes were
// written. Nothing is ever read from outside a region: a bad access is a VmError, never garbage.

import { VmError } from './errors.js';

export type RegionKind =
  /** 512 bytes of one call frame; r10 points at its end. */
  | 'stack'
  /** The program's context (r1 at entry). */
  | 'ctx'
  /** A map element's value: live memory, shared with the map. */
  | 'map_value'
  /** A map itself (ld_imm64 of a map fd): only helpers may use it. */
  | 'map'
  /** A ring buffer reservation, valid until it is submitted or discarded. */
  | 'ringbuf_mem'
  /** Other memory a helper or the caller provides. */
  | 'mem'
  /** A kernel object reached through a BTF pointer (get_current_task_btf): read-only. */
  | 'kernel';

/** The kernel's stack size per frame (MAX_BPF_STACK). */
export const STACK_SIZE = 512;

export class Region {
  #view: DataView | undefined;
  /** Cleared when the memory stops being valid (a submitted ring buffer record). */
  live = true;
  /** Stack only: 1 for each byte written since the frame began. */
  readonly init: Uint8Array | undefined;
  /** Stack only: pointers spilled to 8-byte aligned slots, by region offset. */
  readonly spills: Map<number, VmPointer> | undefined;
  /** Kernel objects only: the pointer members (to other kernel objects), by offset. */
  pointers: Map<number, VmPointer> | undefined;

  constructor(
    readonly kind: RegionKind,
    /** How traces and errors name it: `fp`, `ctx`, `map_value(counts)`. */
    readonly label: string,
    readonly bytes: Uint8Array,
    /** Whether the program may store into it. */
    readonly writable: boolean,
    /** The map of a `map` or `map_value` region. */
    readonly owner?: unknown,
  ) {
    if (kind === 'stack') {
      this.init = new Uint8Array(bytes.length);
      this.spills = new Map();
    }
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Made on first use: most regions (map values looked up only to be passed on) never need one. */
  get view(): DataView {
    return (this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  /** A stack region starts every frame with nothing written and nothing spilled. */
  resetStack(): void {
    this.init!.fill(0);
    this.spills!.clear();
  }
}

/** Zeroed bytes from Node's buffer pool (Buffer.alloc makes a new ArrayBuffer every time: slow). */
export function zeroed(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

/** A pointer value: a region and a byte offset (which may be out of bounds until it is used). */
export class VmPointer {
  constructor(
    readonly region: Region,
    readonly off: number,
  ) {}

  /** `fp-8`, `ctx+0`, `map_value(counts)+16`. */
  toString(): string {
    const r = this.region;
    if (r.kind === 'stack') return `${r.label}${signed(this.off - r.size)}`;
    if (r.kind === 'map') return r.label;
    return `${r.label}${signed(this.off)}`;
  }
}

/** What a register holds; undefined for a register not written yet (or clobbered by a call). */
export type VmValue = bigint | VmPointer;

const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);

/** A scalar the way a person reads it: small values in decimal (negative ones signed), the rest in hex. */
export function formatScalar(value: bigint): string {
  const s = BigInt.asIntN(64, value);
  if (s >= -0x8000_0000n && s < 0x1_0000_0000n) return s.toString();
  return `0x${value.toString(16)}`;
}

export function formatValue(value: VmValue | undefined): string {
  if (value === undefined) return '(uninitialised)';
  return typeof value === 'bigint' ? formatScalar(value) : value.toString();
}

/** A fault without an instruction; the interpreter adds the index and disassembly. */
export function fault(kind: ConstructorParameters<typeof VmError>[0], problem: string, fix = ''): VmError {
  return new VmError(kind, problem, fix);
}

/**
 * Checks that [off, off + size) of the pointer's region may be accessed and returns the region
 * offset. `what` names the access in errors (`load of 8 bytes`, `helper buffer`).
 */
export function checkAccess(p: VmPointer, extra: number, size: number, write: boolean, what: string): number {
  const r = p.region;
  const off = p.off + extra;
  if (!r.live) {
    throw fault('invalid-pointer', `${what} through ${p.region.label}, which was already submitted or discarded`, 'use a ring buffer record only between ringbuf_reserve and its submit or discard');
  }
  if (r.kind === 'map') {
    throw fault('invalid-pointer', `${what} through a map pointer (${r.label})`, 'look the element up with map_lookup_elem and use the pointer it returns');
  }
  if (off < 0 || off + size > r.size || size < 0) {
    const where = r.kind === 'stack' ? `fp${signed(off - r.size)}` : `${r.label}${signed(off)}`;
    const room = r.kind === 'stack' ? `the stack is fp-${r.size}..fp-1` : `${r.label} has ${r.size} bytes`;
    throw fault('out-of-bounds', `${what} at ${where} (${size} bytes) is out of bounds: ${room}`, 'check the offset and size');
  }
  if (write && !r.writable) {
    throw fault('invalid-pointer', `${what} into ${r.label}, which is read-only for programs`, '');
  }
  if (r.kind === 'stack' && !write && size > 0) {
    const init = r.init!;
    for (let i = off; i < off + size; i++) {
      if (init[i] === 0) {
        const first = i - r.size;
        const at = `fp${signed(off - r.size)}`;
        throw fault('uninitialised-stack', `${what} at ${at} reads stack bytes never written${first !== off - r.size ? ` (from fp${signed(first)})` : ''}`, 'write the bytes before reading them (the verifier rejects this)');
      }
    }
    if (r.spills!.size) checkNoSpill(r, off, size, what);
  }
  return off;
}

/** Bytes of a spilled pointer cannot be read as data (they would be a kernel address). */
export function checkNoSpill(r: Region, off: number, size: number, what: string): void {
  for (const slot of r.spills!.keys()) {
    if (slot < off + size && off < slot + 8) {
      throw fault('pointer-arithmetic', `${what} reads part of a pointer spilled to fp${signed(slot - r.size)}`, 'load the whole 8-byte slot into a register');
    }
  }
}

/** Marks stack bytes written (and forgets pointers spilled where they were). */
export function markWritten(r: Region, off: number, size: number): void {
  if (r.kind !== 'stack') return;
  r.init!.fill(1, off, off + size);
  if (r.spills!.size) {
    for (const slot of [...r.spills!.keys()]) {
      if (slot < off + size && off < slot + 8) r.spills!.delete(slot);
    }
  }
}

export function readUnsigned(view: DataView, off: number, size: number): bigint {
  switch (size) {
    case 1: return BigInt(view.getUint8(off));
    case 2: return BigInt(view.getUint16(off, true));
    case 4: return BigInt(view.getUint32(off, true));
    default: return view.getBigUint64(off, true);
  }
}

export function writeUnsigned(view: DataView, off: number, size: number, value: bigint): void {
  switch (size) {
    case 1: view.setUint8(off, Number(value & 0xffn)); break;
    case 2: view.setUint16(off, Number(value & 0xffffn), true); break;
    case 4: view.setUint32(off, Number(value & 0xffff_ffffn), true); break;
    default: view.setBigUint64(off, BigInt.asUintN(64, value), true);
  }
}
