/**
 * Fan-out of events to any number of subscribers (cri-api.md item 30: every
 * GetContainerEvents stream gets every event; containerd 1.7 shared one channel so each
 * event reached only one subscriber, containerd#7318). Each subscriber has its own bounded
 * queue: publishing never waits, and a subscriber whose queue is full loses the event
 * (counted through `onDrop`) instead of slowing the runtime or the other subscribers.
 */

export interface BroadcasterDeps {
  /** Events a subscriber may have waiting before new ones are dropped for it. */
  queueLimit: number;
  onDrop(): void;
}

export interface Subscription<T> extends AsyncIterable<T> {
  /** Ends the subscription; a pending next() resolves as done. */
  close(): void;
  /** Events dropped for this subscriber so far. */
  readonly dropped: number;
}

class Subscriber<T> implements Subscription<T> {
  readonly #queue: T[] = [];
  readonly #limit: number;
  readonly #onDrop: () => void;
  readonly #onClose: () => void;
  #wake: (() => void) | undefined;
  #closed = false;
  dropped = 0;

  constructor(limit: number, onDrop: () => void, onClose: () => void) {
    this.#limit = limit;
    this.#onDrop = onDrop;
    this.#onClose = onClose;
  }

  offer(item: T): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#limit) {
      this.dropped++;
      this.#onDrop();
      return;
    }
    this.#queue.push(item);
    this.#wake?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#onClose();
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      while (!this.#closed) {
        const item = this.#queue.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        await new Promise<void>((resolve) => { this.#wake = resolve; });
        this.#wake = undefined;
      }
    } finally {
      this.close();
    }
  }
}

export class Broadcaster<T> {
  readonly #deps: BroadcasterDeps;
  readonly #subscribers = new Set<Subscriber<T>>();

  constructor(deps: BroadcasterDeps) {
    this.#deps = deps;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** A new subscription; it sees events published from now on. */
  subscribe(): Subscription<T> {
    const sub: Subscriber<T> = new Subscriber<T>(this.#deps.queueLimit, () => this.#deps.onDrop(), () => this.#subscribers.delete(sub));
    this.#subscribers.add(sub);
    return sub;
  }

  /** Delivers `item` to every subscriber's queue; never blocks. */
  publish(item: T): void {
    for (const sub of this.#subscribers) sub.offer(item);
  }

  /** Builds the event only when someone listens (building statuses costs). */
  publishLazy(build: () => T): void {
    if (this.#subscribers.size > 0) this.publish(build());
  }

  closeAll(): void {
    for (const sub of [...this.#subscribers]) sub.close();
  }
}
