import { parseArgs } from 'node:util';
import { printJson, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { dfJson, diskUsage, formatDf, type DfOptions } from '../../observe/df.js';
import { out } from '../output.js';

const HELP = `usage: sysward df [-a] [-h | -H | -k | -B SIZE] [-i] [-l] [-T] [-t TYPE]... [-x TYPE]... [--json] [PATH...]

Disk usage of the mounted filesystems, as GNU df prints it: the same columns, the same filesystems
shown or hidden by default (pseudo filesystems, zero-size ones and second mounts of one device are
hidden; -a shows them), the same sizes and rounding. With PATHs, the filesystems that hold them.
No root needed.

options:
  -a, --all               include pseudo, duplicate and inaccessible filesystems
  -h, --human-readable    sizes in powers of 1024 (1K, 234M, 2G), rounded up as df does
  -H, --si                sizes in powers of 1000
  -k                      1K blocks (the default, unless DF_BLOCK_SIZE, BLOCK_SIZE or BLOCKSIZE says otherwise)
  -B, --block-size SIZE   blocks of SIZE (e.g. 1M, 1MB, 4096)
  -i, --inodes            inodes instead of blocks
  -l, --local             local filesystems only
  -T, --print-type        a Type column
  -t, --type TYPE         only filesystems of TYPE (repeatable)
  -x, --exclude-type TYPE not filesystems of TYPE (repeatable)
  --json                  the figures in bytes and inodes as JSON; docs/observe.md has the schema
  --help                  this text (-h is --human-readable, as in df)

exit status: 0 shown, 1 a PATH could not be read (the others are shown) or nothing to show, 2 bad usage.
`;

const command: Command = {
  name: 'df',
  summary: 'disk usage, as GNU df shows it (-h, -T, -i)',
  help: HELP,
  run(argv) {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv, allowPositionals: true, strict: true,
        options: {
          all: { type: 'boolean', short: 'a' }, 'human-readable': { type: 'boolean', short: 'h' }, si: { type: 'boolean', short: 'H' },
          k: { type: 'boolean', short: 'k' }, 'block-size': { type: 'string', short: 'B' }, inodes: { type: 'boolean', short: 'i' },
          local: { type: 'boolean', short: 'l' }, 'print-type': { type: 'boolean', short: 'T' }, type: { type: 'string', short: 't', multiple: true },
          'exclude-type': { type: 'string', short: 'x', multiple: true }, json: { type: 'boolean' }, help: { type: 'boolean' },
        },
      });
    } catch (e) {
      throw new UsageError(`${(e as Error).message.replace(/^Unknown option/, 'unknown option').replace(/\. To specify a positional.*$/s, '')}; see \`sysward df --help\``);
    }
    const { values: v, positionals } = parsed;
    if (v.help) { out(HELP); return 0; }
    const both = (v.type ?? []).find((t) => v['exclude-type']?.includes(t));
    if (both) throw new UsageError(`filesystem type "${both}" both selected (-t) and excluded (-x)`);
    // The last of -h, -H, -k, -B wins, as in df: read the order from argv.
    let human: DfOptions['human'];
    let blockSize: string | undefined;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') break;
      if (a.startsWith('--')) {
        if (a === '--human-readable') { human = 'binary'; blockSize = undefined; }
        else if (a === '--si') { human = 'si'; blockSize = undefined; }
        else if (a === '--block-size') { blockSize = argv[++i]; human = undefined; }
        else if (a.startsWith('--block-size=')) { blockSize = a.slice('--block-size='.length); human = undefined; }
        else if (a === '--type' || a === '--exclude-type') i++;
      } else if (a.startsWith('-') && a.length > 1) {
        for (let j = 1; j < a.length; j++) {
          const ch = a[j];
          if (ch === 'h') { human = 'binary'; blockSize = undefined; }
          else if (ch === 'H') { human = 'si'; blockSize = undefined; }
          else if (ch === 'k') { human = undefined; blockSize = '1024'; }
          else if (ch === 'B') { blockSize = a.slice(j + 1) || argv[++i]; human = undefined; break; }
          else if (ch === 't' || ch === 'x') { if (j === a.length - 1) i++; break; }
        }
      }
    }
    const o: DfOptions = {
      all: v.all, local: v.local, inodes: v.inodes, printType: v['print-type'], types: v.type, exclude: v['exclude-type'], human, blockSize,
    };
    let result;
    try {
      result = diskUsage(positionals, o);
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    for (const err of result.errors) process.stderr.write(`sysward df: ${err}\n`);
    if (!result.rows.length) {
      if (!result.errors.length) process.stderr.write('sysward df: no file systems processed\n');
      return 1;
    }
    if (v.json) printJson({ filesystems: result.rows.map(dfJson), errors: result.errors });
    else {
      try { out(formatDf(result.rows, o)); } catch (e) { if (e instanceof RangeError) throw new UsageError(e.message); throw e; }
    }
    return result.errors.length ? 1 : 0;
  },
};
export default command;
