/**
 * Background work on a period (the layer prune, the container reconcile): each run starts
 * `periodMs` after the previous one ended, so a slow run never overlaps the next, and a
 * failing run is logged and tried again next period. The timers come from the caller, so
 * tests drive them by hand.
 */
import type { Logger } from 'pino';
import { describeError } from './errors.ts';

/** Runs `fn` after `ms`; returns the cancel. */
export type Schedule = (fn: () => void, ms: number) => () => void;

/** setTimeout that never keeps the process alive. */
export const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export interface PeriodicDeps {
  /** What the work is, for the log. */
  name: string;
  periodMs: number;
  run: () => Promise<void>;
  log: Pick<Logger, 'warn'>;
  schedule?: Schedule;
}

export class Periodic {
  readonly #deps: PeriodicDeps;
  #cancel: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(deps: PeriodicDeps) {
    this.#deps = deps;
  }

  /** Schedules the first run one period from now. */
  start(): void {
    this.#stopped = false;
    this.#next();
  }

  /** No more runs; resolves once a run in progress has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
    await this.#running;
  }

  #next(): void {
    if (this.#stopped) return;
    this.#cancel = (this.#deps.schedule ?? realSchedule)(() => {
      this.#cancel = undefined;
      this.#running = this.#deps.run()
        .catch((err: unknown) => this.#deps.log.warn({ task: this.#deps.name, err: describeError(err) }, 'Periodic task failed; trying again next period'))
        .finally(() => {
          this.#running = undefined;
          this.#next();
        });
    }, this.#deps.periodMs);
  }
}
