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

/** Levenshtein distance, for did-you-mean suggestions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate closest to `wanted`, if it is close enough to be a plausible typo. */
export function closestName(wanted: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
