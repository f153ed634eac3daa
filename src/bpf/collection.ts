// The loader: a CollectionSpec (spec.ts) → kernel objects. Maps are created and filled, each
// program's map references are given the maps' fds, and programs are loaded (with the verifier
// log on failure, prog.ts). A map may be supplied instead of created (`replaceMaps`: a reload that
// keeps the readers of an existing ring buffer). Whatever was made is closed again on failure.
import { BpfMap } from './map.js';
import { Program } from './prog.js';
import { possibleCpuCount } from './cpus.js';
import { fillMap, missingMaps, withMapFds, type CollectionSpec, type MapSpec } from './spec.js';
import { encodeInstructions } from './asm/insn.js';

export class LoadedCollection implements Disposable {
  /** Maps the caller supplied: not closed with the collection. */
  readonly #borrowed: Set<string>;

  constructor(readonly maps: Record<string, BpfMap<unknown, unknown>>, readonly programs: Record<string, Program>, borrowed: Set<string>) {
    this.#borrowed = borrowed;
  }

  close(): void {
    for (const p of Object.values(this.programs)) p.close();
    for (const [name, m] of Object.entries(this.maps)) if (!this.#borrowed.has(name)) m.close();
  }

  [Symbol.dispose](): void { this.close(); }
}

/** Create and fill one map from its spec. */
export function createMapFromSpec(name: string, spec: MapSpec<unknown, unknown>): BpfMap<unknown, unknown> {
  const m = BpfMap.create({ type: spec.type, key: spec.key, value: spec.value, maxEntries: spec.maxEntries, ...(spec.flags !== undefined ? { flags: spec.flags } : {}), name: spec.name ?? name.slice(0, 15) });
  try {
    fillMap(m, spec, possibleCpuCount());
    if (spec.freeze) m.freeze();
    return m;
  } catch (e) { m.close(); throw e; }
}

export function loadCollection(spec: CollectionSpec, o: { replaceMaps?: Record<string, BpfMap<unknown, unknown>> } = {}): LoadedCollection {
  const missing = missingMaps(spec);
  if (missing.length) throw new Error(`program ${missing[0]!.program} refers to map "${missing[0]!.map}", which its collection does not define; add it to the spec's maps`);
  const maps: Record<string, BpfMap<unknown, unknown>> = {};
  const borrowed = new Set<string>();
  const programs: Record<string, Program> = {};
  try {
    for (const [name, m] of Object.entries(spec.maps)) {
      const given = o.replaceMaps?.[name];
      if (given) { maps[name] = given; borrowed.add(name); } else maps[name] = createMapFromSpec(name, m);
    }
    for (const [name, p] of Object.entries(spec.programs)) {
      const insns = withMapFds(p.program, (map) => maps[map]!.fd);
      programs[name] = Program.load({
        type: p.type, instructions: encodeInstructions(insns), ...(p.expectedAttachType ? { expectedAttachType: p.expectedAttachType } : {}),
        name: p.name ?? name.slice(0, 15), license: p.license ?? 'GPL',
      });
    }
  } catch (e) {
    for (const p of Object.values(programs)) p.close();
    for (const [name, m] of Object.entries(maps)) if (!borrowed.has(name)) m.close();
    throw e;
  }
  return new LoadedCollection(maps, programs, borrowed);
}
