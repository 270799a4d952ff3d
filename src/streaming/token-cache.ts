/**
 * Single-use tokens for streaming URLs, shaped like cri-streaming's `request_cache.go`:
 * unguessable, consumed on first use, expiring after a TTL, and bounded in number so a
 * caller cannot grow daemon memory by asking for URLs it never opens (cri-api item 25).
 */
import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../lib/errors.ts';

/** Milliseconds since the epoch; injected so tests can move time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

const DEFAULT_TOKEN_TTL_MS = 60_000;
const DEFAULT_MAX_TOKENS_IN_FLIGHT = 1000;
/** cri-streaming uses 8 bytes; twice that costs nothing. */
const TOKEN_BYTES = 16;

export interface TokenCacheDeps {
  clock: Clock;
  ttlMs?: number;
  maxInFlight?: number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export class TokenCache<T> {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxInFlight: number;
  /** Insertion order equals expiry order because the TTL is fixed; evictExpired relies on it. */
  readonly #entries = new Map<string, Entry<T>>();

  constructor(deps: TokenCacheDeps) {
    this.#clock = deps.clock;
    this.#ttlMs = deps.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.#maxInFlight = deps.maxInFlight ?? DEFAULT_MAX_TOKENS_IN_FLIGHT;
  }

  /** Number of unexpired, unused tokens. */
  get size(): number {
    this.#evictExpired();
    return this.#entries.size;
  }

  /** Stores `value` and returns a new base64url token for it. */
  insert(value: T): string {
    this.#evictExpired();
    if (this.#entries.size >= this.#maxInFlight) {
      throw new ResourceExhaustedError(
        `too many streaming requests in flight: limit is ${this.#maxInFlight}, retry after ${this.#ttlMs} ms`,
      );
    }
    let token = randomBytes(TOKEN_BYTES).toString('base64url');
    while (this.#entries.has(token)) token = randomBytes(TOKEN_BYTES).toString('base64url');
    this.#entries.set(token, { value, expiresAt: this.#clock.now() + this.#ttlMs });
    return token;
  }

  /** Returns the value once; a used, expired or unknown token gives undefined. */
  consume(token: string): T | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    this.#entries.delete(token);
    return entry.expiresAt > this.#clock.now() ? entry.value : undefined;
  }

  /** Returns the value without using the token up (to answer a non-upgrade request). */
  peek(token: string): T | undefined {
    const entry = this.#entries.get(token);
    return entry !== undefined && entry.expiresAt > this.#clock.now() ? entry.value : undefined;
  }

  #evictExpired(): void {
    const now = this.#clock.now();
    for (const [token, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(token);
    }
  }
}
