// Ring buffer reader: maps the consumer page (read-write) and the producer page plus the data area
// (read-only, mapped twice back to back by the kernel so a record that wraps reads contiguously),
// delivers committed records in order, skips discarded ones, and sleeps in epoll when idle.
import { BpfMap } from './map.js';
import { none, bytes } from './codec.js';
import { FD, RingBuf, objGet } from './sys/index.js';
import { Mapping, PROT_READ, PROT_WRITE, pageSize } from './sys/mmap.js';
import { ReadableWaiter } from './sys/poll.js';

export interface RingBufStats { records: number; bytes: number; discarded: number }

/** Create a ring buffer map; sizeBytes must be a power of two and a multiple of the page size. */
export function createRingBuf(sizeBytes: number, name?: string): BpfMap<null, Buffer> {
  const page = pageSize();
  if (sizeBytes < page || (sizeBytes & (sizeBytes - 1)) !== 0) {
    throw new RangeError(`ring buffer size ${sizeBytes} must be a power of two of at least the page size (${page})`);
  }
  return BpfMap.create({ type: 'RINGBUF', key: none, value: bytes(0), maxEntries: sizeBytes, ...(name ? { name } : {}) });
}

/** The longest rest between batches of a reader limited to a share of a core. */
const MAX_REST_MS = 250;

export class RingBufReader implements AsyncIterable<Buffer> {
  readonly #fd: FD;
  readonly #ownsFd: boolean;
  readonly #consumer: Mapping;
  readonly #producer: Mapping;
  readonly #cons: BigUint64Array;
  readonly #prod: BigUint64Array;
  readonly #data: Buffer;
  readonly #dataView: DataView;
  readonly #mask: number;
  readonly #waiter: ReadableWaiter;
  #closed = false;
  readonly stats: RingBufStats = { records: 0, bytes: 0, discarded: 0 };
  /** The kernel's id of the map read: a pin replaced by another map is told apart by it. */
  readonly mapId: number;

  /** `map`: a ring buffer map (or its fd / pinned path); sizeBytes is its max_entries. */
  constructor(map: BpfMap<null, Buffer> | string, sizeBytes?: number) {
    if (typeof map === 'string') {
      this.#fd = objGet(map, 0, 'ring buffer');
      this.#ownsFd = true;
      const m = BpfMap.fromFD(this.#fd, none, bytes(0));
      sizeBytes = m.maxEntries;
      this.mapId = m.info().id;
    } else {
      this.#fd = map.handle;
      this.#ownsFd = false;
      sizeBytes ??= map.maxEntries;
      this.mapId = map.info().id;
    }
    const page = pageSize();
    this.#consumer = new Mapping(this.#fd, page, PROT_READ | PROT_WRITE, 0, 'ring buffer consumer page');
    this.#producer = new Mapping(this.#fd, page + 2 * sizeBytes, PROT_READ, page, 'ring buffer data');
    this.#cons = new BigUint64Array(this.#consumer.buffer, 0, 1);
    this.#prod = new BigUint64Array(this.#producer.buffer, 0, 1);
    this.#data = Buffer.from(this.#producer.buffer, page, 2 * sizeBytes);
    this.#dataView = new DataView(this.#producer.buffer, page, 2 * sizeBytes);
    this.#mask = sizeBytes - 1;
    this.#waiter = new ReadableWaiter(this.#fd);
  }

  /** Deliver the committed records (at most `limit`); returns how many. Never blocks. */
  drain(onRecord: (record: Buffer) => void, limit = Infinity): number {
    if (this.#closed) return 0;
    let n = 0;
    let cons = Atomics.load(this.#cons, 0);
    const prod = Atomics.load(this.#prod, 0);
    while (cons < prod && n < limit) {
      const off = Number(cons & BigInt(this.#mask));
      const hdr = this.#dataView.getUint32(off, true);
      if (hdr & RingBuf.BUSY_BIT) break; // reserved, not yet committed: records stay in order
      const len = hdr & ~(RingBuf.BUSY_BIT | RingBuf.DISCARD_BIT);
      cons += BigInt((len + RingBuf.HDR_SZ + 7) & ~7);
      if (hdr & RingBuf.DISCARD_BIT) {
        this.stats.discarded++;
      } else {
        // Copy: the slot is reused by the producer as soon as the consumer position moves past it.
        const rec = Buffer.from(this.#data.subarray(off + RingBuf.HDR_SZ, off + RingBuf.HDR_SZ + len));
        this.stats.records++;
        this.stats.bytes += len;
        n++;
        Atomics.store(this.#cons, 0, cons);
        onRecord(rec);
        continue;
      }
      Atomics.store(this.#cons, 0, cons);
    }
    return n;
  }

  /** Resolves when records may be available (true) or the reader was closed (false). */
  wait(): Promise<boolean> { return this.#waiter.wait(); }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const queue: Buffer[] = [];
    while (!this.#closed) {
      this.drain((r) => queue.push(r));
      while (queue.length) yield queue.shift()!;
      if (!(await this.wait())) break;
    }
  }

  /**
   * Call `onRecord` for every record until close(); resolves when closed. With `maxCpuShare`
   * (0..1) the reader rests after each batch so that it uses at most that share of a core: under
   * a flood the producer then finds the buffer full, and BPF programs count what they drop.
   */
  async consume(onRecord: (record: Buffer) => void, o: { maxCpuShare?: number; batch?: number; onBatch?: (n: number) => void } = {}): Promise<void> {
    const share = o.maxCpuShare;
    while (!this.#closed) {
      // CPU time, not wall time: on a busy machine the reader is descheduled mid-batch, and resting
      // for that time too would leave the buffer unread for seconds after a flood ends.
      const cpu0 = share !== undefined ? process.cpuUsage() : undefined;
      const n = this.drain(onRecord, o.batch ?? 4096);
      if (n > 0) o.onBatch?.(n);
      if (share !== undefined && share < 1 && n > 0) {
        const used = process.cpuUsage(cpu0);
        const busyMs = (used.user + used.system) / 1000;
        const restMs = Math.min((busyMs * (1 - share)) / share, MAX_REST_MS);
        if (restMs >= 0.5) await new Promise((r) => setTimeout(r, restMs));
        continue;
      }
      if (!(await this.wait())) break;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#waiter.close();
    this.#consumer.unmap();
    this.#producer.unmap();
    if (this.#ownsFd) this.#fd.close();
  }
}
