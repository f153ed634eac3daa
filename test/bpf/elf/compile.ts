// Test programs are C in test/fixtures/elf/*.bpf.c, compiled at test time like a libbpf user would.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { needs, which } from '../../helpers/env.js';

const clang = which('clang');
export const ELF_FIXTURES = join(repoRoot(), 'test', 'fixtures', 'elf');
/** Gate for tests that compile C: clang and libbpf's headers. */
export const withClang = needs(!clang ? 'needs clang (apt-get install clang llvm)' : !which('gcc') && !which('cc') ? 'needs a C toolchain' : false);

let dir: string | undefined;
const built = new Map<string, string>();

/** clang -O2 -g -target bpf of test/fixtures/elf/NAME.bpf.c into a temp dir; the .o path. */
export function compileFixture(name: string): string {
  const cached = built.get(name);
  if (cached) return cached;
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'sysward-elf-'));
    process.on('exit', () => rmSync(dir!, { recursive: true, force: true }));
  }
  let multiarch = '';
  try { multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim(); } catch { /* non-Debian: headers in /usr/include */ }
  const out = join(dir, `${name}.bpf.o`);
  execFileSync(clang ?? 'clang', [
    '-O2', '-g', '-target', 'bpf', ...(multiarch ? [`-I/usr/include/${multiarch}`] : []),
    '-c', join(ELF_FIXTURES, `${name}.bpf.c`), '-o', out,
  ], { stdio: 'pipe' });
  built.set(name, out);
  return out;
}
