// Problems found in a policy, each with its place in the file, what is wrong and what would be
// right: `web.yaml:12:13: action "dney" is not one of allow, deny, audit; did you mean deny?`

export interface PolicyProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in characters. */
  column: number;
  /** What is wrong; after a '; ', what would be right. */
  message: string;
  /** Errors stop the policy from loading; warnings do not. */
  severity: 'error' | 'warning';
}

/** `file:line:column: message` (warnings say so after the position). */
export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

/** File order: by line, then column; problems at the same place keep the order they were found in. */
export function sortProblems(problems: PolicyProblem[]): PolicyProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map(({ p }) => p);
}

/** A policy that cannot be loaded: every error in it, in file order, one per line in `message`. */
export class PolicyError extends Error {
  override name = 'PolicyError';
  readonly problems: readonly PolicyProblem[];
  constructor(problems: PolicyProblem[]) {
    const sorted = sortProblems(problems);
    super(sorted.map(formatProblem).join('\n'));
    this.problems = sorted;
  }
}
