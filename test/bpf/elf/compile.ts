// Test programs are C in test/fixtures/elf/*.bpf.c, compiled at test time like a libbpf user would.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
/** bpf_tracing.h's PT_REGS_* need the target architecture (libbpf's __TARGET_ARCH_xxx). */
const TARGET_ARCH: Record<string, string> = { x64: 'x86', arm64: 'arm64', riscv64: 'riscv', ppc64: 'powerpc', s390x: 's390' };

/**
 * clang -O2 -g -target bpf of test/fixtures/elf/NAME.bpf.c into a temp dir; the .o path.
 * `defines` become -DNAME=VALUE (values are C tokens: quote strings yourself).
 */
export function compileFixture(name: string, defines: Record<string, string> = {}): string {
  const key = [name, ...Object.entries(defines).map(([k, v]) => `${k}=${v}`)].join(' ');
  const cached = built.get(key);
  if (cached) return cached;
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'sysward-elf-'));
    process.on('exit', () => rmSync(dir!, { recursive: true, force: true }));
  }
  let multiarch = '';
  try { multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim(); } catch { /* non-Debian: headers in /usr/include */ }
  // The file name stays NAME.bpf.o (it names the object's maps); variants get their own folder.
  const outDir = Object.keys(defines).length ? join(dir, `variant-${built.size}`) : dir;
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `${name}.bpf.o`);
  execFileSync(clang ?? 'clang', [
    '-O2', '-g', '-target', 'bpf', ...(multiarch ? [`-I/usr/include/${multiarch}`] : []),
    ...(TARGET_ARCH[process.arch] ? [`-D__TARGET_ARCH_${TARGET_ARCH[process.arch]}`] : []),
    ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`),
    '-c', join(ELF_FIXTURES, `${name}.bpf.c`), '-o', out,
  ], { stdio: 'pipe' });
  built.set(key, out);
  return out;
}
