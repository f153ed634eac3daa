// What the commands print goes to fd 1 with write(2), not through process.stdout: Node.js makes
// that stream on first use and loads its stream machinery with it (a SyncWriteStream for a file,
// a net.Socket for a pipe, a tty.WriteStream for a terminal), 4-5 ms of every command's start-up
// for a file, more for the others. On Linux process.stdout writes files, pipes and terminals
// synchronously too, so what is printed, and in which order, is the same.
import { writeSync } from 'node:fs';

/** `sysward … | head` closes the pipe early: that is not an error. */
const onStdoutError = (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; };

/** process.stdout, for what needs a stream (run --events -), closing early as out() does. */
export function stdoutStream(): NodeJS.WriteStream {
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  return process.stdout;
}

/** Set when fd 1 turned out non-blocking (EAGAIN): the stream waits for it to drain. */
let viaStream = false;
let capture: ((text: string) => void) | undefined;

/** Tests that run main() in-process: what would be printed goes to `f` instead (undefined: stdout). */
export function captureOutput(f: ((text: string) => void) | undefined): void { capture = f; }

/** Print `text` on stdout. */
export function out(text: string): void {
  if (capture) { capture(text); return; }
  if (viaStream) { stdoutStream().write(text); return; }
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length;) {
    try {
      done += writeSync(1, bytes, done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(0);
      if (code !== 'EAGAIN') throw e;
      viaStream = true;
      stdoutStream().write(bytes.subarray(done));
      return;
    }
  }
}
