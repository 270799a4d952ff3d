import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capMessage, shown, tailBounded } from './shown.ts';

test('shown() quotes short values whole and escapes NUL and newlines', () => {
  assert.equal(shown('ab'), '"ab"');
  assert.equal(shown('a\0b\n'), '"a\\u0000b\\n"');
  assert.equal(shown(42), '"42"');
});

test('shown() cuts long values to 256 characters and gives their length', () => {
  const s = shown('x'.repeat(131072));
  assert.equal(s, `"${'x'.repeat(256)}"… (131072 characters)`);
});

test('capMessage() keeps head and tail within the byte budget', () => {
  const text = `HEAD${'é'.repeat(10_000)}TAIL`;
  const capped = capMessage(text, 4096);
  assert.ok(Buffer.byteLength(capped) <= 4096, `${Buffer.byteLength(capped)} bytes`);
  assert.ok(capped.startsWith('HEAD') && capped.endsWith('TAIL'));
  assert.match(capped, /\[20008 bytes, cut\]/);
  assert.ok(!capped.includes('\uFFFD'));
  assert.equal(capMessage('short', 4096), 'short');
});

test('tailBounded() keeps the last bytes of a long stderr', () => {
  const out = tailBounded(`${'a'.repeat(10_000)}the real error`, 100);
  assert.ok(out.endsWith('the real error'));
  assert.ok(Buffer.byteLength(out) < 150);
  assert.match(out, /^\[first \d+ bytes cut\]/);
  assert.equal(tailBounded('fine', 100), 'fine');
});
