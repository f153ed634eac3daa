// Paths and readers for test/fixtures/asm. Tests run from dist/, so the repository root is found by
// walking up to package.json rather than relative to the compiled file.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test file');
    dir = parent;
  }
  return dir;
}

export function fixturePath(name: string): string {
  return join(repoRoot(), 'test/fixtures/asm', name);
}

export function readFixtureText(name: string): string {
  return readFileSync(fixturePath(name), 'utf8');
}

/** A `.hex` fixture: one 8-byte instruction slot per line, as hex. */
export function readFixtureHex(name: string): Buffer {
  return Buffer.from(readFixtureText(name).replace(/\s+/g, ''), 'hex');
}

export interface FixtureMeta {
  readonly kernel: string;
  readonly bpftool?: string;
  /** The fds the maps had when the program was recorded; its ld_imm64 slots hold them. */
  readonly mapFds: number[];
  /** The ids bpftool shows for those maps in the xlated listing. */
  readonly mapIds?: number[];
}

export function readFixtureMeta(program: string): FixtureMeta {
  return JSON.parse(readFixtureText(`${program}.meta.json`)) as FixtureMeta;
}
