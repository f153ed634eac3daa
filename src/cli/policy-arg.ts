// -f POLICY / --profile NAME, shared by the commands that take a policy.
import { UsageError } from './errors.js';
import type { Policy } from '../guard/model.js';

export const policyOptions = {
  file: { type: 'string', short: 'f' },
  profile: { type: 'string', short: 'p' },
} as const;

/** The parser (and zod under it) is loaded only by commands that read a policy: cold start matters. */
export async function policyFrom(values: { file?: string | undefined; profile?: string | undefined }, command: string, fallbackProfile?: string): Promise<Policy> {
  if (values.file && values.profile) throw new UsageError(`give either -f POLICY or --profile NAME, not both; see \`sysward ${command} --help\``);
  if (values.file) return (await import('../guard/policy/index.js')).loadPolicyFile(values.file);
  const profile = values.profile ?? fallbackProfile;
  if (profile) return (await import('../guard/profiles/index.js')).loadProfile(profile);
  throw new UsageError(`${command} needs a policy: -f POLICY.yaml or --profile NAME (container-host, kspp, audit-all); see \`sysward ${command} --help\``);
}
