import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prometheusNaN } from './server.ts';

test('a NaN gauge is printed as the exposition format spells it, and other values are left alone', () => {
  const text = 'critter_nodejs_eventloop_lag_mean_seconds Nan\ncritter_x{a="Nan"} 1\ncritter_y 0.5\n';
  assert.equal(prometheusNaN(text), 'critter_nodejs_eventloop_lag_mean_seconds NaN\ncritter_x{a="Nan"} 1\ncritter_y 0.5\n');
});
