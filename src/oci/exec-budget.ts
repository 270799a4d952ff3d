/**
 * What all ExecSync calls together may hold in output (issue 18 item 6). Each call's
 * streams are capped at 16 MiB, but 50 concurrent probes that each print 16 MiB would make
 * the daemon hold 800 MiB, and glibc keeps much of that after the storm (measured: 1.28 GiB
 * peak, 875 MiB 36 s later). Bytes are taken as they arrive and given back when the call
 * ends; a call whose next chunk does not fit fails with RESOURCE_EXHAUSTED instead of waiting,
 * since calls holding output cannot give it back before they end (waiting could deadlock).
 */
export class ExecOutputBudget {
  readonly #limit: number;
  readonly #onGiveBack: ((bytes: number) => void) | undefined;
  #used = 0;

  /** `onGiveBack` hears of bytes a finished call let go of (src/daemon/idle-trim.ts collects them). */
  constructor(limitBytes: number, onGiveBack?: (bytes: number) => void) {
    this.#limit = limitBytes;
    this.#onGiveBack = onGiveBack;
  }

  /** Takes `n` bytes; false (and nothing taken) when they do not fit. */
  take(n: number): boolean {
    if (this.#used + n > this.#limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
    if (n > 0) this.#onGiveBack?.(n);
  }

  get used(): number {
    return this.#used;
  }

  get limit(): number {
    return this.#limit;
  }
}
