/**
 * Undo steps for a multi-step change (DESIGN convention 4). Steps are pushed as the
 * change goes; on failure `unwind()` runs them in reverse, each retried a few times,
 * under a fresh timeout of its own: the request's signal may already be aborted
 * (containerd DeferContext, CRI-O ResourceCleaner).
 */
import type { Logger } from 'pino';
import { describeError } from './errors.ts';

interface Step {
  what: string;
  undo: (signal: AbortSignal) => Promise<void> | void;
}

export class CleanupStack {
  #steps: Step[] = [];

  /** Registers an undo step, described for the log. */
  push(what: string, undo: (signal: AbortSignal) => Promise<void> | void): void {
    this.#steps.push({ what, undo });
  }

  /** Forgets every step: the change succeeded. */
  commit(): void {
    this.#steps = [];
  }

  /** Runs every step in reverse order; failures are logged, never thrown. */
  async unwind(log: Pick<Logger, 'warn' | 'error'>, timeoutMs = 60_000, attempts = 3): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      for (let attempt = 1; ; attempt++) {
        try {
          await step.undo(signal);
          break;
        } catch (err) {
          if (attempt >= attempts || signal.aborted) {
            log.error({ step: step.what, err: describeError(err) }, 'Cleanup step failed');
            break;
          }
          log.warn({ step: step.what, attempt, err: describeError(err) }, 'Cleanup step failed, retrying');
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    }
  }
}
