// Probe sections attached for real: uprobes (entry, return, sleepable) on a program gcc builds here,
// PIE and not, and on libc by library name, counted per process by an object clang builds; kprobes
// where the kernel has them, and the one clear error where it does not. Through the library and
// through `sysward bpf load --attach`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readObject } from '../../../src/bpf/elf/object.js';
import { Collection } from '../../../src/bpf/elf/collection.js';
import { readMapDecoded } from '../../../src/bpf/btf/maps.js';
import { Link } from '../../../src/bpf/link.js';
import { BpfMap } from '../../../src/bpf/map.js';
import { ensureBpffs } from '../../../src/bpf/pin.js';
import { NotSupportedError } from '../../../src/bpf/sys/errors.js';
import { gates, kernel, needs, which } from '../../helpers/env.js';
import { repoRoot } from '../../helpers/paths.js';
import { ELF_FIXTURES, compileFixture, withClang } from './compile.js';

const UPROBE_PMU = '/sys/bus/event_source/devices/uprobe';
const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe';
const SYSWARD = join(repoRoot(), 'bin', 'sysward');

const gate = gates(kernel(), withClang, needs(!which('gcc') ? 'needs gcc (apt-get install gcc)' : false));
const uprobeGate = gates(gate, needs(!existsSync(UPROBE_PMU) ? `needs the uprobe PMU (${UPROBE_PMU}: CONFIG_UPROBE_EVENTS)` : false));

let dir: string | undefined;
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** test/fixtures/elf/uprobe-target.c built with gcc -O0 (probed_add stays a call), PIE or not. */
function buildTarget(variant: 'pie' | 'no-pie'): string {
  dir ??= mkdtempSync(join(tmpdir(), 'sysward-probe-'));
  const exe = join(dir, variant, 'uprobe-target');
  if (!existsSync(exe)) {
    mkdirSync(join(dir, variant), { recursive: true });
    execFileSync('gcc', ['-O0', `-${variant}`, '-o', exe, join(ELF_FIXTURES, 'uprobe-target.c')], { stdio: 'pipe' });
  }
  return exe;
}

/** The uprobe object with its sections naming `target` (SEC("uprobe/TARGET:probed_add")). */
const uprobeObject = (target: string) => compileFixture('uprobe', { TARGET: JSON.stringify(target) });

/** Run the target: N calls of probed_add, N of getpid. Its pid and the last sum it printed. */
function runTarget(exe: string, n: number, ...extra: string[]): { pid: number; last: bigint } {
  const r = spawnSync(exe, [String(n), ...extra], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { pid: r.pid!, last: BigInt(r.stdout.trim()) };
}

const callsOf = (coll: Collection, pid: number) => coll.entries('calls').find((e) => e.key === pid)?.value;

for (const variant of ['pie', 'no-pie'] as const) {
  test(`kernel: uprobe, uretprobe and uprobe.s from SEC() names count a ${variant} program's calls exactly; getpid by library name; closed links count no more`, uprobeGate, () => {
    const exe = buildTarget(variant);
    using coll = Collection.load(readObject(uprobeObject(exe)));
    const links = new Map([...coll.programs.keys()].map((name) => [name, coll.attach(name) as Link]));
    assert.deepEqual([...links.keys()].sort(), ['add_entry', 'add_entry_sleepable', 'add_return', 'getpid_entry']);
    for (const l of links.values()) assert.equal(l.info().typeName, 'PERF_EVENT');

    const first = runTarget(exe, 7);
    assert.equal(first.last, 1013n, 'probed_add(6, 1000, "sysward")');
    assert.deepEqual(callsOf(coll, first.pid), {
      entries: 7n, returns: 7n, last_a: 6n, last_ret: first.last, sleepable: 7n, tag: 'sysward', getpids: 7n,
    });

    // Only the entry probe detached: the others still count, into the record the uretprobe creates.
    links.get('add_entry')!.close();
    const second = runTarget(exe, 3);
    assert.deepEqual(callsOf(coll, second.pid), {
      entries: 0n, returns: 3n, last_a: 0n, last_ret: second.last, sleepable: 3n, tag: 'sysward', getpids: 3n,
    });

    for (const l of links.values()) l.close();
    const third = runTarget(exe, 3);
    assert.equal(callsOf(coll, third.pid), undefined, 'every link closed: nothing counts');
  });
}

test('kernel: a uprobe section naming a missing binary or function fails at attach with the cause, attaching nothing', uprobeGate, () => {
  {
    using coll = Collection.load(readObject(uprobeObject('/nonexistent/sysward-target')));
    assert.throws(() => coll.attach('add_entry'), /^Error: \/nonexistent\/sysward-target: no such file; give the path of an executable or shared library$/);
    assert.equal(coll.links.length, 0);
  }
  {
    // A binary without probed_add: libc (stripped or not, it has no such function).
    const libc = /\s(\/\S+\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'utf8'))![1]!;
    using coll = Collection.load(readObject(uprobeObject(libc)));
    assert.throws(() => coll.attach('add_return'), new RegExp(`^Error: ${libc} has no function probed_add`));
    assert.equal(coll.links.length, 0);
  }
});

test('kernel: kprobe/vfs_read and kretprobe/vfs_read attach through the kprobe PMU, or fail naming why this kernel has none', gate, () => {
  using coll = Collection.load(readObject(compileFixture('kprobe')));
  if (!existsSync(KPROBE_PMU)) {
    // This kernel cannot have kprobes: the cause, read from /proc/kallsyms, is in the error.
    const cause = / [Tt] register_kprobe$/m.test(readFileSync('/proc/kallsyms', 'utf8')) ? 'CONFIG_KPROBE_EVENTS is not set, or the kernel is older than 4.17' : 'CONFIG_KPROBES is not set';
    for (const name of ['read_entry', 'read_return']) {
      assert.throws(() => coll.attach(name), (e: unknown) => {
        assert.ok(e instanceof NotSupportedError, String(e));
        assert.equal(e.message, `this kernel has no kprobe PMU (${cause}: ${KPROBE_PMU} is missing); kprobe/ and kretprobe/ programs cannot attach here; use a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y, or fentry/FUNC and fexit/FUNC where the kernel allows BPF trampolines`);
        return true;
      });
    }
    assert.equal(coll.links.length, 0);
    return;
  }
  coll.attach('read_entry');
  coll.attach('read_return');
  const { pid } = runTarget(buildTarget('pie'), 5, 'read');
  const reads = coll.entries('reads').find((e) => e.key === pid)?.value as { entries: bigint; returns: bigint; last_ret: bigint } | undefined;
  // The dynamic loader reads too; the target's own 5 reads of 7 bytes come last.
  assert.ok(reads && reads.entries >= 5n && reads.returns >= 5n, JSON.stringify(reads, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
  assert.equal(reads.last_ret, 7n);
});

/** `sysward bpf …` as a user runs it. */
const sysward = (...args: string[]) => spawnSync(process.execPath, [SYSWARD, 'bpf', ...args], { encoding: 'utf8' });

test('kernel: sysward bpf load --attach pins uprobe links that count after the command exited; removing the pins detaches them', uprobeGate, async () => {
  const exe = buildTarget('pie');
  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-probe-${process.pid}`;
  try {
    const r = sysward('load', uprobeObject(exe), '--pin', pin, '--attach', '--json');
    assert.equal(r.status, 0, r.stderr);
    const loaded = JSON.parse(r.stdout) as { programs: { name: string; link?: string }[]; maps: { name: string; id: number }[] };
    assert.deepEqual(loaded.programs.map((p) => [p.name, p.link]).sort(), ['add_entry', 'add_entry_sleepable', 'add_return', 'getpid_entry'].map((n) => [n, join(pin, 'links', n)]));
    const linkIds = loaded.programs.map((p) => { using l = Link.openPinned(p.link!); return l.info().id; });
    const mapId = loaded.maps.find((m) => m.name === 'calls')!.id;

    const { pid, last } = runTarget(exe, 4);
    const dump = sysward('map', 'dump', String(mapId), '--json');
    assert.equal(dump.status, 0, dump.stderr);
    const entry = (JSON.parse(dump.stdout) as { entries: { key: number; value: unknown }[] }).entries.find((e) => e.key === pid);
    assert.deepEqual(entry?.value, { entries: 4, returns: 4, last_a: 3, last_ret: Number(last), sleepable: 4, tag: 'sysward', getpids: 4 });

    // Keep the map to look into; the links go with their pins (bpffs frees them after an RCU grace period).
    using map = BpfMap.openBytesById(mapId);
    rmSync(pin, { recursive: true });
    const deadline = Date.now() + 5000;
    const alive = () => linkIds.filter((id) => { try { Link.fromId(id).close(); return true; } catch { return false; } });
    while (alive().length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(alive(), [], 'the links are gone');
    const again = runTarget(exe, 2);
    assert.equal(readMapDecoded(map.info().id).entries.find((e) => e.key === again.pid), undefined, 'detached: no more counts');
  } finally { rmSync(pin, { recursive: true, force: true }); }
});

test('kernel: sysward bpf load --attach of kprobes on a kernel without them names the cause; the programs stay loaded and pinned', gate, () => {
  ensureBpffs();
  const pin = `/sys/fs/bpf/sysward-test-kprobe-${process.pid}`;
  try {
    const r = sysward('load', compileFixture('kprobe'), '--pin', pin, '--attach');
    if (existsSync(KPROBE_PMU)) {
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /program read_entry \(SEC\("kprobe\/vfs_read"\)\) id \d+ pinned at .*, link .*links\/read_entry/);
      return;
    }
    assert.equal(r.status, 1);
    for (const [name, section] of [['read_entry', 'kprobe/vfs_read'], ['read_return', 'kretprobe/vfs_read']]) {
      assert.match(r.stderr, new RegExp(`^not attached: ${name} \\(${section}\\): this kernel has no kprobe PMU \\(CONFIG_KPROBE.*/sys/bus/event_source/devices/kprobe is missing\\); kprobe/ and kretprobe/ programs cannot attach here.*; it stays loaded and pinned$`, 'm'));
      // As bpftool's autoattach: what cannot attach stays loaded and pinned.
      assert.ok(existsSync(`${pin}/${name}`), name);
    }
  } finally { rmSync(pin, { recursive: true, force: true }); }
});
