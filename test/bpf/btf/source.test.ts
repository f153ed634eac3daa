// Function signatures as bpftool's `prog dump` spells them above each function (btf/source.ts);
// the live comparison with bpftool is test/bpf/elf/dump-calls.kernel.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Btf } from '../../../src/bpf/btf/btf.js';
import { functionSignature } from '../../../src/bpf/btf/source.js';

/** Raw BTF from type records (u32 words) and the strings they name. */
function rawBtf(strings: string[], records: (off: (s: string) => number) => number[][]): Btf {
  const off = (s: string) => strings.slice(0, strings.indexOf(s)).reduce((n, x) => n + Buffer.byteLength(x) + 1, 0);
  const words = records(off).flat();
  const typeBytes = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => typeBytes.writeUInt32LE(w >>> 0, i * 4));
  const strBytes = Buffer.from(`${strings.join('\0')}\0`);
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0); hdr[2] = 1; hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(typeBytes.length, 12); hdr.writeUInt32LE(typeBytes.length, 16); hdr.writeUInt32LE(strBytes.length, 20);
  return Btf.parse(Buffer.concat([hdr, typeBytes, strBytes]));
}

const info = (kind: number, vlen = 0, kflag = false) => ((kflag ? 1 << 31 : 0) | (kind << 24) | vlen) >>> 0;
const [INT, PTR, FWD, CONST, FUNC, FUNC_PROTO, TYPE_TAG] = [1, 2, 7, 10, 12, 13, 18];

test('function signatures: bpftool spacing, forward declarations, unnamed and variadic parameters', () => {
  const btf = rawBtf(['', 'int', 'task_struct', 'u', 't', 'pp', 'f', 'g', 'user', 'p', 'h', 'cb', 'k'], (off) => [
    [off('int'), info(INT), 4, (1 << 24) | 32], // 1: int
    [off('task_struct'), info(FWD), 0], // 2: struct task_struct (declared only)
    [0, info(PTR), 2], // 3
    [off('u'), info(FWD, 0, true), 0], // 4: union u (declared only)
    [0, info(PTR), 4], // 5
    [0, info(CONST), 1], // 6: const int
    [0, info(PTR), 6], // 7
    [0, info(PTR), 7], // 8: const int **
    [0, info(FUNC_PROTO, 4), 0, off('t'), 3, 0, 5, off('pp'), 8, 0, 0], // 9: void (struct task_struct *t, union u *, const int **pp, ...)
    [off('f'), info(FUNC, 1), 9], // 10
    [0, info(FUNC_PROTO, 0), 1], // 11: int (void)
    [off('g'), info(FUNC, 0), 11], // 12
    [off('user'), info(TYPE_TAG), 1], // 13: int __tag("user")
    [0, info(PTR), 13], // 14
    [0, info(FUNC_PROTO, 1), 1, off('p'), 14], // 15
    [off('h'), info(FUNC, 1), 15], // 16
    [0, info(FUNC_PROTO, 1), 1, 0, 1], // 17: int (int)
    [0, info(PTR), 17], // 18
    [0, info(FUNC_PROTO, 1), 1, off('cb'), 18], // 19
    [off('k'), info(FUNC, 1), 19], // 20
  ]);
  assert.equal(functionSignature(btf, 10), 'void f(struct task_struct * t, union u *, const int * * pp, ...)');
  assert.equal(functionSignature(btf, 12), 'int g()');
  assert.equal(functionSignature(btf, 20), 'int k(int (int)* cb)');
  // bpftool cannot spell type tags and prints no signature at all.
  assert.equal(functionSignature(btf, 16), '');
});
