// The disassembler prints what bpftool prints for a live program's xlated instructions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Assembler, R0, R1, R2, R3, R4, R6, R10, decodeInstructions, formatInstructions } from '../../src/bpf/asm/index.js';
import { Program } from '../../src/bpf/prog.js';
import { BpfMap } from '../../src/bpf/map.js';
import { u32 } from '../../src/bpf/codec.js';
import { xlatedCallNames } from '../../src/bpf/kallsyms.js';
import { IS_ROOT, needs, which } from '../helpers/env.js';

const gate = needs(!IS_ROOT ? 'kernel test: needs root' : !which('bpftool') ? 'needs bpftool (apt-get install bpftool)' : false);

test('kernel: disassembly of a loaded program equals bpftool prog dump xlated', gate, () => {
  using m = BpfMap.create({ type: 'HASH', key: u32, value: u32, maxEntries: 4 });
  const prog = new Assembler()
    .mov(R6, R1).mov(R1, 0).stx('u32', R10, -4, R1)
    .ldMapFd(R1, m).mov(R2, R10).add(R2, -4).call('map_lookup_elem')
    .jeq(R0, 0, 'skip').ldx('u32', R1, R0, 0).add32(R1, 1).stx('u32', R0, 0, R1).label('skip')
    .mov(R1, R6).mov(R2, R10).add(R2, -64).mov(R3, 32).mov(R4, 0).call('sysctl_get_name')
    .jslt(R0, 0, 'deny').ldx('u32', R1, R6, 0).jne(R1, 0, 'deny')
    .mov(R0, 1).exit()
    .label('deny').mov(R0, 0).exit()
    .assemble();
  using p = Program.load({ type: 'CGROUP_SYSCTL', expectedAttachType: 'CGROUP_SYSCTL', instructions: prog });
  const bpftool = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(p.info().id)], { encoding: 'utf8' });
  const ours = formatInstructions(decodeInstructions(p.xlated()), { mapText: (id) => `map[id:${id}]`, callName: xlatedCallNames(undefined) });
  assert.equal(ours.trimEnd(), bpftool.trimEnd());
});
