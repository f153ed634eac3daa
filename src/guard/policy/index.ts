// Policies: YAML → the validated model (../model.ts). See docs/policy.md for the format.

export { PolicyError, formatProblem, type PolicyProblem } from './errors.js';
export { MAX_ALIAS_VALUES, MAX_NESTING_DEPTH, MAX_POLICY_BYTES, MAX_POLICY_TOKENS } from './limits.js';
export { lintPolicy, loadPolicyFile, parsePolicy, type ParseOptions } from './parse.js';
export { MAX_VALUE_BYTES } from './validate.js';
