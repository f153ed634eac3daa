// Enumerate the kernel's programs, maps and links by id (root).
import { Cmd, getNextId } from './sys/index.js';

function* ids(cmd: number): Generator<number> {
  let id = 0;
  for (;;) {
    const next = getNextId(cmd, id);
    if (next === undefined) return;
    yield next;
    id = next;
  }
}

export const programIds = (): Generator<number> => ids(Cmd.PROG_GET_NEXT_ID);
export const mapIds = (): Generator<number> => ids(Cmd.MAP_GET_NEXT_ID);
export const linkIds = (): Generator<number> => ids(Cmd.LINK_GET_NEXT_ID);
