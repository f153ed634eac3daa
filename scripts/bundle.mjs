// The command line bundled for a fast start (dist/bundle/, run by bin/sysward): Node.js 20 keeps
// no compiled code between runs, and loads each module file on its own. One CommonJS file per
// command, commands/NAME.cjs: the dispatcher (src/cli/dispatch.ts), that command and everything it
// imports but the policy parser (policy.cjs, below); main.cjs has the dispatcher alone (help,
// version, unknown commands). Code a command imports lazily (import()) stays in its file, compiled
// only if it runs.
// Why not ES modules split into shared chunks (what this was): the ES module loader, and a resolve,
// read and link for each of the ~20 chunks a command needed, cost each command 0.05–0.3× of
// `node -e 0` more than its one CommonJS file (docs/BENCHMARKS.md, section 5). Each process runs one
// command, so no module is loaded twice. koffi stays outside (a native module).
// Beside them, profiles.json: the built-in profiles parsed and validated now (a broken one fails the
// build), so commands that use one load neither yaml nor zod (src/guard/profiles/prebuilt.ts); and,
// on Node.js 20, a V8 code cache per file (FILE.v8, at the end of this script).
// Run by `npm run build`, `npm test`, and `npm install` (prepare), after tsc.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = `${root}dist/src/cli`;
const outdir = `${root}dist/bundle`;
const { commands } = await import(`${cli}/main.js`);

// The entry of each file, made here: `sysward-cli:NAME` for a command, `sysward-cli:` for main.
const entries = {
  main: 'sysward-cli:',
  ...Object.fromEntries(Object.keys(commands).map((name) => [`commands/${name}`, `sysward-cli:${name}`])),
  policy: `${root}dist/src/guard/policy/index.js`,
};
const entryPlugin = {
  name: 'sysward-cli',
  setup(b) {
    b.onResolve({ filter: /^sysward-cli:/ }, (a) => ({ path: a.path, namespace: 'sysward-cli' }));
    b.onLoad({ filter: /.*/, namespace: 'sysward-cli' }, (a) => {
      const name = a.path.slice('sysward-cli:'.length);
      const contents = name
        ? `import { dispatch } from './dispatch.js';\nimport command from './commands/${name}.js';\nexport const main = (argv) => dispatch(argv, { ${JSON.stringify(name)}: async () => command });\n`
        : `import { dispatch } from './dispatch.js';\nexport const main = (argv) => dispatch(argv, {});\n`;
      return { contents, resolveDir: cli, loader: 'js' };
    });
  },
};

// The policy parser (yaml, zod and the checks: ~190 KB) is a file of its own, policy.cjs, loaded
// only by what reads a policy file: every command that could (guard ls with guard apply, check with
// a profile changed since the build) otherwise read and compiled it at each start (~5 ms). It
// returns plain data and its errors are matched by name, so its own copies of the few modules it
// shares with a command (sysctl names, the compiler's limits) are harmless.
const policyDir = `${root}dist/src/guard/policy/`;
const policyPlugin = {
  name: 'sysward-policy-parser',
  setup(b) {
    b.onResolve({ filter: /(^|\/)(index|parse)\.js$/ }, (a) => {
      const path = join(a.resolveDir, a.path);
      if (a.kind === 'entry-point' || a.importer.startsWith(policyDir) || !(path === `${policyDir}index.js` || path === `${policyDir}parse.js`)) return undefined;
      // As the command files (commands/NAME.cjs) require it.
      return { path: '../policy.cjs', external: true };
    });
  },
};

const buildId = randomUUID();
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: entries,
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  plugins: [entryPlugin, policyPlugin],
  // import() of policy.cjs as require(): the ES module loader would cost more than the file.
  supported: { 'dynamic-import': false },
  // import.meta.url (package-root.ts, libc.ts) in CommonJS: the file's own URL, made when asked.
  // The first line names this build: bin/sysward uses a code cache only with the build it was made
  // from. The file is the module's function itself: required as a module it calls it; run as a
  // script (bin/sysward, with a code cache) it is the script's value, which bin/sysward calls, so
  // V8 compiles the file's own text rather than a copy wrapped in Node.js's module function.
  // import.meta.filename (libc.ts, package-root.ts): the file's own name, no URL made.
  define: { 'import.meta.url': '__swImportMeta.url', 'import.meta.filename': '__filename' },
  banner: { js: `/* sysward build ${buildId} */ ((f) => (typeof module === 'object' && module !== null ? f.call(module.exports, module.exports, require, module, __filename, __dirname) : f))(function (exports, require, module, __filename, __dirname) { const __swImportMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };` },
  footer: { js: '})' },
  minify: true,
  sourcemap: 'linked',
  // Stack traces (SYSWARD_DEBUG=1) need the mappings only; the sources are in src/.
  sourcesContent: false,
  logLevel: 'warning',
});

const { prebuiltProfilesJson } = await import(`${root}dist/src/guard/profiles/index.js`);
writeFileSync(`${outdir}/profiles.json`, prebuiltProfilesJson());

// V8 code caches for Node.js 20, which keeps no compiled code between runs (bin/sysward,
// requireBundle): each bundle file's cache is made by running commands once with
// SYSWARD_CODE_CACHE=write, and holds the functions those runs compiled. Only commands that change
// nothing run here: every command's --help, and the read-only ones on this host (those that need
// root say so and exit when the build is not root; `probe` loads test programs and writes a sysctl
// in a private UTS namespace from a scratch cgroup, all of it removed; not df, which a stale network
// mount could hang in the kernel, as it hangs df(1)). Their output and exit status do not matter;
// runs that share a file (policy.cjs) run one after the other, so its cache gathers what each
// compiled. Where Node.js caches itself (22.1+), bin/sysward uses no such cache.
if (typeof (await import('node:module')).enableCompileCache !== 'function') {
  const profile = (name) => `${root}src/guard/profiles/${name}`;
  const runs = [
    ['--help'],
    ...Object.keys(commands).map((name) => [name, '--help']),
    ['explain', '-f', profile('container-host.yaml'), 'kernel.core_pattern=|/tmp/x'],
    ['explain', '--profile', 'container-host', 'net.ipv4.ip_forward=1'],
    ['test', profile('container-host.test.yaml')],
    ['check'],
    ['check', '-f', profile('kspp.yaml')],
    ['guard', 'ls'],
    ['cgroups'],
    ['bpf', 'progs'],
    ['psi'],
    ['probe'],
  ];
  for (const argv of runs) {
    spawnSync(process.execPath, [`${root}bin/sysward`, ...argv], {
      // Without NODE_OPTIONS: V8 takes a cache only under the V8 flags it was made with, and
      // commands usually run without any.
      stdio: 'ignore', timeout: 30_000, env: { ...process.env, SYSWARD_CODE_CACHE: 'write', SYSWARD_DEBUG: '', NODE_OPTIONS: '' },
    });
  }
}
