// Policies: YAML → the validated model (../model.ts). See docs/policy.md for the format.

export { PolicyError, formatProblem, type PolicyProblem } from './errors.js';
export { lintPolicy, loadPolicyFile, parsePolicy, type ParseOptions } from './parse.js';
export { policyJsonSchema, policyJsonSchemaText } from './schema.js';
export { MAX_VALUE_BYTES } from './validate.js';
