/**
 * Limits every HTTP listener of the daemon sets (streaming, admin, metrics; issue 12
 * class 5): what a client may send and how slowly, so a hostile or stuck client costs a
 * bounded amount of memory and time. The values are explicit rather than Node's defaults,
 * which `--max-http-header-size` and future Node versions may change.
 */
import type { Server } from 'node:http';

export const HTTP_LIMITS = {
  /** Request line plus headers, in bytes (Node's default; a kubelet sends well under 2 KiB). */
  maxHeaderSize: 16 * 1024,
  /** All headers must arrive within this (slow-loris); clients send them in one write. */
  headersTimeoutMs: 10_000,
  /** The whole request, body included (the admin API's largest body is 1 MiB of JSON). */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Headers per request. */
  maxHeadersCount: 100,
} as const;

/** Options for http.createServer / https.createServer. */
export function httpServerOptions(): { maxHeaderSize: number; requestTimeout: number; headersTimeout: number; keepAliveTimeout: number } {
  return { maxHeaderSize: HTTP_LIMITS.maxHeaderSize, requestTimeout: HTTP_LIMITS.requestTimeoutMs, headersTimeout: HTTP_LIMITS.headersTimeoutMs, keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs };
}

/** The limits that are properties rather than constructor options. */
export function limitServer<T extends Server>(server: T): T {
  server.maxHeadersCount = HTTP_LIMITS.maxHeadersCount;
  server.headersTimeout = HTTP_LIMITS.headersTimeoutMs;
  server.requestTimeout = HTTP_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = HTTP_LIMITS.keepAliveTimeoutMs;
  return server;
}
