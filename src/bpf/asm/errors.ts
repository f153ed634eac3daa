// Errors of the assembler. Each one names what went wrong and how to fix it; `kind` lets callers
// and tests tell them apart without matching on message text.

export type AsmErrorKind =
  | 'invalid-instruction'
  | 'invalid-bytes'
  | 'unknown-helper'
  | 'undefined-label'
  | 'duplicate-label'
  | 'dangling-label'
  | 'jump-out-of-range'
  | 'invalid-operand'
  | 'map-not-ready';

export class AsmError extends Error {
  override readonly name = 'AsmError';

  constructor(
    readonly kind: AsmErrorKind,
    /** What is wrong, e.g. `unknown helper "sysctl_get_nam"`. */
    readonly problem: string,
    /** What to do about it, e.g. `did you mean sysctl_get_name?`. */
    readonly fix: string,
  ) {
    super(`${problem}: ${fix}`);
  }
}

export { closest as closestName } from '../../util/suggest.js';
