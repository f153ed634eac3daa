// -f POLICY / --profile NAME, shared by the commands that take a policy.
import { UsageError } from './errors.js';
import type { Policy } from '../guard/model.js';
import { loadPolicyFile } from '../guard/policy/index.js';
import { loadProfile } from '../guard/profiles/index.js';

export const policyOptions = {
  file: { type: 'string', short: 'f' },
  profile: { type: 'string', short: 'p' },
} as const;

export function policyFrom(values: { file?: string | undefined; profile?: string | undefined }, command: string, fallbackProfile?: string): Policy {
  if (values.file && values.profile) throw new UsageError(`give either -f POLICY or --profile NAME, not both; see \`sysward ${command} --help\``);
  if (values.file) return loadPolicyFile(values.file);
  const profile = values.profile ?? fallbackProfile;
  if (profile) return loadProfile(profile);
  throw new UsageError(`${command} needs a policy: -f POLICY.yaml or --profile NAME (container-host, kspp, audit-all); see \`sysward ${command} --help\``);
}
