// Program contexts: what r1 points at when a program starts, and the access rules of its fields.
// cgroup-sysctl's struct bpf_sysctl is modelled field by field, as the kernel's
// sysctl_is_valid_access and sysctl_convert_ctx_access treat it (kernel/bpf/cgroup.c); other program
// types get a plain byte buffer.

import { Region, fault, readUnsigned, writeUnsigned } from './memory.js';

const EMPTY = new Uint8Array(0);

/** The kernel's PAGE_SIZE on the hosts sysward runs on; the limit of sysctl values. */
export const SYSCTL_PAGE_SIZE = 4096;

/** A cgroup-sysctl access, as the program sees it. */
export interface VmSysctlContext {
  kind: 'sysctl';
  /**
   * The name below /proc/sys with '/' separators, as bpf_sysctl_get_name returns it:
   * `kernel/hostname`, `net/ipv4/conf/eth0.100/forwarding`.
   */
  name: string;
  /** true for a write (ctx->write = 1), false for a read. */
  write: boolean;
  /** The file position of the access (ctx->file_pos); default 0. */
  filePos?: number;
  /**
   * The value a read of the sysctl at position 0 gives, with its trailing newline ("Linux\n");
   * null (or empty) when that read fails: the helper then returns -EINVAL with a zeroed buffer.
   */
  currentValue?: string | Uint8Array | null;
  /** The bytes written (a write only; at most a page is seen). Empty: the kernel passes no value. */
  newValue?: string | Uint8Array;
}

/** Any other program type: the context is these bytes (socket filters, tests of raw programs). */
export interface VmBytesContext {
  kind: 'bytes';
  bytes: Uint8Array;
  /** Whether stores into it are allowed (default true). Final bytes are returned in the result. */
  writable?: boolean;
}

export type VmContext = VmSysctlContext | VmBytesContext;

/** What the interpreter needs from a context: its region and its field access rules. */
export interface ContextModel {
  readonly region: Region;
  /** May helpers read or write it as plain memory? */
  readonly helperAccess: boolean;
  /** A load of `size` bytes at `ptrOff + insnOff`; throws a fault for accesses the verifier rejects. */
  load(ptrOff: number, insnOff: number, size: number): bigint;
  /** A store; `viaImmediate` for BPF_ST (which the verifier never allows into a context). */
  store(ptrOff: number, insnOff: number, size: number, value: bigint, viaImmediate: boolean): void;
}

const toBytes = (v: string | Uint8Array): Buffer => (typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));

/** struct bpf_sysctl_kern: the state the sysctl helpers read and write. */
export class SysctlState implements ContextModel {
  readonly region: Region;
  readonly helperAccess = false;
  readonly write: boolean;
  /** *ppos: the low 32 bits are ctx->file_pos. */
  filePos: number;
  readonly name: string;
  /** cur_val / cur_len: null when the read failed (cur_len = 0). */
  readonly currentValue: Buffer | null;
  /** new_val / new_len: null when there is no new value (a read, or an empty write). */
  newValue: Buffer | null;
  /** The value as written, before any set_new_value. */
  readonly writtenValue: Buffer | null;
  /** ctx->new_updated: set_new_value stored a value. */
  newUpdated = false;

  /** `region`: the memory r1 points at (a program reuses one across runs). */
  constructor(ctx: VmSysctlContext, region: Region = new Region('ctx', 'ctx', new Uint8Array(8), false)) {
    // Every sysctl lives in a directory below /proc/sys, so a name without '/' is a mistake (most
    // likely sysctl(8)'s dotted form, which is ambiguous: "eth0.100" is one segment).
    if (!ctx.name.includes('/') || ctx.name.startsWith('/') || ctx.name.endsWith('/')) {
      throw new RangeError(`sysctl name "${ctx.name}": give the name below /proc/sys with '/' separators, e.g. kernel/hostname (not kernel.hostname)`);
    }
    const pos = ctx.filePos ?? 0;
    if (!Number.isSafeInteger(pos) || pos < 0) throw new RangeError(`file position ${pos} is not a non-negative integer`);
    this.write = ctx.write;
    this.filePos = pos;
    this.name = ctx.name;
    const cur = ctx.currentValue == null ? null : toBytes(ctx.currentValue);
    // The kernel reads the current value into a page; a failed (or empty) read leaves cur_len 0.
    this.currentValue = cur === null || cur.length === 0 ? null : cur.subarray(0, SYSCTL_PAGE_SIZE);
    const written = ctx.write && ctx.newValue !== undefined ? toBytes(ctx.newValue) : null;
    // new_len = min(PAGE_SIZE, count); no value at all for a write of 0 bytes.
    this.newValue = written === null || written.length === 0 ? null : written.subarray(0, SYSCTL_PAGE_SIZE);
    this.writtenValue = this.newValue;
    this.region = region;
  }

  /** The base name (BPF_F_SYSCTL_BASE_NAME) or the full name. */
  nameFor(baseOnly: boolean): string {
    return baseOnly ? this.name.slice(this.name.lastIndexOf('/') + 1) : this.name;
  }

  load(ptrOff: number, insnOff: number, size: number): bigint {
    const off = this.#check(ptrOff, insnOff, size, 'load');
    // Narrow loads read part of the u32 field (little-endian), as bpf_ctx_narrow_access_offset does.
    const field = off < 4 ? (this.write ? 1 : 0) : this.filePos % 0x1_0000_0000;
    const shifted = Math.floor(field / 2 ** ((off % 4) * 8));
    return BigInt(size === 4 ? shifted : shifted % 2 ** (size * 8));
  }

  store(ptrOff: number, insnOff: number, size: number, value: bigint, viaImmediate: boolean): void {
    const off = this.#check(ptrOff, insnOff, size, 'store');
    if (viaImmediate) {
      throw fault('invalid-context-access', 'BPF_ST (a store of an immediate) into the context', 'the verifier rejects it: move the value into a register and store that (stx)');
    }
    if (off < 4) throw fault('invalid-context-access', 'store into ctx->write', 'write is read-only; only file_pos (offset 4) may be written');
    if (size !== 4) throw fault('invalid-context-access', `${size}-byte store into ctx->file_pos`, 'file_pos may only be written with a 4-byte store');
    // The kernel stores the u32 into the low half of the 64-bit *ppos.
    const high = Math.floor(this.filePos / 0x1_0000_0000) * 0x1_0000_0000;
    this.filePos = high + Number(value & 0xffff_ffffn);
  }

  #check(ptrOff: number, insnOff: number, size: number, what: string): number {
    if (ptrOff !== 0) {
      throw fault('invalid-context-access', `${what} through a modified context pointer (ctx${ptrOff < 0 ? '' : '+'}${ptrOff})`, 'access the context through the pointer the program got in r1, with the offset in the instruction');
    }
    const off = insnOff;
    if (off < 0 || off + size > 8 || off % size !== 0) {
      throw fault('invalid-context-access', `invalid ${size}-byte ${what} at offset ${off} of struct bpf_sysctl`, 'it has u32 write at offset 0 and u32 file_pos at offset 4; loads must be aligned to their size, and 8-byte loads are not allowed');
    }
    if (size === 8) throw fault('invalid-context-access', `8-byte ${what} at offset ${off} of struct bpf_sysctl`, 'load write and file_pos separately with loads of 4 bytes or less');
    return off;
  }
}

/** A context of plain bytes: any in-bounds access, stores only when writable. */
export class BytesContext implements ContextModel {
  readonly region: Region;
  readonly helperAccess = true;

  constructor(ctx: VmBytesContext, empty?: Region) {
    this.region = ctx.bytes.length === 0 && empty ? empty : new Region('ctx', 'ctx', ctx.bytes.length ? Uint8Array.from(ctx.bytes) : EMPTY, ctx.writable ?? true);
  }

  load(ptrOff: number, insnOff: number, size: number): bigint {
    return readUnsigned(this.region.view, this.#check(ptrOff + insnOff, size, 'load'), size);
  }

  store(ptrOff: number, insnOff: number, size: number, value: bigint): void {
    const off = this.#check(ptrOff + insnOff, size, 'store');
    if (!this.region.writable) throw fault('invalid-context-access', `store into the context at ctx+${off}`, 'this context is read-only (writable: false)');
    writeUnsigned(this.region.view, off, size, value);
  }

  #check(off: number, size: number, what: string): number {
    if (off < 0 || off + size > this.region.size) {
      throw fault('out-of-bounds', `${size}-byte ${what} at ctx${off < 0 ? '' : '+'}${off} is out of bounds: the context has ${this.region.size} bytes`, 'check the offset');
    }
    return off;
  }
}
