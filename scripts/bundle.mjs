// The command line as one bundle (dist/bundle/, loaded by bin/sysward): Node.js 20 loads each ES
// module file on its own, and zod and yaml are many small files, so every command that read a
// policy spent most of its start-up resolving and reading modules. esbuild joins them; commands
// stay separate chunks, loaded only when run. koffi stays outside (a native module).
// Run by `npm run build`, `npm test`, and `npm install` (prepare), after tsc.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: `${root}dist/src/cli/main.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  // CommonJS dependencies (prom-client) call require(); give the ES module output one.
  banner: { js: "import { createRequire as __swCreateRequire } from 'node:module'; const require = __swCreateRequire(import.meta.url);" },
  minify: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});
