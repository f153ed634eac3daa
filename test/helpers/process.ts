// Child processes the tests start (servers, collectors): stopped politely, then firmly.
import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after 5 s; resolves when the process has closed (at once if it has already). */
export async function stopProcess(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const closed = new Promise((r) => p.on('close', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await closed;
  clearTimeout(t);
}
