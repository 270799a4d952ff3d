import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadAverages } from './cpu-load.ts';

const S = 1_000_000_000n;

test('LoadAverages starts at the first count and decays toward new counts by e^(-elapsed/10s), in milliLoad', () => {
  const l = new LoadAverages();
  assert.equal(l.milliLoad('c'), undefined);
  l.push('c', 2, 0n);
  assert.equal(l.milliLoad('c'), 2000);
  l.push('c', 0, 10n * S);
  assert.equal(l.milliLoad('c'), Math.round(2000 * Math.exp(-1)));
  l.push('c', 0, 10n * S);
  assert.equal(l.milliLoad('c'), Math.round(2000 * Math.exp(-1)), 'a sample at the same instant changes nothing');
  for (let t = 11n; t < 200n; t++) l.push('c', 1, t * S);
  assert.equal(l.milliLoad('c'), 1000, 'a constant count is reached');
  l.retain(new Set());
  assert.equal(l.milliLoad('c'), undefined);
});
