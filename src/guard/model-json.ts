// The policy model as JSON (bigints tagged), for pinned guard metadata and --json output.
import type { Policy } from './model.js';

export const policyToJson = (p: Policy): string =>
  JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));

export const policyFromJson = (text: string): Policy =>
  JSON.parse(text, (_k, v) => (v && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v)) as Policy;
