// sysward's eBPF toolkit, for use on its own (docs/toolkit.md).
export * from './codec.js';
export { BpfMap, type MapSpec, type MapTypeName, type MapInfoData } from './map.js';
export { Program, VerifierError, type ProgramSpec, type ProgramInfo, type ProgTypeName, type AttachTypeName } from './prog.js';
export { attachCgroup, detachCgroup, queryCgroup, openCgroup, Link, ProgAttachment, type CgroupLink } from './link.js';
export { ensureBpffs, pinDir, unpin, DEFAULT_BPFFS } from './pin.js';
// Specs (no kernel needed) and the loader that makes them kernel objects (docs/design.md).
export { missingMaps, missingSlotTargets, type CollectionSpec, type CollectionProgramSpec } from './spec.js';
export { loadCollection, createMapFromSpec, LoadedCollection, BtfHandle } from './collection.js';
export { RingBufReader, createRingBuf } from './ringbuf.js';
export * as features from './features.js';
export * as asm from './asm/index.js';
export { SysError, NotSupportedError, NotExistError, FD, enableStats } from './sys/index.js';
// Objects built by clang (docs/elf-btf.md): parse, load, attach; BTF and the kernel's view of programs.
export { readObject, parseObject, ObjectSpec, type ProgramObjectSpec, type MapObjectSpec, type MapSlot } from './elf/object.js';
export { Collection, objectToCollectionSpec, type LoadOptions, type SpecOptions } from './elf/collection.js';
export { ElfError } from './elf/elf.js';
export { Btf, BtfError, type BtfType } from './btf/btf.js';
export { decodeValue, type BtfValue } from './btf/decode.js';
export { readMapDecoded } from './btf/maps.js';
export { dumpXlated } from './xlated.js';
// The interpreter: the same bytecode without root (docs/conformance.md).
export * as vm from './vm/index.js';
