// gnulib's human_readable() (lib/human.c), which df, du and ls use to print sizes: the same
// rounding (df rounds up: human_ceiling), the same one-decimal rule below 10, the same suffixes.
// Integer arithmetic with bigints where gnulib uses uintmax_t; its floating-point fallback (only
// for block sizes that do not divide each other) as doubles.

export const HumanOpts = {
  /** Round to nearest (default: ceiling, as df uses). */
  ROUND_TO_NEAREST: 1,
  FLOOR: 2,
  GROUP_DIGITS: 4,
  SUPPRESS_POINT_ZERO: 8,
  AUTOSCALE: 16,
  BASE_1024: 32,
  SPACE_BEFORE_UNIT: 64,
  SI: 128,
  B: 256,
} as const;

const POWER_LETTER = ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
const EXPONENT_MAX = POWER_LETTER.length - 1;

/**
 * `n` units of `fromBlockSize` bytes, printed in units of `toBlockSize` (1 with AUTOSCALE),
 * exactly as gnulib's human_readable(n, buf, opts, from, to) in the C locale.
 */
export function humanReadable(n: bigint, opts: number, fromBlockSize: bigint, toBlockSize: bigint): string {
  const style = opts & (HumanOpts.ROUND_TO_NEAREST | HumanOpts.FLOOR);
  const ceiling = style === 0;
  const nearest = style === HumanOpts.ROUND_TO_NEAREST;
  const base = opts & HumanOpts.BASE_1024 ? 1024n : 1000n;
  let exponent = -1;
  let amt: bigint;
  let tenths: bigint;
  let rounding: bigint;
  let prefix = ''; // the decimal part, when one is printed
  let integer: string;

  const integerPath = (): boolean => {
    if (toBlockSize <= fromBlockSize) {
      if (fromBlockSize % toBlockSize === 0n) {
        amt = n * (fromBlockSize / toBlockSize); // bigints do not overflow
        tenths = 0n; rounding = 0n;
        return true;
      }
    } else if (fromBlockSize !== 0n && toBlockSize % fromBlockSize === 0n) {
      const divisor = toBlockSize / fromBlockSize;
      const r10 = (n % divisor) * 10n;
      const r2 = (r10 % divisor) * 2n;
      amt = n / divisor;
      tenths = r10 / divisor;
      rounding = r2 < divisor ? (r2 > 0n ? 1n : 0n) : 2n + (divisor < r2 ? 1n : 0n);
      return true;
    }
    return false;
  };

  if (integerPath()) {
    amt = amt!; tenths = tenths!; rounding = rounding!;
    if (opts & HumanOpts.AUTOSCALE) {
      exponent = 0;
      if (base <= amt) {
        do {
          const r10 = (amt % base) * 10n + tenths;
          const r2 = (r10 % base) * 2n + (rounding >> 1n);
          amt /= base;
          tenths = r10 / base;
          rounding = r2 < base ? (r2 + rounding !== 0n ? 1n : 0n) : 2n + (base < r2 + rounding ? 1n : 0n);
          exponent++;
        } while (base <= amt && exponent < EXPONENT_MAX);
        if (amt < 10n) {
          if (nearest ? 2n < rounding + (tenths & 1n) : ceiling && 0n < rounding) {
            tenths++;
            rounding = 0n;
            if (tenths === 10n) { amt++; tenths = 0n; }
          }
          if (amt < 10n && (tenths !== 0n || !(opts & HumanOpts.SUPPRESS_POINT_ZERO))) {
            prefix = `.${tenths}`;
            tenths = 0n; rounding = 0n;
          }
        }
      }
    }
    if (nearest ? 5n < tenths + (0n < rounding + (amt & 1n) ? 1n : 0n) : ceiling && 0n < tenths + rounding) {
      amt++;
      if (opts & HumanOpts.AUTOSCALE && amt === base && exponent < EXPONENT_MAX) {
        exponent++;
        if (!(opts & HumanOpts.SUPPRESS_POINT_ZERO)) prefix = '.0';
        amt = 1n;
      }
    }
    integer = `${amt}${prefix}`;
  } else {
    // Floating point, as gnulib: slightly inexact for huge values, as there.
    const adjust = (v: number) => (ceiling ? Math.ceil(v) : nearest ? v : Math.floor(v));
    let damt = Number(n) * (Number(fromBlockSize) / Number(toBlockSize));
    if (!(opts & HumanOpts.AUTOSCALE)) {
      integer = adjust(damt).toFixed(0);
    } else {
      let e = 1;
      const b = Number(base);
      exponent = 0;
      do { e *= b; exponent++; } while (e * b <= damt && exponent < EXPONENT_MAX);
      damt /= e;
      integer = (adjust(damt * 10) / 10).toFixed(1);
      if (1 + 2 + (opts & HumanOpts.BASE_1024 ? 0 : 1) < integer.length || (opts & HumanOpts.SUPPRESS_POINT_ZERO && integer.endsWith('0'))) {
        integer = (adjust(damt * 10) / 10).toFixed(0);
      }
    }
  }

  let suffix = '';
  if (opts & HumanOpts.SI) {
    if (exponent < 0) {
      exponent = 0;
      for (let power = 1n; power < toBlockSize; power *= base) if (++exponent === EXPONENT_MAX) break;
    }
    if ((exponent || opts & HumanOpts.B) && opts & HumanOpts.SPACE_BEFORE_UNIT) suffix += ' ';
    if (exponent) suffix += !(opts & HumanOpts.BASE_1024) && exponent === 1 ? 'k' : POWER_LETTER[exponent]!;
    if (opts & HumanOpts.B) {
      if (opts & HumanOpts.BASE_1024 && exponent) suffix += 'i';
      suffix += 'B';
    }
  }
  return integer + suffix;
}

/**
 * A block size as df -B / DF_BLOCK_SIZE / BLOCK_SIZE take it (gnulib human_options): "human-readable",
 * "si", or a number with an optional suffix (K, M, G... = powers of 1024; KB, MB... = powers of
 * 1000; KiB = 1024). A leading "'" groups digits (ignored here: the C locale has no grouping).
 */
export function parseBlockSize(spec: string): { opts: number; blockSize: bigint } | undefined {
  let s = spec;
  let opts = 0;
  if (s.startsWith("'")) { opts |= HumanOpts.GROUP_DIGITS; s = s.slice(1); }
  if (s === 'human-readable') return { opts: opts | HumanOpts.AUTOSCALE | HumanOpts.SI | HumanOpts.BASE_1024, blockSize: 1n };
  if (s === 'si') return { opts: opts | HumanOpts.AUTOSCALE | HumanOpts.SI, blockSize: 1n };
  const m = /^(\d*)([KMGTPEZYkmgtpezy])?(iB|B)?$/.exec(s);
  if (!m || (m[1] === '' && !m[2])) return undefined;
  const num = m[1] === '' ? 1n : BigInt(m[1]!);
  let size = num;
  if (m[2]) {
    const exp = BigInt('KMGTPEZY'.indexOf(m[2].toUpperCase()) + 1);
    const b = m[3] === 'B' ? 1000n : 1024n;
    size = num * b ** exp;
    // A suffix without a number ("K", "MB") prints the suffix: gnulib sets human_SI (and human_B).
    if (m[1] === '') {
      opts |= HumanOpts.SI;
      if (m[3] === 'B' || m[3] === 'iB') opts |= HumanOpts.B;
      if (b === 1024n) opts |= HumanOpts.BASE_1024;
    }
  }
  if (size === 0n) return undefined;
  return { opts, blockSize: size };
}
