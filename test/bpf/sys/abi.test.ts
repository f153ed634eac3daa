// The struct layouts and enum values in src/bpf/sys are checked against the installed uapi header
// by compiling a C program that prints sizeof / offsetof and the enum values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as abi from '../../../src/bpf/sys/abi.js';
import { PerfEventAttr } from '../../../src/bpf/sys/perf.js';
import type { Layout, Spec } from '../../../src/bpf/sys/layout.js';
import { needs, which } from '../../helpers/env.js';

const HEADER = '/usr/include/linux/bpf.h';
const cc = which('cc') ?? which('gcc');
const gate = needs(!cc ? 'needs a C compiler (apt-get install gcc)' : !existsSync(HEADER) ? `needs ${HEADER} (apt-get install linux-libc-dev)` : false);

const layouts: Record<string, Layout<Spec>> = {
  MapCreateAttr: abi.MapCreateAttr, MapElemAttr: abi.MapElemAttr, MapBatchAttr: abi.MapBatchAttr,
  ProgLoadAttr: abi.ProgLoadAttr, TestRunAttr: abi.TestRunAttr, ObjAttr: abi.ObjAttr, ProgAttachAttr: abi.ProgAttachAttr, GetIdAttr: abi.GetIdAttr,
  InfoAttr: abi.InfoAttr, ProgQueryAttr: abi.ProgQueryAttr, LinkCreateAttr: abi.LinkCreateAttr,
  LinkUpdateAttr: abi.LinkUpdateAttr, LinkDetachAttr: abi.LinkDetachAttr, EnableStatsAttr: abi.EnableStatsAttr, ProgBindMapAttr: abi.ProgBindMapAttr,
  RawTracepointOpenAttr: abi.RawTracepointOpenAttr, BtfLoadAttr: abi.BtfLoadAttr, BtfInfo: abi.BtfInfo,
  PerfEventAttr, ProgInfo: abi.ProgInfo, MapInfo: abi.MapInfo, LinkInfo: abi.LinkInfo,
  FuncInfo: abi.FuncInfo, LineInfo: abi.LineInfo,
} as unknown as Record<string, Layout<Spec>>;

const enums: Record<string, [Record<string, number>, string]> = {
  Cmd: [abi.Cmd, abi.CmdPrefix], MapType: [abi.MapType, abi.MapTypePrefix], ProgType: [abi.ProgType, abi.ProgTypePrefix],
  AttachType: [abi.AttachType, abi.AttachTypePrefix], LinkType: [abi.LinkType, abi.LinkTypePrefix],
};

function runC(program: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sysward-abi-'));
  try {
    writeFileSync(join(dir, 'abi.c'), program);
    execFileSync(cc!, ['-o', join(dir, 'abi'), join(dir, 'abi.c')], { stdio: 'pipe' });
    return execFileSync(join(dir, 'abi'), { encoding: 'utf8' });
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** Names the header defines (enum members are not macros, so grep the text). */
const headerText = () => (existsSync(HEADER) ? execFileSync('cat', [HEADER], { encoding: 'utf8' }) : '');

test('struct layouts match <linux/bpf.h>', gate, () => {
  const lines: string[] = [];
  for (const [name, l] of Object.entries(layouts)) {
    for (const f of l.fields) {
      const cName = (l.cNames as Record<string, string | null | undefined>)[f.name];
      if (cName === null) continue; // bitfield, padding, or newer than the header
      lines.push(`printf("${name}.${f.name} %zu %zu\\n", offsetof(${l.cType}, ${l.cPrefix}${cName ?? f.name}), sizeof(((${l.cType} *)0)->${l.cPrefix}${cName ?? f.name}));`);
    }
    // perf_event_attr is passed as its leading part; the kernel reads the size from attr.size.
    if (l.cPrefix === '' && l.cType !== 'union bpf_attr' && name !== 'PerfEventAttr') lines.push(`printf("${name} size %zu\\n", sizeof(${l.cType}));`);
  }
  // The layout's size goes in attr.size; the kernel reads config2 (probe offsets) from VER1 on.
  lines.push('printf("PerfEventAttr size %d\\n", PERF_ATTR_SIZE_VER1);');
  const out = runC(`#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\n#include <linux/perf_event.h>\nint main(void){\n${lines.join('\n')}\nreturn 0;}\n`);
  let checked = 0;
  for (const line of out.trim().split('\n')) {
    const [key, a, b] = line.split(' ');
    const [name, field] = key!.split('.');
    const l = layouts[name!]!;
    if (a === 'size') {
      // Newer kernels grew these structs; ours may be larger than the old header's, never smaller.
      assert.ok(l.size >= Number(b), `${name} is ${l.size} bytes; the header says ${b}`);
      continue;
    }
    const f = l.fields.find((x) => x.name === field)!;
    assert.equal(f.offset, Number(a), `${name}.${field} offset`);
    assert.equal(f.size, Number(b), `${name}.${field} size`);
    checked++;
  }
  assert.ok(checked > 100, `checked ${checked} fields`);
});

test('enum values and flags match <linux/bpf.h>', gate, () => {
  const text = headerText();
  const lines: string[] = [];
  for (const [name, [values, prefix]] of Object.entries(enums)) {
    for (const k of Object.keys(values)) {
      if (new RegExp(`\\b${prefix}${k}\\b`).test(text)) lines.push(`printf("${name} ${k} %d\\n", (int)${prefix}${k});`);
    }
  }
  const flags: [string, number][] = [
    ['BPF_F_ALLOW_MULTI', abi.AttachFlag.F_ALLOW_MULTI], ['BPF_F_ALLOW_OVERRIDE', abi.AttachFlag.F_ALLOW_OVERRIDE],
    ['BPF_F_REPLACE', abi.AttachFlag.F_REPLACE], ['BPF_F_QUERY_EFFECTIVE', abi.QueryFlag.F_QUERY_EFFECTIVE],
    ['BPF_F_NO_PREALLOC', abi.MapFlag.F_NO_PREALLOC], ['BPF_F_RDONLY_PROG', abi.MapFlag.F_RDONLY_PROG],
    ['BPF_F_MMAPABLE', abi.MapFlag.F_MMAPABLE], ['BPF_NOEXIST', abi.MapUpdate.NOEXIST], ['BPF_EXIST', abi.MapUpdate.EXIST],
    ['BPF_F_LOCK', abi.MapUpdate.F_LOCK], ['BPF_F_SYSCTL_BASE_NAME', abi.SysctlFlag.F_SYSCTL_BASE_NAME],
    ['BPF_PSEUDO_MAP_FD', abi.PseudoSrc.MAP_FD], ['BPF_PSEUDO_MAP_VALUE', abi.PseudoSrc.MAP_VALUE],
    ['BPF_RINGBUF_BUSY_BIT', abi.RingBuf.BUSY_BIT >>> 0], ['BPF_RINGBUF_DISCARD_BIT', abi.RingBuf.DISCARD_BIT],
    ['BPF_RINGBUF_HDR_SZ', abi.RingBuf.HDR_SZ], ['BPF_OBJ_NAME_LEN', abi.BPF_OBJ_NAME_LEN], ['BPF_TAG_SIZE', abi.BPF_TAG_SIZE],
    ['BPF_STATS_RUN_TIME', abi.StatsType.RUN_TIME], ['BPF_F_SLEEPABLE', abi.ProgLoadFlag.F_SLEEPABLE],
    ['BPF_LINE_INFO_LINE_NUM(0xfffffc2aU)', abi.lineInfoLine(0xfffffc2a)], ['BPF_LINE_INFO_LINE_COL(0xfffffc2aU)', abi.lineInfoColumn(0xfffffc2a)],
  ];
  for (const [c, v] of flags) lines.push(`printf("flag ${c} %u %u\\n", (unsigned)(${c}), ${v}u);`);
  const out = runC(`#include <stdio.h>\n#include <linux/bpf.h>\nint main(void){\n${lines.join('\n')}\nreturn 0;}\n`);
  let checked = 0;
  for (const line of out.trim().split('\n')) {
    const [kind, k, v, want] = line.split(' ');
    if (kind === 'flag') assert.equal(Number(v), Number(want), k);
    else assert.equal(enums[kind!]![0][k!], Number(v), `${kind}.${k}`);
    checked++;
  }
  assert.ok(checked > 150, `checked ${checked} values`);
});

test('encodeAll lays records end to end, each as encode() makes it (func_info and line_info arrays)', () => {
  const records = [{ insn_off: 0, file_name_off: 1, line_off: 2, line_col: (7 << 10) | 3 }, { insn_off: 9, file_name_off: 0, line_off: 40, line_col: 5 }];
  const all = abi.LineInfo.encodeAll(records);
  assert.equal(all.length, abi.LineInfo.size * 2);
  assert.deepEqual(all, Buffer.concat(records.map((r) => abi.LineInfo.encode(r))));
  assert.deepEqual(abi.LineInfo.decode(all, abi.LineInfo.size), { insn_off: 9, file_name_off: 0, line_off: 40, line_col: 5 });
  assert.equal(abi.FuncInfo.encodeAll([]).length, 0);
});
