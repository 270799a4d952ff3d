import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, formatTimings } from './harness.ts';

test('quantile() picks the nearest rank', () => {
  const s = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
  assert.equal(quantile(s, 0.5), 5);
  assert.equal(quantile(s, 0.9), 9);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('formatTimings() shows ratios against the baseline', () => {
  const out = formatTimings('critter', new Map([['Version', [1, 1, 1]]]), { label: 'other', timings: new Map([['Version', [2, 2, 2]]]) });
  assert.match(out, /Version\s+3\s+1\.00\s+1\.00\s+2\.00\s+2\.00\s+0\.50\s+0\.50/);
});
