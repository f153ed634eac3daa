// Guard names given on the command line (or by a caller) before they become paths
// (/sys/fs/bpf/sysward/guards/NAME): the policy's own rule, so `guard rm ..` or `events ../x`
// can never reach another folder of bpffs. The rule is defined once, in model.ts.
import { GUARD_NAME, GUARD_NAME_RULE } from '../model.js';
import { GuardInputError } from './errors.js';

export { GUARD_NAME };

/** The name itself, or a GuardInputError (exit status 2) naming the rule and the fix. */
export function checkGuardName(name: string): string {
  if (GUARD_NAME.test(name)) return name;
  throw new GuardInputError(`${JSON.stringify(name)} is not a guard name: names are ${GUARD_NAME_RULE} (as in a policy's name:); list the guards with \`sysward guard ls\``);
}
