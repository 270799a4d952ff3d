/**
 * Turns a pull's progress callbacks into the admin API's events: state changes at once,
 * byte counts at most once per layer every `intervalMs` (a pull of a large layer calls
 * back for every 64 KiB chunk; the CLI only redraws a few times a second).
 */
import type { LayerBytesEvent, LayerStateEvent, PullProgress } from '../image/pull.ts';
import type { LayerState, PullEvent } from './protocol.ts';

const PROGRESS_INTERVAL_MS = 200;

interface LayerView { state: LayerState; bytes: number; total: number; dirty: boolean }

export class PullEventSink implements PullProgress {
  readonly #emit: (e: PullEvent) => void;
  readonly #layers = new Map<string, LayerView>();
  readonly #timer: NodeJS.Timeout;

  constructor(deps: { emit: (e: PullEvent) => void; intervalMs?: number }) {
    this.#emit = deps.emit;
    this.#timer = setInterval(() => this.#flush(), deps.intervalMs ?? PROGRESS_INTERVAL_MS);
    this.#timer.unref();
  }

  onLayer(event: LayerStateEvent): void {
    const state: LayerState = event.state === 'skipped' ? 'exists' : event.state === 'started' ? 'downloading' : 'done';
    const bytes = state === 'downloading' ? this.#layers.get(event.digest)?.bytes ?? 0 : event.size;
    const view = { state, bytes, total: event.size, dirty: false };
    this.#layers.set(event.digest, view);
    this.#send(event.digest, view);
  }

  onBytes(event: LayerBytesEvent): void {
    const view = this.#layers.get(event.digest) ?? { state: 'downloading' as const, bytes: 0, total: event.size, dirty: false };
    if (view.state === 'done' || view.state === 'exists') return;
    view.bytes = event.bytes;
    view.total = event.size;
    view.dirty = true;
    this.#layers.set(event.digest, view);
    // Every byte is in: what is left is the rest of extraction and the commit.
    if (event.size > 0 && event.bytes >= event.size && view.state === 'downloading') {
      view.state = 'extracting';
      this.#send(event.digest, view);
    }
  }

  /** Sends what is pending and stops the timer; call once the pull ended. */
  close(): void {
    clearInterval(this.#timer);
    this.#flush();
  }

  #flush(): void {
    for (const [digest, view] of this.#layers) if (view.dirty) this.#send(digest, view);
  }

  #send(digest: string, view: LayerView): void {
    view.dirty = false;
    this.#emit({ layer: digest, state: view.state, bytes: view.bytes, total: view.total });
  }
}
