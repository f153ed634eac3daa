// The command line's entry: every command by name, each in its own file, loaded only when run
// (dispatch.ts does the rest). bin/sysward runs this from dist/src/ when the command-line bundle is
// missing or older; the bundle has one file per command instead (scripts/bundle.mjs).
import { dispatch, type Commands } from './dispatch.js';

export const commands: Commands = {
  probe: async () => (await import('./commands/probe.js')).default,
  bpf: async () => (await import('./commands/bpf.js')).default,
  run: async () => (await import('./commands/run.js')).default,
  guard: async () => (await import('./commands/guard.js')).default,
  events: async () => (await import('./commands/events.js')).default,
  check: async () => (await import('./commands/check.js')).default,
  explain: async () => (await import('./commands/explain.js')).default,
  test: async () => (await import('./commands/test.js')).default,
  learn: async () => (await import('./commands/learn.js')).default,
  demo: async () => (await import('./commands/demo.js')).default,
  daemon: async () => (await import('./commands/daemon.js')).default,
  cgroups: async () => (await import('./commands/cgroups.js')).default,
  psi: async () => (await import('./commands/psi.js')).default,
  softirqs: async () => (await import('./commands/softirqs.js')).default,
  df: async () => (await import('./commands/df.js')).default,
};

/** Run `sysward ARGV…`; the exit status. */
export const main = (argv: string[]): Promise<number> => dispatch(argv, commands);
