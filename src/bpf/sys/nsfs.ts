// Namespace files (/proc/PID/ns/*): the 64-bit id the kernel gives a mount namespace, which unlike
// its inode number is never used again for another namespace (NS_GET_MNTNS_ID, Linux 6.11+).
import { closeSync, openSync } from 'node:fs';
import { errno, errnoName, ioctlPtr } from './libc.js';

/** _IOR(0xb7, 5, __u64): include/uapi/linux/nsfs.h. */
const NS_GET_MNTNS_ID = 0x8008b705;

/**
 * The id of the mount namespace a /proc/PID/ns/mnt file (or an nsfs fd's path) names; undefined
 * when the process is gone. Throws when the kernel has no NS_GET_MNTNS_ID (ENOTTY).
 */
export function mountNamespaceId(path: string): bigint | undefined {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return undefined; }
  try {
    const out = Buffer.alloc(8);
    if (ioctlPtr(fd, NS_GET_MNTNS_ID, out) !== 0) {
      const e = errnoName(errno());
      throw new Error(`NS_GET_MNTNS_ID on ${path}: ${e}${e === 'ENOTTY' ? ' (Linux 6.11+ has it)' : ''}`);
    }
    return out.readBigUInt64LE(0);
  } finally { closeSync(fd); }
}
