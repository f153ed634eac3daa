// The daemon's desired state: every guard it should enforce, with the last good policy of each,
// saved on disk so that a restart while a policy file is broken (or the config directory is gone)
// keeps enforcing what was last good instead of dropping the guard.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../guard/model.js';
import { policyFromJson, policyToJson } from '../guard/model-json.js';

export const DEFAULT_STATE_DIR = '/var/lib/sysward';
const FILE = 'desired.json';
const VERSION = 1;
/** Our own file, but read with a bound all the same (a corrupt or planted one must not hang us). */
const MAX_BYTES = 64 * 1024 * 1024;

export interface DesiredGuard {
  policy: Policy;
  /** The config file it came from, or profile:NAME for the built-in default. */
  origin: string;
}

interface Saved { version: number; savedAt: string; guards: { name: string; origin: string; policy: string }[] }

/** Read the saved desired state; an empty map when there is none. Problems go to `warn`. */
export function loadDesired(stateDir: string, warn: (line: string) => void): Map<string, DesiredGuard> {
  const path = join(stateDir, FILE);
  const out = new Map<string, DesiredGuard>();
  try {
    if (statSync(path).size > MAX_BYTES) { warn(`${path} is larger than ${MAX_BYTES} bytes; ignoring it (remove it)`); return out; }
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Saved;
    if (saved.version !== VERSION || !Array.isArray(saved.guards)) { warn(`${path} has an unknown layout; ignoring it`); return out; }
    for (const g of saved.guards) out.set(g.name, { origin: g.origin, policy: policyFromJson(g.policy) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') warn(`cannot read the saved desired state ${path}: ${(e as Error).message}; starting from the config alone`);
  }
  return out;
}

/** Save it atomically (a crash leaves the old file or the new one, never half of one). */
export function saveDesired(stateDir: string, desired: Map<string, DesiredGuard>): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const saved: Saved = {
    version: VERSION, savedAt: new Date().toISOString(),
    guards: [...desired].map(([name, g]) => ({ name, origin: g.origin, policy: policyToJson(g.policy) })),
  };
  const path = join(stateDir, FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try { writeSync(fd, `${JSON.stringify(saved)}\n`); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, path);
}

/** Same guards with the same policies? (Saving only on change keeps the disk quiet.) */
export function sameDesired(a: Map<string, DesiredGuard>, b: Map<string, DesiredGuard>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, g] of a) {
    const o = b.get(name);
    if (!o || o.origin !== g.origin || policyToJson(o.policy) !== policyToJson(g.policy)) return false;
  }
  return true;
}
