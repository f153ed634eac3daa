// The interpreter's loader: the same CollectionSpec the kernel loader takes (../spec.ts), made
// into VM maps and programs, so what `explain` and `test` run is exactly what the kernel runs.
import { fillMap, missingMaps, withMapFds, type CollectionSpec } from '../spec.js';
import { VmProgram } from './interpreter.js';
import { TypedVmMap, VmMap, VmRingBuf, createVmRingBuf, type VmMapType } from './maps.js';

export interface VmCollection {
  /** Typed maps (codecs of the spec), or the ring buffer itself for RINGBUF maps. */
  maps: Record<string, TypedVmMap<unknown, unknown> | VmRingBuf>;
  programs: Record<string, VmProgram>;
}

export function loadVmCollection(spec: CollectionSpec, o: { cpus?: number } = {}): VmCollection {
  const missing = missingMaps(spec);
  if (missing.length) throw new Error(`program ${missing[0]!.program} refers to map "${missing[0]!.map}", which its collection does not define; add it to the spec's maps`);
  const maps: VmCollection['maps'] = {};
  for (const [name, m] of Object.entries(spec.maps)) {
    const label = m.name ?? name.slice(0, 15);
    if (m.type === 'RINGBUF') { maps[name] = createVmRingBuf(m.maxEntries, label); continue; }
    const typed = VmMap.create({ type: m.type as VmMapType, key: m.key, value: m.value, maxEntries: m.maxEntries, ...(m.flags !== undefined ? { flags: m.flags } : {}), ...(o.cpus ? { cpus: o.cpus } : {}), name: label }) as TypedVmMap<unknown, unknown>;
    fillMap(typed as never, m, typed.map.cpus);
    maps[name] = typed;
  }
  const programs: VmCollection['programs'] = {};
  const vmMap = (m: TypedVmMap<unknown, unknown> | VmRingBuf): VmMap => (m instanceof VmRingBuf ? m : m.map);
  for (const [name, p] of Object.entries(spec.programs)) {
    const insns = withMapFds(p.program, (map) => vmMap(maps[map]!).fd);
    programs[name] = new VmProgram(insns, { maps: Object.values(maps).map(vmMap) });
  }
  return { maps, programs };
}
