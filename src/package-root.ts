// sysward's own files (package.json, the profiles' YAML) found from the running code, whatever the
// layout: dist/src/… after tsc, or the command-line bundle in dist/bundle/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder of sysward's package.json. */
export function packageRoot(): string {
  if (root) return root;
  // import.meta.filename: Node.js 20.11+ and the bundle (no URL to parse); the URL before.
  const here = import.meta.filename ?? fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'sysward') return (root = dir);
    if (dirname(dir) === dir) throw new Error(`sysward's package.json is not above ${here}; reinstall sysward`);
  }
}
