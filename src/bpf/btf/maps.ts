// Any kernel map's entries decoded by the BTF the kernel keeps for it (bpftool map dump's
// "formatted" output): objects loaded with BTF by sysward, libbpf or bpftool.
import { bytes } from '../codec.js';
import { possibleCpuCount } from '../cpus.js';
import { BpfMap, readMapInfo } from '../map.js';
import { isPerCpu } from '../spec.js';
import { Cmd, MapInfo, getFdById, objGetInfo } from '../sys/index.js';
import { decodeValue, type BtfValue } from './decode.js';
import { readKernelBtf } from './source.js';

export interface DecodedMap {
  id: number; name: string; type: string;
  /** false when the map has no BTF: keys and values are hex then. */
  typed: boolean;
  entries: { key: BtfValue; value: BtfValue }[];
}

/** Read every entry of map `id`, decoded by its BTF when it has some. */
export function readMapDecoded(id: number, limit = 100_000): DecodedMap {
  const fd = getFdById(Cmd.MAP_GET_FD_BY_ID, id, 'map');
  if (!fd) throw new Error(`map id ${id} does not exist (any more); list maps with \`sysward bpf maps\``);
  const raw = Buffer.alloc(MapInfo.size);
  objGetInfo(fd, raw, 'map');
  const info = readMapInfo(fd);
  const btfId = MapInfo.get(raw, 'btf_id');
  const keyType = MapInfo.get(raw, 'btf_key_type_id');
  const valueType = MapInfo.get(raw, 'btf_value_type_id');
  const btf = btfId ? readKernelBtf(btfId) : undefined;
  const perCpu = isPerCpu(info.typeName);
  const stride = Math.ceil(info.valueSize / 8) * 8;
  const valueBytes = perCpu ? stride * possibleCpuCount() : info.valueSize;
  using map = BpfMap.fromFD(fd, bytes(info.keySize), bytes(valueBytes));
  const dec = (t: number, b: Buffer): BtfValue => (btf && t ? decodeValue(btf, t, b) : b.toString('hex'));
  // Global data maps (.bss, .rodata) have a value type but no key type: their key is a u32 index.
  const decKey = (b: Buffer): BtfValue => (btf && !keyType && valueType && b.length === 4 ? b.readUInt32LE(0) : dec(keyType, b));
  const entries: { key: BtfValue; value: BtfValue }[] = [];
  if (info.typeName === 'RINGBUF' || info.keySize === 0) return { id, name: info.name, type: info.typeName, typed: !!btf, entries };
  for (const [k, v] of map) {
    const value = perCpu ? Array.from({ length: valueBytes / stride }, (_, c) => dec(valueType, v.subarray(c * stride, c * stride + info.valueSize))) : dec(valueType, v);
    entries.push({ key: decKey(k), value });
    if (entries.length >= limit) break;
  }
  return { id, name: info.name, type: info.typeName, typed: !!btf && !!valueType, entries };
}
