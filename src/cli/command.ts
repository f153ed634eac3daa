// What every command file exports. Commands parse and print; the work is done below src/cli.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';
import { out } from './output.js';

export interface Command {
  name: string;
  summary: string;
  /** Full --help text (usage line, options, examples). */
  help: string;
  run(argv: string[]): Promise<number> | number;
  /** Subcommands that print their own --help (the rest get `help`). */
  ownHelp?: (argv: string[]) => boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs with errors that say which command and how to get help. */
export function parse<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/^Unknown option/, 'unknown option').replace(/\. To specify a positional.*$/s, '')}; see \`sysward ${command} --help\``);
  }
}

/** Print JSON the same way everywhere (bigints as numbers when safe, else strings). */
export function printJson(value: unknown): void {
  out(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()) : v), 2)}\n`);
}
