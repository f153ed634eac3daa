// -f POLICY / --profile NAME, shared by the commands that take a policy.
import { UsageError } from './errors.js';
import type { Policy } from '../guard/model.js';

export const policyOptions = {
  file: { type: 'string', short: 'f' },
  profile: { type: 'string', short: 'p' },
} as const;

/**
 * The parser (yaml, and zod under it) is loaded only for a policy file: cold start matters. A
 * built-in profile comes parsed from the build (guard/profiles/prebuilt.ts); the parser only
 * when its YAML changed since, or to say that no profile has that name.
 */
export async function policyFrom(values: { file?: string | undefined; profile?: string | undefined }, command: string, fallbackProfile?: string): Promise<Policy> {
  if (values.file && values.profile) throw new UsageError(`give either -f POLICY or --profile NAME, not both; see \`sysward ${command} --help\``);
  if (values.file) return (await import('../guard/policy/index.js')).loadPolicyFile(values.file);
  const profile = values.profile ?? fallbackProfile;
  if (profile) {
    return (await import('../guard/profiles/prebuilt.js')).prebuiltProfile(profile)
      ?? (await import('../guard/profiles/index.js')).loadProfile(profile);
  }
  throw new UsageError(`${command} needs a policy: -f POLICY.yaml or --profile NAME (container-host, kspp, audit-all); see \`sysward ${command} --help\``);
}
