// Policy text → the validated model (src/guard/model.ts), or a PolicyError listing every problem.
//
// Three passes, each reporting all it finds: YAML syntax (yaml's parser, positions from its
// LineCounter); the document's shape (schema.ts, the same definition that generates
// schema/policy.schema.json); and the meaning (validate.ts: key names, ranges, conflicts,
// duplicates, sizes). A later pass runs only when the earlier ones let it: the meaning is checked
// even where the shape has problems, but not on text that is not YAML.

import { readFileSync } from 'node:fs';
import type { Policy } from '../model.js';
import { PolicyError, sortProblems, type PolicyProblem } from './errors.js';
import { shapeProblems } from './issues.js';
import { policySchema } from './schema.js';
import { readYaml } from './source.js';
import { checkPolicy } from './validate.js';

export interface ParseOptions {
  /** Called with each warning (a problem that does not stop the policy from loading), in file order. */
  onWarning?: (warning: PolicyProblem) => void;
}

/**
 * Every problem in a policy text, errors and warnings, in file order, and the policy when there
 * is no error. Never throws for bad input.
 */
export function lintPolicy(text: string, origin: string): { policy?: Policy; problems: PolicyProblem[] } {
  const { source, problems } = readYaml(text, origin);
  if (problems.length > 0) return { problems: sortProblems(problems) };
  if (source.value === null) {
    return {
      problems: [{ file: origin, line: 1, column: 1, severity: 'error',
        message: 'the policy is empty; write a mapping that starts with name: (see docs/policy.md)' }],
    };
  }
  const shape = policySchema.safeParse(source.value);
  if (!shape.success) problems.push(...shapeProblems(shape.error.issues, source));
  const policy = checkPolicy(source, origin, problems);
  const sorted = sortProblems(problems);
  const failed = sorted.some((p) => p.severity === 'error');
  return failed || !policy ? { problems: sorted } : { policy, problems: sorted };
}

/** Parse a policy; `origin` names it in problems (a file name, or `profile:NAME`). Throws PolicyError. */
export function parsePolicy(text: string, origin: string, options: ParseOptions = {}): Policy {
  const { policy, problems } = lintPolicy(text, origin);
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0 || !policy) throw new PolicyError(errors);
  for (const w of problems) if (w.severity === 'warning') options.onWarning?.(w);
  return policy;
}

/** Read and parse a policy file; problems name the file as `path` is written. Throws PolicyError. */
export function loadPolicyFile(path: string, options: ParseOptions = {}): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file; check the path'
      : err.code === 'EISDIR' ? 'it is a directory; give the policy file inside it'
      : err.code === 'EACCES' ? 'permission denied; make it readable or run as its owner'
      : `${err.code ?? 'error'} reading it: ${err.message}`;
    throw new PolicyError([{ file: path, line: 1, column: 1, message: `cannot read the policy: ${why}`, severity: 'error' }]);
  }
  return parsePolicy(text, path, options);
}
