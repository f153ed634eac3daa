// Programs: load with the verifier log surfaced readably, read back info and statistics.
import {
  AttachType, BPF_TAG_SIZE, Cmd, FD, FuncInfo, LineInfo, ProgInfo, ProgType, SysError, cString, errnoName, errnoValue,
  TestRunAttr, bpf, getFdById, objGet, objGetInfo, objPin, progLoadRaw, type ErrorHints, type ProgLoadOptions,
} from './sys/index.js';
import { validateObjectName } from './map.js';

export type ProgTypeName = keyof typeof ProgType;
export type AttachTypeName = keyof typeof AttachType;

export interface ProgramSpec {
  type: ProgTypeName;
  /** Encoded instructions (8 bytes each), or an assembled program (its `bytes` are used). */
  instructions: Buffer | { readonly bytes: Buffer };
  expectedAttachType?: AttachTypeName;
  /** Up to 15 characters. */
  name?: string;
  /** "GPL" unlocks GPL-only helpers; sysward's own programs use "GPL". */
  license?: string;
  /** Verifier log verbosity when a load fails (1 = instructions and states; 2 = everything). */
  logLevel?: 1 | 2;
  /** Always keep the verifier log, even when the load succeeds. */
  keepLog?: boolean;
  /** prog_flags (ProgLoadFlag: F_SLEEPABLE, …). */
  flags?: number;
  /** The kernel's (vmlinux) BTF id of what a tracing or LSM program attaches to. */
  attachBtfId?: number;
  /**
   * A loaded BTF object (its fd) and the program's function and line info in it: the verifier
   * then checks subprograms' signatures and names source lines, which bpftool shows.
   */
  btf?: { fd: number; funcInfo: readonly FuncInfoRecord[]; lineInfo?: readonly LineInfoRecord[] };
  /** Words on a refusal other than the defaults: what is loaded, fixes by errno, … */
  verifierLog?: ProgramLogOptions;
  /** The log buffer's first size (it grows until the whole log fits); default 256 KiB. A load
   * expected to fail with a short log (a feature probe) runs faster with a small one: the kernel
   * writes into fresh pages of a large buffer. */
  logBytes?: number;
}

/** struct bpf_func_info: the BTF FUNC of the function that starts at instruction `insn`. */
export interface FuncInfoRecord { insn: number; typeId: number }
/** struct bpf_line_info: the source line of instruction `insn` (offsets in the BTF's strings). */
export interface LineInfoRecord { insn: number; fileNameOff: number; lineOff: number; lineCol: number }

const ENOSPC = errnoValue('ENOSPC');
const MAX_LOG_BYTES = 1 << 30; // kernel limit: UINT_MAX >> 2

/** The verifier (or the loader) refused a program. `summary` is one line; `log` is everything. */
export class VerifierError extends SysError {
  override name = 'VerifierError';
  constructor(
    errno: number,
    readonly summary: string,
    readonly log: string,
    /** The instruction the verifier stopped at, as the log prints it, when it says. */
    readonly failingInstruction?: { index: number; text: string },
  ) {
    super('loading program', errno, {}, failingInstruction ? `${summary} (at instruction ${failingInstruction.index}: ${failingInstruction.text})` : summary);
    this.message += '\n(the full verifier log: error.log in code; SYSWARD_DEBUG=1 prints it on the command line)';
  }
}

/** A one-line cause and the failing instruction out of a verifier log. */
export function summarizeVerifierLog(log: string): { summary: string; failingInstruction?: { index: number; text: string } } {
  const lines = log.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  // Trailing statistics lines are not the cause.
  const meaningful = lines.filter((l) => !/^(processed \d+ insns|verification time|stack depth|-- END PROG LOAD LOG --)/.test(l));
  let summary = meaningful.at(-1) ?? 'no verifier log';
  let failingInstruction: { index: number; text: string } | undefined;
  for (let i = meaningful.length - 1; i >= 0; i--) {
    const m = /^(\d+): (\([0-9a-f]{2}\) .*?)(\s+;.*)?$/.exec(meaningful[i]!);
    if (m) { failingInstruction = { index: Number(m[1]), text: m[2]! }; break; }
  }
  // Prefer the line after the failing instruction when the last one is a generic trailer.
  if (/^(Permission denied|Invalid argument)$/.test(summary) && meaningful.length > 1) summary = meaningful.at(-2)!;
  return failingInstruction ? { summary, failingInstruction } : { summary };
}

export interface ProgramInfo {
  id: number; type: number; typeName: string; name: string; tag: string; xlatedBytes: number;
  jitedBytes: number; loadTimeNs: bigint; createdByUid: number; mapIds: number[];
  /** Statistics: counted only while run-time stats are enabled (enableStats() or kernel.bpf_stats_enabled). */
  runCount: bigint; runTimeNs: bigint; verifiedInstructions: number;
}

const progTypeName = (t: number): string => Object.entries(ProgType).find(([, v]) => v === t)?.[0] ?? `type ${t}`;

export function readProgramInfo(fd: FD): ProgramInfo {
  // First pass learns the counts; the second fills the arrays we ask for.
  const first = Buffer.alloc(ProgInfo.size);
  objGetInfo(fd, first, 'program');
  const nMaps = ProgInfo.get(first, 'nr_map_ids');
  const mapIds = Buffer.alloc(nMaps * 4);
  const buf = ProgInfo.encode({ nr_map_ids: nMaps, map_ids: mapIds });
  objGetInfo(fd, buf, 'program');
  const i = ProgInfo.decode(buf);
  return {
    id: i.id, type: i.type, typeName: progTypeName(i.type), name: cString(i.name), tag: i.tag.subarray(0, BPF_TAG_SIZE).toString('hex'),
    xlatedBytes: i.xlated_prog_len, jitedBytes: i.jited_prog_len, loadTimeNs: i.load_time, createdByUid: i.created_by_uid,
    mapIds: Array.from({ length: nMaps }, (_, k) => mapIds.readUInt32LE(k * 4)),
    runCount: i.run_cnt, runTimeNs: i.run_time_ns, verifiedInstructions: i.verified_insns,
  };
}

/** The instructions as the kernel holds them after verification and rewriting (bpftool's "xlated"). */
export function readXlated(fd: FD): Buffer {
  const first = Buffer.alloc(ProgInfo.size);
  objGetInfo(fd, first, 'program');
  const len = ProgInfo.get(first, 'xlated_prog_len');
  const insns = Buffer.alloc(len);
  objGetInfo(fd, ProgInfo.encode({ xlated_prog_len: len, xlated_prog_insns: insns }), 'program');
  return insns;
}

/**
 * Where the JIT put a program's functions: the main program first, then its subprograms in the
 * order of their first instruction, which is the index a bpf-to-bpf call's imm holds in xlated
 * code. A program without bpf-to-bpf calls has one function.
 */
export interface JitedFunctions {
  /** nr_jited_ksyms: the number of functions. */
  count: number;
  /** Kernel addresses of their images (jited_ksyms); null when the kernel hides them from this caller. */
  addresses: bigint[] | null;
  /** Sizes of their images (jited_func_lens); empty when hidden. */
  sizesBytes: number[];
}

export function readJitedFunctions(fd: FD): JitedFunctions {
  const first = Buffer.alloc(ProgInfo.size);
  objGetInfo(fd, first, 'program');
  const count = ProgInfo.get(first, 'nr_jited_ksyms');
  const nLens = ProgInfo.get(first, 'nr_jited_func_lens');
  const ksyms = Buffer.alloc(count * 8);
  const lens = Buffer.alloc(nLens * 4);
  const buf = ProgInfo.encode({ nr_jited_ksyms: count, jited_ksyms: ksyms, nr_jited_func_lens: nLens, jited_func_lens: lens });
  objGetInfo(fd, buf, 'program');
  // The kernel zeroes the pointers instead of filling the arrays when it does not trust the
  // caller with kernel addresses (bpf_dump_raw_ok: kptr_restrict, no CAP_SYSLOG).
  const shown = (field: 'jited_ksyms' | 'jited_func_lens') => ProgInfo.get(buf, field) !== 0n;
  return {
    count,
    addresses: count && shown('jited_ksyms') ? Array.from({ length: count }, (_, k) => ksyms.readBigUInt64LE(k * 8)) : null,
    sizesBytes: nLens && shown('jited_func_lens') ? Array.from({ length: nLens }, (_, k) => lens.readUInt32LE(k * 4)) : [],
  };
}

export interface VerifierLogOptions {
  /** What is loaded, for messages: "CGROUP_SYSCTL program sw_x". */
  what: string;
  logLevel?: 1 | 2;
  /** Load with the log even when it succeeds (the log is returned). */
  keepLog?: boolean;
  /** The log buffer's first size; default 256 KiB. */
  logBytes?: number;
  /** Fixes for errnos the kernel gives without a log (EPERM). */
  hints?: ErrorHints;
  /** The fix when the kernel refused with no log at all. */
  noLog: string;
  /** Written before the verifier's summary (a program's name in an object). */
  prefix?: string;
  /** More words on a refusal, from the log (e.g. which kfunc or CO-RE relocation is missing). */
  explain?: (log: string) => string;
}

/** What a program's spec may say of its verifier log; the rest comes from the load. */
export type ProgramLogOptions = Partial<Pick<VerifierLogOptions, 'what' | 'hints' | 'noLog' | 'prefix' | 'explain'>>;

/**
 * BPF_PROG_LOAD, the one verifier-log loop of the toolkit (programs built here and objects built by
 * clang alike): the first attempt runs without a log (fast); a refusal is retried with the log, the
 * buffer growing until the whole log fits, so the error says why.
 */
export function loadWithVerifierLog(attr: ProgLoadOptions, o: VerifierLogOptions): { fd: number; log: string } {
  if (!o.keepLog) {
    const fd = progLoadRaw(attr);
    if (fd >= 0) return { fd, log: '' };
    // Whatever the errno, the verifier may have said why (ENOENT: a kernel symbol it did not find).
  }
  for (let size = o.logBytes ?? 256 * 1024; ; size *= 4) {
    const log = Buffer.alloc(size);
    const fd = progLoadRaw({ ...attr, log_level: o.logLevel ?? 1, log_size: size, log_buf: log });
    const text = cString(log);
    if (fd >= 0) return { fd, log: text };
    if (-fd === ENOSPC && size < MAX_LOG_BYTES) continue;
    if (!text.trim() && !['EACCES', 'EINVAL', 'ENOSPC'].includes(errnoName(-fd))) throw new SysError(`loading ${o.what}`, -fd, o.hints ?? {});
    const { summary, failingInstruction } = summarizeVerifierLog(text || errnoName(-fd));
    const more = text ? o.explain?.(text) ?? '' : '';
    throw new VerifierError(-fd, text ? `${o.prefix ?? ''}${summary}${more}` : `${o.prefix ?? ''}the kernel refused the program (${errnoName(-fd)}) and wrote no log: ${o.noLog}`, text, failingInstruction);
  }
}

export class Program implements Disposable {
  private constructor(readonly handle: FD, readonly verifierLog = '') {}

  get fd(): number { return this.handle.value; }

  /**
   * Load a program. The first attempt runs without a log (fast); a refused load is retried with
   * the log so the error can say why, the buffer growing until the whole log fits.
   */
  static load(spec: ProgramSpec): Program {
    const insns = Buffer.isBuffer(spec.instructions) ? spec.instructions : spec.instructions.bytes;
    if (insns.length === 0 || insns.length % 8 !== 0) {
      throw new RangeError(`a program is a whole number of 8-byte instructions; got ${insns.length} bytes`);
    }
    if (spec.name) validateObjectName(spec.name);
    const license = Buffer.from(`${spec.license ?? 'GPL'}\0`);
    const b = spec.btf;
    const base: ProgLoadOptions = {
      prog_type: ProgType[spec.type], insn_cnt: insns.length / 8, insns, license,
      prog_name: spec.name ?? '', expected_attach_type: spec.expectedAttachType ? AttachType[spec.expectedAttachType] : 0,
      prog_flags: spec.flags ?? 0, attach_btf_id: spec.attachBtfId ?? 0,
      ...(b?.funcInfo.length ? {
        prog_btf_fd: b.fd, func_info_rec_size: FuncInfo.size, func_info_cnt: b.funcInfo.length,
        func_info: FuncInfo.encodeAll(b.funcInfo.map((f) => ({ insn_off: f.insn, type_id: f.typeId }))),
        ...(b.lineInfo?.length ? {
          line_info_rec_size: LineInfo.size, line_info_cnt: b.lineInfo.length,
          line_info: LineInfo.encodeAll(b.lineInfo.map((l) => ({ insn_off: l.insn, file_name_off: l.fileNameOff, line_off: l.lineOff, line_col: l.lineCol }))),
        } : {}),
      } : {}),
    };
    const fd = loadWithVerifierLog(base, {
      what: `${spec.type} program${spec.name ? ` ${spec.name}` : ''}`, logLevel: spec.logLevel ?? 1, keepLog: spec.keepLog ?? false, ...(spec.logBytes ? { logBytes: spec.logBytes } : {}),
      hints: { EPERM: 'run as root, or give the process CAP_BPF with CAP_NET_ADMIN (CAP_SYS_ADMIN for tracing types)' },
      noLog: 'check the program type and expected attach type against `sysward probe`',
      ...spec.verifierLog,
    });
    return new Program(new FD(fd.fd, 'program'), fd.log);
  }

  /** Wrap an fd we own. */
  static fromFD(fd: FD): Program { return new Program(fd); }

  static openPinned(path: string): Program {
    return new Program(objGet(path, 0, 'program'));
  }

  static fromId(id: number): Program {
    const fd = getFdById(Cmd.PROG_GET_FD_BY_ID, id, 'program');
    if (!fd) throw new Error(`program id ${id} does not exist (any more); list programs with \`sysward bpf progs\``);
    return new Program(fd);
  }

  info(): ProgramInfo { return readProgramInfo(this.handle); }

  /**
   * Run the program `repeat` times on `data` in the kernel (BPF_PROG_TEST_RUN; socket filter, XDP,
   * tc and some tracing types). Returns the last return value and the mean duration.
   */
  testRun(o: { data?: Buffer | null; ctx?: Buffer; repeat?: number } = {}): { retval: number; durationNs: number } {
    // skb-based types need at least an Ethernet header of input; SYSCALL programs take only a context (data: null).
    const data = o.data === null ? undefined : o.data ?? Buffer.alloc(64);
    const attr = TestRunAttr.encode({
      prog_fd: this.fd, repeat: o.repeat ?? 0, // 0 runs once (SYSCALL programs refuse any other value)
      ...(data ? { data_in: data, data_size_in: data.length } : {}),
      ...(o.ctx ? { ctx_in: o.ctx, ctx_size_in: o.ctx.length } : {}),
    });
    bpf(Cmd.PROG_TEST_RUN, attr, 'test-running program', { ENOTSUPP: 'this program type cannot be test-run', EINVAL: 'this program type cannot be test-run, or the input is too short' });
    return { retval: TestRunAttr.get(attr, 'retval'), durationNs: TestRunAttr.get(attr, 'duration') };
  }
  xlated(): Buffer { return readXlated(this.handle); }

  /** The JIT images of the program's functions (bpftool names bpf-to-bpf call targets by them). */
  jitedFunctions(): JitedFunctions { return readJitedFunctions(this.handle); }
  pin(path: string): void { objPin(this.handle, path); }
  close(): void { this.handle.close(); }
  [Symbol.dispose](): void { this.close(); }
}
