// Worker thread side of config-reader.ts: parses the config directory and posts the result back
// as plain data (policies as JSON), so a large or hostile file never stalls the daemon's thread.
import { parentPort, workerData } from 'node:worker_threads';
import { policyToJson } from '../guard/model-json.js';
import { readConfig } from './config.js';
import type { WireConfig } from './config-reader.js';

const { dir, missingIsDefault } = workerData as { dir: string; missingIsDefault: boolean };
const c = readConfig(dir, missingIsDefault);
const wire: WireConfig = {
  policies: [...c.policies.values()].map((p) => policyToJson(p)),
  errors: c.errors.map((e) => ({ file: e.file, error: e.error ?? '' })),
  builtin: c.builtin,
  ...(c.dirError ? { dirError: c.dirError } : {}),
};
parentPort!.postMessage(wire);
