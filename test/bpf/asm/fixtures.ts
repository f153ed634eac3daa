// Paths and readers for test/fixtures/asm.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';

export { repoRoot };

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
