// How much policy input sysward accepts. Policies are read by a daemon that runs in 256 MiB
// (deploy/: MemoryMax, the pod's memory limit), so a hostile or broken file must be refused
// before parsing it costs seconds or hundreds of megabytes. Each limit is
// generous for real policies (a 10,000-rule policy is about 700 KB and 220,000 tokens); the
// measurements behind them are in docs/policy.md ("Limits").

/**
 * The largest policy file, in bytes. 1 MiB of ordinary rules (about 15,000) parses in about a
 * second and 120 MB; 4 MiB took 3.4 s and 400 MB. Files are read up to one byte past this and
 * no further.
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The most YAML tokens (scalars, punctuation, spaces, line breaks, comments) in a policy,
 * counted by yaml's lexer before anything is parsed. Parsing costs up to about 500 bytes and
 * 5 µs a token, and a megabyte can hold a million tokens (blank lines, `-` items), so the size
 * limit alone let a 1 MiB file take 500 MB. At 300,000 the worst shape measured (`[[],[],…]`)
 * parses in a 128 MB heap; at 400,000 it did not fit in 160 MB.
 */
export const MAX_POLICY_TOKENS = 300_000;

/**
 * The most values that aliases (`*name`) may stand for in a policy, counted as they are
 * expanded: 10,000 rules could each name a list of eight. Expanding is what an alias bomb
 * exploits: six nested levels of nine aliases are 4.8 million values in 330 bytes, which took
 * 20 s and 900 MB; 100,000 take under a second.
 */
export const MAX_ALIAS_VALUES = 100_000;

/** The deepest nesting of lists and mappings; a policy needs four. */
export const MAX_NESTING_DEPTH = 64;
