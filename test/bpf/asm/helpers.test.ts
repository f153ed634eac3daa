import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';

import { AsmError, findHelperId, helperId, helperName, HELPERS, HELPER_ID_LIMIT } from '../../../src/bpf/asm/index.js';
import { needs } from '../../helpers/env.js';
import { repoRoot } from './fixtures.js';

const UAPI_HEADER = '/usr/include/linux/bpf.h';

describe('helpers', () => {
  it('finds helpers by name with and without the bpf_ prefix', () => {
    assert.equal(helperId('map_lookup_elem'), 1);
    assert.equal(helperId('bpf_map_lookup_elem'), 1);
    assert.equal(helperId('sysctl_get_name'), 101);
    assert.equal(helperId('bpf_strtoul'), 106);
    assert.equal(helperId('user_ringbuf_drain'), 209);
    assert.equal(findHelperId('no_such_helper'), undefined);
  });

  it('knows the helpers added after the installed 6.1 header', () => {
    assert.equal(helperId('cgrp_storage_get'), 210);
    assert.equal(helperId('bpf_cgrp_storage_delete'), 211);
    assert.equal(HELPER_ID_LIMIT, 212);
  });

  it('names helpers by id', () => {
    assert.equal(helperName(0), 'unspec');
    assert.equal(helperName(101), 'sysctl_get_name');
    assert.equal(helperName(211), 'cgrp_storage_delete');
    assert.equal(helperName(212), undefined);
  });

  it('lists every id once, densely', () => {
    assert.deepEqual(
      HELPERS.map(([, id]) => id),
      Array.from({ length: HELPER_ID_LIMIT }, (_, i) => i),
    );
    assert.equal(new Set(HELPERS.map(([name]) => name)).size, HELPERS.length);
  });

  it('suggests the closest name for a typo', () => {
    assert.throws(
      () => helperId('sysctl_get_nam'),
      (error: unknown) =>
        error instanceof AsmError &&
        error.kind === 'unknown-helper' &&
        error.message === 'unknown helper "sysctl_get_nam": did you mean sysctl_get_name?',
    );
    assert.throws(() => helperId('bpf_get_curent_pid_tgid'), /did you mean bpf_get_current_pid_tgid\?/);
  });

  it('points to the list when nothing is close', () => {
    assert.throws(() => helperId('frobnicate_the_kernel'), /unknown helper "frobnicate_the_kernel": see the helper list/);
  });

  const headerMissing = existsSync(UAPI_HEADER) ? false : `${UAPI_HEADER} is missing (install linux-libc-dev)`;
  it('knows every helper of the installed uapi header, by the same id', needs(headerMissing), async () => {
    const generator = (await import(pathToFileURL(join(repoRoot(), 'scripts/gen-helpers.mjs')).href)) as {
      parseHelperMapper(text: string): Array<[string, number]>;
    };
    const fromHeader = generator.parseHelperMapper(readFileSync(UAPI_HEADER, 'utf8'));
    assert.ok(fromHeader.length >= 210, `only ${fromHeader.length} helpers parsed from ${UAPI_HEADER}`);
    for (const [name, id] of fromHeader) {
      assert.equal(helperName(id), name, `helper ${id} of ${UAPI_HEADER}: run node scripts/gen-helpers.mjs`);
    }
  });

  it('parses the explicit-id helper macro of Linux 6.2 and later headers', async () => {
    const generator = (await import(pathToFileURL(join(repoRoot(), 'scripts/gen-helpers.mjs')).href)) as {
      parseHelperMapper(text: string): Array<[string, number]>;
    };
    const header = [
      '#define ___BPF_FUNC_MAPPER(FN, ctx...)\t\t\t\\',
      '\tFN(unspec, 0, ##ctx)\t\t\t\t\\',
      '\tFN(map_lookup_elem, 1, ##ctx)\t\t\\',
      '\t/* */',
      '#define __BPF_FUNC_MAPPER(FN) ___BPF_FUNC_MAPPER(FN)',
    ].join('\n');
    assert.deepEqual(generator.parseHelperMapper(header), [
      ['unspec', 0],
      ['map_lookup_elem', 1],
    ]);
  });
});
