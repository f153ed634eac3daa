// The command line as one bundle (dist/bundle/, loaded by bin/sysward): Node.js 20 loads each ES
// module file on its own, and zod and yaml are many small files, so every command that read a
// policy spent most of its start-up resolving and reading modules. esbuild joins them; commands
// stay separate chunks, loaded only when run. koffi stays outside (a native module).
// Beside it, profiles.json: the built-in profiles parsed and validated now (a broken one fails the
// build), so commands that use one load neither yaml nor zod (src/guard/profiles/prebuilt.ts).
// Run by `npm run build`, `npm test`, and `npm install` (prepare), after tsc.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
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
  // CommonJS dependencies (prom-client) call require(); give the ES module output one, made on
  // first use: every chunk has this banner, and making ~20 require functions cost start-up.
  banner: { js: "import { createRequire as __swCreateRequire } from 'node:module'; let __swRequire; const require = (id) => (__swRequire ??= __swCreateRequire(import.meta.url))(id);" },
  minify: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});

const { prebuiltProfilesJson } = await import(`${root}dist/src/guard/profiles/index.js`);
writeFileSync(`${outdir}/profiles.json`, prebuiltProfilesJson());
