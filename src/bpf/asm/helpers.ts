// eBPF helper functions by name and id. The uapi list is generated (helper-ids.ts); helpers that
// kernels newer than the installed header added are listed here by hand.

import { AsmError, closestName } from './errors.js';
import { UAPI_HELPERS } from './helper-ids.js';

/**
 * Helpers added after the Linux 6.1 uapi header that helper-ids.ts is generated from. Source:
 * include/uapi/linux/bpf.h of Linux 6.2 (commit "bpf: Implement cgroup storage available to
 * non-cgroup-attached bpf progs"). They are the last helpers: since then new kernel functions are
 * kfuncs, not helpers. An id that the generated list already has is skipped, so regenerating from
 * a newer header stays correct.
 */
const NEWER_HELPERS: ReadonlyArray<readonly [name: string, id: number]> = [
  ['cgrp_storage_get', 210],
  ['cgrp_storage_delete', 211],
];

const namesById: string[] = UAPI_HELPERS.map(([name]) => name);
for (const [name, id] of NEWER_HELPERS) namesById[id] ??= name;

const idsByName = new Map<string, number>(namesById.map((name, id) => [name, id]));

/** Every helper as [name without the bpf_ prefix, id], in id order. */
export const HELPERS: ReadonlyArray<readonly [name: string, id: number]> = namesById.map((name, id) => [
  name,
  id,
]);

/** One more than the highest known helper id (the kernel's __BPF_FUNC_MAX_ID). */
export const HELPER_ID_LIMIT = namesById.length;

/** The id of a helper, by name with or without the `bpf_` prefix; undefined if unknown. */
export function findHelperId(name: string): number | undefined {
  return idsByName.get(name.startsWith('bpf_') ? name.slice(4) : name);
}

/** The id of a helper; throws an AsmError with a did-you-mean suggestion if the name is unknown. */
export function helperId(name: string): number {
  const id = findHelperId(name);
  if (id !== undefined) return id;
  const prefix = name.startsWith('bpf_') ? 'bpf_' : '';
  const suggestion = closestName(name.slice(prefix.length), idsByName.keys());
  throw new AsmError(
    'unknown-helper',
    `unknown helper "${name}"`,
    suggestion !== undefined
      ? `did you mean ${prefix}${suggestion}?`
      : 'see the helper list in bpf-helpers(7) or HELPERS in src/bpf/asm/helpers.ts',
  );
}

/** The name of a helper without the `bpf_` prefix; undefined for an unknown id. */
export function helperName(id: number): string | undefined {
  return namesById[id];
}
