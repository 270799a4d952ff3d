/** Polling with a deadline, for the real-client tests: a Kubernetes component converges on its own schedule. */
import { describeError } from '../../../src/lib/errors.ts';

export interface WaitOptions {
  /** Poll interval (default 250 ms). */
  everyMs?: number;
  /** Text appended to the timeout error (e.g. the tail of a component's log). */
  context?: () => Promise<string>;
}

/** Resolves with the first value `probe` gives that is not undefined; a probe that throws is retried. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms: number, opts: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const context = opts.context ? `\n${await opts.context().catch(() => '')}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${describeError(last)})` : ''}${context}`);
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 250));
  }
}
