/**
 * A blob body wrapped with a progress-based stall timeout.
 *
 * NOTE: the timeout measures only time spent *waiting for the network*: the clock runs
 * while the consumer is asking for data (after `_read()`), restarts on every chunk
 * received, and stops whenever the consumer applies backpressure (`push()` returned
 * false). A slow consumer (a long unpack, a full disk queue) therefore never counts as a
 * stall; a registry that keeps the connection open but sends nothing does. This is the
 * false-positive containerd#13909 / cri-o#8760 complain about with timers that also run
 * during unpack.
 */
import { Readable } from 'node:stream';
import { DeadlineExceededError } from '../../lib/errors.ts';

export interface StallGuardOptions {
  /** Milliseconds without bytes while reading; 0 disables the guard. */
  stallTimeoutMs: number;
  /** Cancels the stream (the caller's operation signal). */
  signal: AbortSignal;
  /** Names the blob and host in the stall error. */
  what: string;
}

class StallGuardedStream extends Readable {
  readonly #source: Readable;
  readonly #options: StallGuardOptions;
  readonly #onAbort: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: Readable, options: StallGuardOptions) {
    super({ highWaterMark: source.readableHighWaterMark });
    this.#source = source;
    this.#options = options;
    this.#onAbort = (): void => {
      this.destroy(options.signal.reason instanceof Error ? options.signal.reason : new Error('aborted'));
    };
    source.on('data', (chunk: Buffer) => {
      if (this.push(chunk)) {
        this.#arm();
      } else {
        // Backpressure: the consumer is busy, so waiting is not the network's fault.
        this.#disarm();
        source.pause();
      }
    });
    source.once('end', () => {
      this.#disarm();
      this.push(null);
    });
    source.once('error', (err) => this.destroy(err));
    source.pause();
    if (options.signal.aborted) queueMicrotask(this.#onAbort);
    else options.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  override _read(): void {
    this.#arm();
    this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#disarm();
    this.#options.signal.removeEventListener('abort', this.#onAbort);
    this.#source.destroy();
    callback(err);
  }

  #arm(): void {
    const ms = this.#options.stallTimeoutMs;
    if (ms <= 0 || this.destroyed) return;
    if (this.#timer !== undefined) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.destroy(new DeadlineExceededError(`${this.#options.what}: no data received for ${ms} ms (pull stall timeout)`));
    }, ms);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Wraps `source` so it fails with DeadlineExceededError when the network stalls. */
export function guardStall(source: Readable, options: StallGuardOptions): Readable {
  return new StallGuardedStream(source, options);
}
