// Mount points by filesystem type (/proc/self/mounts): bpffs for the toolkit, cgroup2 for the
// cgroup code, every mount for the observers. A leaf utility: it imports nothing of sysward.
import { readFileSync } from 'node:fs';

/** Mount points of a filesystem type from /proc/self/mounts (octal escapes such as \040 decoded). */
export function mountsOfType(fsType: string, mountsText = readFileSync('/proc/self/mounts', 'utf8')): string[] {
  return mountsText.split('\n').map((l) => l.split(' ')).filter((f) => f[2] === fsType).map((f) => f[1]!.replace(/\\040/g, ' '));
}
