// The daemon's configuration: every *.yaml / *.yml policy in a directory, or the built-in default.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../guard/model.js';
import { loadPolicyFile } from '../guard/policy/index.js';
import { loadProfile } from '../guard/profiles/index.js';

export const DEFAULT_CONFIG_DIR = '/etc/sysward';

export interface ConfigFile { file: string; policy?: Policy; error?: string }

export interface Config {
  /** Valid policies by guard name. */
  policies: Map<string, Policy>;
  /** Files that did not parse (their guards keep the last good policy). */
  errors: ConfigFile[];
  /** The directory could not be read: keep everything as it is. */
  dirError?: string;
  /** No policy files: the built-in default is in force. */
  builtin: boolean;
}

/**
 * The built-in default: container-host on every container cgroup (refuses the escape keys) and
 * audit-all on the host (refuses nothing, reports every write): safe, and it never locks the
 * host's own administrator out.
 */
export function builtinPolicies(): Policy[] {
  return [loadProfile('container-host'), loadProfile('audit-all')];
}

/**
 * @param missingIsDefault a missing directory means "use the built-in default" (at start); later,
 *   a directory that disappears is an error and the guards in force stay.
 */
export function readConfig(dir: string, missingIsDefault = true): Config {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.')).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingIsDefault) return { policies: byName(builtinPolicies()), errors: [], builtin: true };
    return { policies: new Map(), errors: [], builtin: false, dirError: `cannot read ${dir}: ${(e as Error).message}` };
  }
  if (names.length === 0) return { policies: byName(builtinPolicies()), errors: [], builtin: true };
  const policies = new Map<string, Policy>();
  const errors: ConfigFile[] = [];
  const files = new Map<string, string[]>(); // guard name → files naming it
  for (const f of names) {
    const file = join(dir, f);
    try {
      const policy = loadPolicyFile(file);
      files.set(policy.name, [...(files.get(policy.name) ?? []), file]);
      policies.set(policy.name, policy);
    } catch (e) {
      errors.push({ file, error: (e as Error).message });
    }
  }
  // Two files naming one guard: neither is trusted (whichever sorts first is not necessarily the
  // one in force: a file added beside it could replace a guard), so the guard keeps its last good
  // policy until one of them is renamed.
  for (const [name, fs] of files) {
    if (fs.length < 2) continue;
    policies.delete(name);
    for (const file of fs) errors.push({ file, error: `${file}: guard name "${name}" is used by ${fs.filter((f) => f !== file).join(', ')} too; give each policy its own name (the guard keeps its last good policy meanwhile)` });
  }
  return { policies, errors, builtin: false };
}

const byName = (ps: Policy[]) => new Map(ps.map((p) => [p.name, p]));
