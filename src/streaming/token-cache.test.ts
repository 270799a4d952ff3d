import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceExhaustedError } from '../lib/errors.ts';
import { TokenCache, type Clock } from './token-cache.ts';

function fakeClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

test('TokenCache.insert() returns unguessable base64url tokens of at least 8 random bytes', () => {
  const cache = new TokenCache<string>({ clock: fakeClock() });
  const tokens = new Set<string>();
  for (let i = 0; i < 200; i++) tokens.add(cache.insert(`v${i}`));
  assert.equal(tokens.size, 200);
  for (const t of tokens) {
    assert.match(t, /^[A-Za-z0-9_-]+$/);
    assert.ok(Buffer.from(t, 'base64url').length >= 8, t);
  }
});

test('TokenCache.consume() returns the value once, then undefined', () => {
  const cache = new TokenCache<{ id: string }>({ clock: fakeClock() });
  const token = cache.insert({ id: 'a' });
  assert.deepEqual(cache.consume(token), { id: 'a' });
  assert.equal(cache.consume(token), undefined);
  assert.equal(cache.consume('never-issued'), undefined);
});

test('TokenCache.consume() refuses a token after its TTL', () => {
  const clock = fakeClock();
  const cache = new TokenCache<string>({ clock, ttlMs: 60_000 });
  const fresh = cache.insert('fresh');
  const stale = cache.insert('stale');
  clock.advance(59_999);
  assert.equal(cache.consume(fresh), 'fresh');
  clock.advance(1);
  assert.equal(cache.consume(stale), undefined);
});

test('TokenCache.peek() does not use the token up', () => {
  const cache = new TokenCache<string>({ clock: fakeClock() });
  const token = cache.insert('x');
  assert.equal(cache.peek(token), 'x');
  assert.equal(cache.consume(token), 'x');
  assert.equal(cache.peek(token), undefined);
});

test('TokenCache.insert() throws ResourceExhaustedError over the bound until tokens expire or are used', () => {
  const clock = fakeClock();
  const cache = new TokenCache<number>({ clock, maxInFlight: 3, ttlMs: 1000 });
  const first = cache.insert(1);
  cache.insert(2);
  clock.advance(500);
  cache.insert(3);
  assert.throws(() => cache.insert(4), ResourceExhaustedError);
  cache.consume(first);
  cache.insert(4);
  assert.throws(() => cache.insert(5), ResourceExhaustedError);
  clock.advance(500); // the first two expire
  assert.equal(cache.size, 2);
  cache.insert(5);
});
