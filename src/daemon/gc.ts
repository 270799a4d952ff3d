/**
 * The daemon's handle on V8's collector. node starts the daemon with --expose-gc
 * (src/cli/daemon-runtime-options.ts) so that memory let go of after load goes back to the
 * kernel within seconds (src/daemon/idle-trim.ts); started without it (a plain `node
 * main.js daemon`), nothing collects early and only the malloc trim runs.
 */
import { getHeapStatistics } from 'node:v8';

export const fullCollection: (() => void) | undefined = typeof globalThis.gc === 'function'
  ? () => globalThis.gc!({ type: 'major', execution: 'sync' })
  : undefined;

/**
 * V8's last-resort collection (several full ones, memory footprint first). Measured after
 * an ExecSync storm (memory benchmark): 190 MiB of answered outputs survived a plain full
 * collection 30 s after the storm and went with this one (57 ms for a 28 MiB heap on a
 * loaded 2-core machine), so it is the one the daemon runs when it goes quiet after load.
 */
export const thoroughCollection: (() => void) | undefined = typeof globalThis.gc === 'function'
  ? () => globalThis.gc!({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  : undefined;

/** Bytes of V8 heap in use, live or not yet collected. */
export function heapBytes(): number {
  return getHeapStatistics().used_heap_size;
}

/** Bytes of ArrayBuffers (Buffers) JS holds, reachable or not yet collected. */
export function bufferBytes(): number {
  return process.memoryUsage().arrayBuffers;
}
