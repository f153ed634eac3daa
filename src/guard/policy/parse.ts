// Policy text → the validated model (src/guard/model.ts), or a PolicyError listing every problem.
//
// Three passes, each reporting all it finds: YAML syntax (yaml's parser, positions from its
// LineCounter); the document's shape (schema.ts, the same definition that generates
// schema/policy.schema.json); and the meaning (validate.ts: key names, ranges, conflicts,
// duplicates, sizes). A later pass runs only when the earlier ones let it: the meaning is checked
// even where the shape has problems, but not on text that is not YAML.
//
// Files are read by loadPolicyFile alone: regular files only, within the limits of limits.ts.

import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import type { Policy } from '../model.js';
import { PolicyError, sortProblems, type PolicyProblem } from './errors.js';
import { shapeProblems } from './issues.js';
import { MAX_POLICY_BYTES } from './limits.js';
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
  // A loop, not push(...): 150,000 spread arguments overflowed the stack, and the token limit
  // still allows 100,000 problems (one per item of a long list).
  if (!shape.success) for (const p of shapeProblems(shape.error.issues, source)) problems.push(p);
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
  return parsePolicy(readPolicyText(path), path, options);
}

const cannotRead = (path: string, why: string) =>
  new PolicyError([{ file: path, line: 1, column: 1, message: `cannot read the policy: ${why}`, severity: 'error' }]);

/** Why a file that is not a regular file cannot be a policy, or undefined for a regular file. */
function notRegular(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'it is a directory, not a regular file; give the policy file inside it';
  const what = st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device'
    : st.isSocket() ? 'a socket' : 'not a file';
  return `it is ${what}, not a regular file; policies are read from regular files only`;
}

const MiB = (bytes: number) => `${bytes / (1024 * 1024)} MiB`;

/**
 * A policy file's text: regular files only (symlinks to them too), at most MAX_POLICY_BYTES.
 * Every policy file is read here, by the command line (-f) and the daemon (its config dir), so
 * a FIFO, a device or a huge file in /etc/sysward can neither block nor exhaust the daemon.
 */
function readPolicyText(path: string): string {
  const tooLarge = (bytes?: number) => new PolicyError([{ file: path, line: 1, column: 1, severity: 'error',
    message: `the policy is ${bytes === undefined ? 'larger than' : `${bytes} bytes, more than`} the ${MAX_POLICY_BYTES} bytes (${MiB(MAX_POLICY_BYTES)}) a policy may be; `
      + 'write fewer rules (one rule with keys: [...] or a pattern such as net.ipv4.conf.*.forwarding covers many keys) or split it into several policies' }]);
  let fd: number;
  try {
    // stat first: opening a device can act (opening /dev/watchdog arms it), so refuse those unopened.
    const why = notRegular(statSync(path));
    if (why) throw cannotRead(path, why);
    // O_NONBLOCK: if a FIFO replaced the file since the stat, open() returns instead of waiting
    // for a writer. O_NOCTTY: a terminal never becomes the daemon's controlling terminal.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file; check the path'
      : err.code === 'EACCES' ? 'permission denied; make it readable or run as its owner'
      : `${err.code ?? 'error'} reading it: ${err.message}`;
    throw cannotRead(path, why);
  }
  try {
    // What was opened decides (it may not be what was stat'ed).
    const st = fstatSync(fd);
    const why = notRegular(st);
    if (why) throw cannotRead(path, why);
    if (st.size > MAX_POLICY_BYTES) throw tooLarge(st.size);
    // The size can be wrong (files in /proc say 0) or grow while read: read one byte past the
    // limit and no more.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, MAX_POLICY_BYTES + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > MAX_POLICY_BYTES) throw tooLarge();
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw cannotRead(path, `${err.code ?? 'error'} reading it: ${err.message}`);
  } finally {
    closeSync(fd);
  }
}
