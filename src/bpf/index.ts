// sysward's eBPF toolkit, for use on its own (docs/toolkit.md).
export * from './codec.js';
export { BpfMap, type MapSpec, type MapTypeName, type MapInfoData } from './map.js';
export { Program, VerifierError, type ProgramSpec, type ProgramInfo, type ProgTypeName, type AttachTypeName } from './prog.js';
export { attachCgroup, detachCgroup, queryCgroup, openCgroup, Link, ProgAttachment } from './link.js';
export { ensureBpffs, pinDir, unpin, DEFAULT_BPFFS } from './pin.js';
export { RingBufReader, createRingBuf } from './ringbuf.js';
export * as features from './features.js';
export * as asm from './asm/index.js';
export { SysError, NotSupportedError, FD, enableStats } from './sys/index.js';
