// The policy model as JSON (bigints tagged), for pinned guard metadata and --json output.
import type { Policy } from './model.js';

// Policies are not changed once parsed; the daemon compares its desired policies with the pinned
// ones on every pass (each second), so each is serialised once.
const serialised = new WeakMap<Policy, string>();

export const policyToJson = (p: Policy): string => {
  let json = serialised.get(p);
  if (json === undefined) {
    json = JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
    serialised.set(p, json);
  }
  return json;
};

export const policyFromJson = (text: string): Policy =>
  JSON.parse(text, (_k, v) => (v && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v)) as Policy;
