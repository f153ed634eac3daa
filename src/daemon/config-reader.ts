// Reading the daemon's config without stalling it: a small directory is parsed in place (a few
// milliseconds); a large one (a 10,000-rule policy took 2.4 s, and /healthz waited) is parsed on
// a worker thread with its own memory limit and a deadline, so health, metrics, events and the
// reconciler go on meanwhile, and a file that exhausts the worker costs the worker, not the daemon.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { policyFromJson } from '../guard/model-json.js';
import { packageRoot } from '../package-root.js';
import { readConfig, type Config } from './config.js';

/** Total size of the policy files above which they are parsed on a worker thread. */
export const IN_PLACE_MAX_BYTES = 256 * 1024;
/** The worker's heap: room for the largest policy the parser accepts, far below the unit's MemoryMax. */
export const WORKER_HEAP_MB = 192;
/** A parse that takes longer is abandoned (the guards in force stay). */
export const WORKER_DEADLINE_MS = 60_000;

/** Config as it crosses threads. */
export interface WireConfig { policies: string[]; errors: { file: string; error: string }[]; builtin: boolean; dirError?: string }

function policyBytes(dir: string): number {
  let total = 0;
  try {
    for (const f of readdirSync(dir)) {
      if (!/\.ya?ml$/.test(f) || f.startsWith('.')) continue;
      // lstat's size is enough to choose a thread; the reader itself refuses FIFOs and the like.
      try { total += statSync(join(dir, f)).size; } catch { /* gone meanwhile */ }
    }
  } catch { /* the reader reports it */ }
  return total;
}

/** readConfig, on a worker thread when the files are large. */
export async function readConfigOffThread(dir: string, missingIsDefault: boolean, o: { deadlineMs?: number; inPlaceMaxBytes?: number } = {}): Promise<Config> {
  if (policyBytes(dir) <= (o.inPlaceMaxBytes ?? IN_PLACE_MAX_BYTES)) return readConfig(dir, missingIsDefault);
  const deadline = o.deadlineMs ?? WORKER_DEADLINE_MS;
  const wire = await new Promise<WireConfig>((resolve, reject) => {
    const w = new Worker(join(packageRoot(), 'dist', 'src', 'daemon', 'config-worker.js'), {
      workerData: { dir, missingIsDefault },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      stdout: true, stderr: true,
    });
    const timer = setTimeout(() => { void w.terminate(); reject(new Error(`reading ${dir} took longer than ${deadline / 1000} s; the guards in force stay (is a policy file huge?)`)); }, deadline);
    w.once('message', (m: WireConfig) => { clearTimeout(timer); resolve(m); void w.terminate(); });
    w.once('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `reading ${dir} needed more than ${WORKER_HEAP_MB} MB; the guards in force stay (a policy file too large, or built to exhaust memory?)` : `reading ${dir} failed: ${e.message}`));
    });
    w.once('exit', (code) => { clearTimeout(timer); reject(new Error(`reading ${dir}: the parser thread exited (${code})`)); });
  });
  return {
    policies: new Map(wire.policies.map((j) => { const p = policyFromJson(j); return [p.name, p]; })),
    errors: wire.errors, builtin: wire.builtin,
    ...(wire.dirError ? { dirError: wire.dirError } : {}),
  };
}
