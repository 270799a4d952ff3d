/**
 * Fires `onIdle` once nothing moved for `timeoutMs` (the streaming idle timeout, 4 h by
 * default as in cri-streaming). `touch()` is called on every data transfer and costs one
 * clock read; the timer re-arms itself lazily instead of being reset per chunk.
 */
export interface IdleTimerDeps {
  /** 0 or less disables the timer. */
  timeoutMs: number;
  onIdle: () => void;
}

export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #last = performance.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: IdleTimerDeps) {
    this.#timeoutMs = deps.timeoutMs;
    this.#onIdle = deps.onIdle;
    this.#arm(this.#timeoutMs);
  }

  touch(): void {
    this.#last = performance.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    if (this.#timeoutMs <= 0) return;
    this.#timer = setTimeout(() => {
      const idleFor = performance.now() - this.#last;
      if (idleFor >= this.#timeoutMs) this.#onIdle();
      else this.#arm(this.#timeoutMs - idleFor);
    }, Math.max(delayMs, 1));
    this.#timer.unref();
  }
}
