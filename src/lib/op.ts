/**
 * The context every service method takes first (DESIGN convention 6): Go's `ctx` made
 * explicit. `signal` aborts when the caller cancels or its deadline passes; `log` is a
 * child logger already carrying the RPC and object ids.
 */
import type { Logger } from 'pino';

export interface Op {
  log: Logger;
  signal: AbortSignal;
}
