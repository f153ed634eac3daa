// Shared test gates: kernel tests run as root; in CI (CI=true) a skip is a failure.
import { execFileSync, spawnSync } from 'node:child_process';

export const IN_CI = process.env.CI === 'true';
export const IS_ROOT = process.getuid?.() === 0;

/**
 * Options for a test that needs something: `skip` with a one-line reason when missing outside CI;
 * in CI the test runs anyway and fails on the missing thing, so nothing is skipped silently.
 */
export function needs(reason: string | false): { skip?: string } {
  if (!reason || IN_CI) return {};
  return { skip: reason };
}

/** The first of several gates that skips, or none: `test(name, gates(kernel(), withClang), fn)`. */
export const gates = (...gs: { skip?: string }[]): { skip?: string } => gs.find((g) => g.skip) ?? {};

/** For kernel tests: root and a bpf(2) that works. */
export const kernel = (): { skip?: string } => needs(IS_ROOT ? false : 'kernel test: needs root (run npm test as root)');

export function which(cmd: string): string | undefined {
  try { return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; }
}

let python: string | undefined;
/** The python3 executable itself: a pyenv shim in PATH costs half a second per start. */
export function pythonExecutable(): string {
  if (python === undefined) {
    const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    python = r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : 'python3';
  }
  return python;
}
