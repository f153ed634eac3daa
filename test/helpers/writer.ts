// A writer looping in a guarded cgroup that counts what got through: the measure of every
// "a forbidden write never gets through" test. In a private UTS namespace it writes
// kernel.hostname (the test guards refuse it) and kernel.domainname (they allow it), so the host's
// own values are never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { pythonExecutable } from './env.js';

export interface WriterCounts {
  /** Rounds of one refused and one allowed write. */
  rounds: number;
  /** Refused writes that got through, and allowed writes that failed. */
  leaks: number;
  fails: number;
  /** Seconds since the writer started of its first and last leak (null: none). */
  firstLeakS: number | null;
  lastLeakS: number | null;
}

export interface Writer { child: ChildProcess; started: Promise<void>; counts: Promise<WriterCounts> }

/** Start the writer in cgroup `abs` (absolute path). It runs until `stopFile` exists or `maxSeconds` pass. */
export function countingWriter(abs: string, stopFile: string, maxSeconds = 60): Writer {
  const py = `import os, time, json
t0 = time.time(); end = t0 + ${maxSeconds}; n = leaks = fails = 0; first = last = None
stop = ${JSON.stringify(stopFile)}
while time.time() < end and not (n % 16 == 0 and os.path.exists(stop)):
    for key, want_ok in (('hostname', False), ('domainname', True)):
        ok = True
        try:
            fd = os.open('/proc/sys/kernel/' + key, os.O_WRONLY)
            try: os.write(fd, b'w%d' % n)
            finally: os.close(fd)
        except PermissionError:
            ok = False
        if ok and not want_ok:
            leaks += 1; last = time.time() - t0
            if first is None: first = last
        if not ok and want_ok: fails += 1
    if n == 0: print('started', flush=True)
    n += 1
print(json.dumps({'rounds': n, 'leaks': leaks, 'fails': fails, 'firstLeakS': first, 'lastLeakS': last}), flush=True)`;
  const child = spawn('unshare', ['--uts', 'sh', '-c', `echo $$ > ${abs}/cgroup.procs && exec "$1" -c "$0"`, py, pythonExecutable()], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onStart = () => {};
  const started = new Promise<void>((r) => { onStart = r; });
  child.stdout!.on('data', (d) => { out += d; if (out.includes('started\n')) onStart(); });
  const counts = new Promise<WriterCounts>((resolve, reject) => child.on('close', (code) => {
    const last = out.trim().split('\n').at(-1) ?? '';
    try { resolve(JSON.parse(last) as WriterCounts); } catch { reject(new Error(`writer exited ${code} with ${JSON.stringify(out)}`)); }
  }));
  return { child, started, counts };
}
