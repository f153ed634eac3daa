// Built-in profiles: policies shipped as YAML beside this file (container-host.yaml, kspp.yaml,
// audit-all.yaml), parsed by the same parser as a user's policy; the build parses them once
// (prebuilt.ts). docs/profiles.md explains them.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Policy } from '../model.js';
import { policyToJson } from '../model-json.js';
import { parsePolicy } from '../policy/parse.js';
import { closest } from '../../util/suggest.js';
import { prebuiltProfile, profilesDir, type PrebuiltProfile } from './prebuilt.js';

export interface ProfileInfo {
  name: string;
  description: string;
  /** The YAML file. */
  path: string;
}

/** A profile name that no built-in profile has. */
export class UnknownProfileError extends Error {
  override name = 'UnknownProfileError';
}

function profileNames(): string[] {
  // NAME.test.yaml beside a profile holds its unit tests (sysward test), not a profile.
  return readdirSync(profilesDir()).filter((f) => f.endsWith('.yaml') && !f.endsWith('.test.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
}

/** The YAML text of a built-in profile. Throws UnknownProfileError. */
export function profileText(name: string): string {
  const names = profileNames();
  if (!names.includes(name)) {
    const guess = closest(name, names);
    throw new UnknownProfileError(
      `unknown profile "${name}"${guess ? `; did you mean ${guess}?` : ''} (profiles: ${names.join(', ')})`,
    );
  }
  return readFileSync(join(profilesDir(), `${name}.yaml`), 'utf8');
}

/** A built-in profile as a policy, with origin `profile:NAME`. Throws UnknownProfileError. */
export function loadProfile(name: string): Policy {
  const text = profileText(name);
  return prebuiltProfile(name, text) ?? parsePolicy(text, `profile:${name}`);
}

/**
 * dist/bundle/profiles.json (prebuilt.ts), written by the build: every built-in profile parsed
 * from its YAML now. Throws PolicyError when one is broken, which fails the build.
 */
export function prebuiltProfilesJson(): string {
  const out: Record<string, PrebuiltProfile> = {};
  for (const name of profileNames()) {
    const yaml = profileText(name);
    out[name] = { yaml, policy: policyToJson(parsePolicy(yaml, `profile:${name}`)) };
  }
  return `${JSON.stringify(out)}\n`;
}

/** The built-in profiles, by name. */
export function listProfiles(): ProfileInfo[] {
  return profileNames().map((name) => {
    const policy = loadProfile(name);
    return { name, description: policy.description ?? '', path: join(profilesDir(), `${name}.yaml`) };
  });
}
