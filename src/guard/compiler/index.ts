export * from './abi.js';
export { buildTables, CompileError, encodeRecord, specificity, type GuardTables, type WildcardGroup } from './tables.js';
export { generateGuardProgram, type GuardMaps } from './program.js';
