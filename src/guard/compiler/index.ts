export * from './abi.js';
export { buildTables, CompileError, encodeRecord, specificity, type GuardTables, type WildcardGroup } from './tables.js';
export { generateGuardProgram, type GuardMaps } from './program.js';
export { compileGuard, DEFAULT_EVENTS_BYTES, GUARD_PROGRAM, type CompileOptions, type ExemptCgroup, type GuardMapName, type GuardSpec } from './compile.js';
