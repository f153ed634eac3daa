// Built-in profiles parsed and validated when sysward is built: scripts/bundle.mjs writes
// dist/bundle/profiles.json (prebuiltProfilesJson in index.ts), so what uses a built-in profile
// (check, explain --profile, the daemon's default) needs neither the YAML parser nor zod at run
// time; loading and compiling them was most of such a command's start-up. Each entry keeps the YAML
// text it was made from: a profile edited since the build no longer matches, and is parsed again.
// Imports nothing of the parser (index.ts does).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../package-root.js';
import type { Policy } from '../model.js';
import { policyFromJson } from '../model-json.js';

/** The profiles' YAML files: they stay in src/ (tsc copies no data files, and the CLI bundle lives elsewhere). */
export const profilesDir = (): string => join(packageRoot(), 'src', 'guard', 'profiles');

/** The build's file: profile name → its YAML text and its policy (as model-json.ts writes it). */
export const prebuiltProfilesPath = (): string => join(packageRoot(), 'dist', 'bundle', 'profiles.json');

export interface PrebuiltProfile { yaml: string; policy: string }

let prebuilt: Record<string, PrebuiltProfile> | null | undefined;

function readPrebuilt(): Record<string, PrebuiltProfile> | null {
  if (prebuilt === undefined) {
    try { prebuilt = JSON.parse(readFileSync(prebuiltProfilesPath(), 'utf8')) as Record<string, PrebuiltProfile>; }
    catch { prebuilt = null; } // not built yet (a bare tsc): the caller parses the YAML
  }
  return prebuilt;
}

/**
 * A built-in profile as the build parsed it, or undefined when the build has no such profile or
 * its YAML changed since (then parse it: index.ts loadProfile). `yaml` is the profile's current
 * text when the caller has already read it.
 */
export function prebuiltProfile(name: string, yaml?: string): Policy | undefined {
  const all = readPrebuilt();
  if (!all || !Object.hasOwn(all, name)) return undefined;
  const entry = all[name]!;
  let text = yaml;
  if (text === undefined) {
    try { text = readFileSync(join(profilesDir(), `${name}.yaml`), 'utf8'); } catch { return undefined; }
  }
  return text === entry.yaml ? policyFromJson(entry.policy) : undefined;
}
