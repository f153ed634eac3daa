// bpffs: where pinned maps, programs and links live beyond the process that made them.
import { mkdirSync, existsSync, rmSync, readdirSync, statSync } from 'node:fs';
import { mountsOfType } from '../util/mounts.js';
import { join } from 'node:path';
import { SysError } from './sys/errors.js';
import { errno, mount } from './sys/libc.js';

export const DEFAULT_BPFFS = '/sys/fs/bpf';


export const isBpffs = (path: string): boolean => mountsOfType('bpf').includes(path);

/**
 * Make sure `path` is a bpffs mount: mount it when missing (needs root), else a clear error.
 * Returns true when this call mounted it.
 */
export function ensureBpffs(path = DEFAULT_BPFFS): boolean {
  if (isBpffs(path)) return false;
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  if (mount('bpf', path, 'bpf', 0, 'mode=0700') !== 0) {
    throw new SysError(`mounting bpffs at ${path}`, errno(), { EPERM: `run as root, or mount it yourself: mount -t bpf bpf ${path}` });
  }
  return true;
}

/** A folder under bpffs (created), e.g. /sys/fs/bpf/sysward/guards/NAME. */
export function pinDir(...parts: string[]): string {
  const dir = join(...parts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Remove a pin (the object goes when nothing else holds it). false when nothing was there. */
export function unpin(path: string): boolean {
  if (!existsSync(path)) return false;
  rmSync(path, { recursive: statSync(path).isDirectory() });
  return true;
}

export const listPins = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

