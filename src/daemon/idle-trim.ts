/**
 * Returns freed memory to the kernel when the daemon goes quiet after work.
 * Measured on the container benchmark: malloc_trim after an image pull releases ~10 MiB,
 * after a few dozen container lifecycles 2-5 MiB (issue 5: daemon RSS at 20 pods).
 * The kubelet polls (PLEG relists every second), so "quiet" is a short gap with no call
 * finishing, not a long idle period; trims are spaced by a minimum interval so a steady
 * stream of calls costs at most one trim (about a millisecond) per interval.
 *
 * Big buffers (ExecSync output, gRPC frames) are held by JS objects, so free() runs only
 * when V8 collects those, and V8 collects when JS allocates: after an ExecSync storm the
 * daemon sat on 670 MiB of dead buffers until new calls came (issue 18 item 6; measured
 * with the memory benchmark). So when JS holds many buffer bytes the quiet-time trim runs
 * a full collection first, and when they are still held after it (a slow client still
 * reading a 16 MiB answer) it looks again a little later, a bounded number of times.
 * It also collects when V8's heap grew by more than a mark since the last collection:
 * after 100 pods were created and removed in 10 lanes the daemon kept 19-29 MiB more RSS
 * than before, 30 s later, until something made V8 collect (scale benchmark); with the
 * thorough collection it ended 11 MiB below, with one plain full collection 15 MiB above.
 */
import type { Logger } from 'pino';
import type { RpcObserver } from '../server/adapt.ts';

export interface IdleTrimmerDeps {
  /** Releases memory; returns whether any was released. */
  trim: () => boolean;
  /** How long no call may finish before trimming. */
  quietMs: number;
  /** Minimum time between two trims. */
  minIntervalMs: number;
  /** A full garbage collection (absent when node runs without --expose-gc). */
  collect?: (() => void) | undefined;
  /** Bytes of buffers JS holds, dead or alive (process.memoryUsage().arrayBuffers). */
  bufferBytes?: () => number;
  /** Above this many buffer bytes a quiet-time trim collects first. */
  collectAboveBytes?: number;
  /** Bytes of V8 heap in use (v8.getHeapStatistics().used_heap_size). */
  heapBytes?: () => number;
  /** A quiet-time trim also collects first when the heap grew by this much since the last collection. */
  collectAfterHeapGrowthBytes?: number;
  /** When buffers stay above the mark after a collection: how long until the next look, and how many looks. */
  recheckMs?: number;
  rechecks?: number;
  now?: () => number;
  log?: Logger;
}

const DEFAULT_COLLECT_ABOVE = 16 * 1024 * 1024;
const DEFAULT_HEAP_GROWTH = 16 * 1024 * 1024;
const DEFAULT_RECHECK_MS = 2000;
const DEFAULT_RECHECKS = 10;

export class IdleTrimmer implements RpcObserver {
  #deps: IdleTrimmerDeps;
  #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #lastTrim = -Infinity;
  #rechecksLeft = 0;
  #closed = false;
  /** The heap in use after the last collection (or at start). */
  #heapBase: number;

  constructor(deps: IdleTrimmerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#heapBase = deps.heapBytes?.() ?? 0;
  }

  /** Called when any RPC finishes: (re)starts the quiet-period timer. */
  observe(): void {
    if (this.#closed) return;
    this.#rechecksLeft = this.#deps.rechecks ?? DEFAULT_RECHECKS;
    this.#arm(this.#deps.quietMs);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#fire(), ms).unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const wait = this.#lastTrim + this.#deps.minIntervalMs - this.#now();
    if (wait > 0) {
      this.#arm(wait);
      return;
    }
    this.#lastTrim = this.#now();
    const mark = this.#deps.collectAboveBytes ?? DEFAULT_COLLECT_ABOVE;
    const held = this.#deps.bufferBytes?.() ?? 0;
    const heapGrowth = (this.#deps.heapBytes?.() ?? 0) - this.#heapBase;
    const collect = this.#deps.collect !== undefined && (held > mark || heapGrowth > (this.#deps.collectAfterHeapGrowthBytes ?? DEFAULT_HEAP_GROWTH));
    if (collect) {
      this.#deps.collect!();
      this.#heapBase = this.#deps.heapBytes?.() ?? 0;
    }
    const released = this.#deps.trim();
    const stillHeld = collect ? this.#deps.bufferBytes!() : held;
    this.#deps.log?.debug({ released, collected: collect, bufferBytes: held, afterBytes: stillHeld, heapGrowth, ms: this.#now() - this.#lastTrim }, 'Trimmed malloc arenas after calls');
    // Still held after a collection: alive, most likely an answer a client is still reading.
    if (collect && stillHeld > mark && this.#rechecksLeft > 0) {
      this.#rechecksLeft--;
      this.#arm(Math.max(this.#deps.recheckMs ?? DEFAULT_RECHECK_MS, this.#deps.minIntervalMs));
    }
  }
}

export interface GarbageCollectorDeps {
  collect: () => void;
  /** Collect once this many bytes of big buffers have been let go since the last collection. */
  afterBytes: number;
  /** Minimum time between two collections. */
  minIntervalMs: number;
  now?: () => number;
}

/**
 * Collects during load, after big buffers were let go. Under an ExecSync storm V8 did not
 * collect often enough to keep up with the 16 MiB outputs it was let go of: RSS peaked at
 * 1.15 GiB with a 256 MiB output budget (memory benchmark). Each dropped output is
 * reported here; past `afterBytes` a full collection runs on the next turn of the event
 * loop, once the answer that dropped it has been serialised and handed to HTTP/2.
 */
export class GarbageAfterBigBuffers {
  readonly #deps: GarbageCollectorDeps;
  readonly #now: () => number;
  #dropped = 0;
  #last = -Infinity;
  #scheduled = false;

  constructor(deps: GarbageCollectorDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** `bytes` of buffers are garbage once the current call has answered. */
  dropped(bytes: number): void {
    this.#dropped += bytes;
    if (this.#scheduled || this.#dropped < this.#deps.afterBytes || this.#now() - this.#last < this.#deps.minIntervalMs) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#dropped = 0;
      this.#last = this.#now();
      this.#deps.collect();
    });
  }
}
