/**
 * Work that belongs to the daemon, not to the call that asked for it. A caller whose
 * deadline passes (crictl's and `kubeadm reset`'s 2 s, the kubelet's on a slow CNI ADD)
 * gets its DEADLINE_EXCEEDED, but the work goes on under a signal of its own with its own
 * timeout, so a stop is never abandoned halfway and a create is not undone only because its
 * first caller gave up (issue 18 item 2); a retry with the same key joins the running work
 * instead of starting a second one.
 */
import type { Op } from './op.ts';
import { DeadlineExceededError } from './errors.ts';

export class DetachedWork {
  #running = new Map<string, Promise<unknown>>();

  /** Runs `fn` once per key at a time, under `AbortSignal.timeout(ownTimeoutMs)`; the caller waits with its own signal. */
  run<T>(op: Op, key: string, ownTimeoutMs: number, fn: (own: Op) => Promise<T>): Promise<T> {
    let work = this.#running.get(key) as Promise<T> | undefined;
    if (work === undefined) {
      const own: Op = { log: op.log, signal: AbortSignal.timeout(ownTimeoutMs) };
      work = fn(own).catch((err: unknown) => {
        // The work's own deadline is a deadline too, with a message that says whose it was.
        if (own.signal.aborted && !(err instanceof DeadlineExceededError)) {
          throw new DeadlineExceededError(`${key} did not finish within its own timeout of ${ownTimeoutMs / 1000} s`, { cause: err });
        }
        throw err;
      }).finally(() => this.#running.delete(key));
      // A caller that gave up does not see the outcome; the work still logs its own failures.
      work.catch(() => undefined);
      this.#running.set(key, work);
    }
    return waitWithSignal(work, op.signal);
  }

  /** The running work of `key`, waited for with the caller's signal; undefined when none runs. */
  join<T>(op: Op, key: string): Promise<T> | undefined {
    const work = this.#running.get(key) as Promise<T> | undefined;
    return work === undefined ? undefined : waitWithSignal(work, op.signal);
  }

  /** Resolves when the work of `key` has ended, however it ended; undefined when none runs. */
  ended(key: string): Promise<void> | undefined {
    return this.#running.get(key)?.then(() => undefined, () => undefined);
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
