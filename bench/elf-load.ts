// 11. Loading clang-built objects: `sysward bpf load OBJ --pin DIR` against `bpftool prog loadall
//     OBJ DIR`, process to process (what a user waits for), interleaved in the same run so load on
//     the machine weighs on both alike. Objects: the 12-program tracing tool of bench/c and the
//     test fixtures that load on any kernel with BTF (CO-RE, subprograms, maps of maps, globals).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureBpffs } from '../src/bpf/pin.js';
import { readObject } from '../src/bpf/elf/object.js';
import { buildBpf, START_ENV, stats, type Stats } from './lib.js';
import { compileFixture } from '../test/bpf/elf/compile.js';

const bin = fileURLToPath(new URL('../../bin/sysward', import.meta.url));

export interface LoadRow { object: string; programs: number; sysward: Stats; bpftool: Stats }
export interface LoadResult { rows: LoadRow[]; nodeStart: Stats }

/** Rounds: each runs every object through both loaders once. */
export const LOAD_ROUNDS = 15;

function wallMs(argv: string[], pinDir: string): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: START_ENV });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  rmSync(pinDir, { recursive: true, force: true });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return ms;
}

export async function benchElfLoad(progress: (s: string) => void): Promise<LoadResult> {
  ensureBpffs();
  const objects = [
    { object: 'statlike (bench/c): 12 tracepoints, CO-RE, perf buffer', path: buildBpf('statlike') },
    { object: 'libbpf_compat (test fixture): iterator, .text, fd maps', path: compileFixture('libbpf_compat') },
    { object: 'map_in_map (test fixture): maps of maps, tail calls', path: compileFixture('map_in_map') },
    { object: 'sysctl (test fixture): cgroup/sysctl, global data', path: compileFixture('sysctl') },
  ].map((o) => ({ ...o, programs: readObject(o.path).programs.length }));
  const dir = `/sys/fs/bpf/sysward-bench-load-${process.pid}`;
  const samples = objects.map(() => ({ sysward: [] as number[], bpftool: [] as number[] }));
  const nodeStart: number[] = [];
  try {
    for (let round = 0; round < LOAD_ROUNDS; round++) {
      if (round % 5 === 0) progress(`11: loading objects, round ${round + 1} of ${LOAD_ROUNDS}`);
      // The floor any Node.js command pays, in the same round.
      nodeStart.push(wallMs([process.execPath, '-e', '0'], dir));
      objects.forEach((o, i) => {
        samples[i]!.bpftool.push(wallMs(['bpftool', 'prog', 'loadall', o.path, dir], dir));
        samples[i]!.sysward.push(wallMs([process.execPath, bin, 'bpf', 'load', o.path, '--pin', dir], dir));
      });
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
  return {
    rows: objects.map((o, i) => ({ object: o.object, programs: o.programs, sysward: stats(samples[i]!.sysward), bpftool: stats(samples[i]!.bpftool) })),
    nodeStart: stats(nodeStart),
  };
}
