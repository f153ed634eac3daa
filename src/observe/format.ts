// Small text helpers for the observation commands' human views.

/** Columns padded to their widest cell, two spaces apart; `right` lists right-aligned columns. */
export function table(rows: string[][], right: ReadonlySet<number> = new Set()): string {
  if (!rows.length) return '';
  const n = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: n }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 && !right.has(i) ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** 1234567 ns → "1.23ms"; three significant digits. */
export function formatNs(ns: number | bigint): string {
  const v = Number(ns);
  if (v < 1000) return `${v.toFixed(0)}ns`;
  const units: [number, string][] = [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs']];
  for (const [d, u] of units) if (v >= d) return `${(v / d).toPrecision(3)}${u}`;
  return `${v}ns`;
}

export const formatRate = (x: number): string => (x >= 100 || x === 0 ? x.toFixed(0) : x.toFixed(1));
export const formatPercent = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '-' : `${x.toFixed(digits)}`);

/** Tree branches for nodes listed depth-first with their depth: "├─ ", "└─ ", "│  ". */
export function treePrefixes(depths: number[]): { branch: string; continuation: string }[] {
  const out: { branch: string; continuation: string }[] = [];
  for (let i = 0; i < depths.length; i++) {
    const d = depths[i]!;
    if (d === 0) { out.push({ branch: '', continuation: '' }); continue; }
    let branch = '';
    for (let level = 1; level < d; level++) branch += hasLaterSibling(depths, i, level) ? '│  ' : '   ';
    const last = !hasLaterSibling(depths, i, d);
    out.push({ branch: branch + (last ? '└─ ' : '├─ '), continuation: branch + (last ? '   ' : '│  ') });
  }
  return out;
}

/** Does the ancestor of node i at `level` (or i itself, at its depth) have a later sibling? */
function hasLaterSibling(depths: number[], i: number, level: number): boolean {
  for (let j = i + 1; j < depths.length; j++) {
    if (depths[j]! < level) return false;
    if (depths[j] === level) return true;
  }
  return false;
}

/** JSON with bigints as numbers when safe, else strings (as printJson), on one line. */
export const jsonLine = (value: unknown): string =>
  `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v))}\n`;
