/**
 * Work that belongs to the daemon, not to the call that asked for it. A caller whose
 * deadline passes (crictl's and `kubeadm reset`'s 2 s) gets its DEADLINE_EXCEEDED, but the
 * work goes on under a signal of its own with its own timeout, so a stop is never abandoned
 * halfway; a retry with the same key joins the running work instead of starting a second one.
 */
import type { Op } from './op.ts';

export class DetachedWork {
  #running = new Map<string, Promise<unknown>>();

  /** Runs `fn` once per key at a time, under `AbortSignal.timeout(ownTimeoutMs)`; the caller waits with its own signal. */
  run<T>(op: Op, key: string, ownTimeoutMs: number, fn: (own: Op) => Promise<T>): Promise<T> {
    let work = this.#running.get(key) as Promise<T> | undefined;
    if (work === undefined) {
      const own: Op = { log: op.log, signal: AbortSignal.timeout(ownTimeoutMs) };
      work = fn(own).finally(() => this.#running.delete(key));
      // A caller that gave up does not see the outcome; the work still logs its own failures.
      work.catch(() => undefined);
      this.#running.set(key, work);
    }
    return waitWithSignal(work, op.signal);
  }

  /** Keys of the work still running (tests, shutdown). */
  get size(): number {
    return this.#running.size;
  }
}

/** `work`, or the signal's reason as soon as the caller's signal aborts. */
function waitWithSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
