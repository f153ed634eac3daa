export * from './abi.js';
export { buildTables, CompileError, encodeRecord, specificity, type GuardTables, type WildcardGroup } from './tables.js';
export { generateGuardProgram, type GuardMaps, type NamespaceFacts } from './program.js';
export * from './task-layout.js';
export { compileGuard, DEFAULT_EVENTS_BYTES, FOLLOW_PROGRAM, GUARD_PROGRAM, type CompileOptions, type ExemptCgroup, type GuardMapName, type GuardSpec } from './compile.js';
