import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { IdleTrimmer } from './idle-trim.ts';

function setup(): { trimmer: IdleTrimmer; trims: () => number } {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  let count = 0;
  const trimmer = new IdleTrimmer({ trim: () => { count++; return true; }, quietMs: 500, minIntervalMs: 5000 });
  return { trimmer, trims: () => count };
}

test('IdleTrimmer.observe() behaviour: trims once after a quiet period, not while calls keep finishing', (t) => {
  t.after(() => mock.timers.reset());
  const { trimmer, trims } = setup();
  trimmer.observe();
  mock.timers.tick(400);
  trimmer.observe();
  mock.timers.tick(400);
  assert.equal(trims(), 0);
  mock.timers.tick(100);
  assert.equal(trims(), 1);
  mock.timers.tick(60_000);
  assert.equal(trims(), 1, 'no calls, no further trims');
  trimmer.close();
});

test('IdleTrimmer.observe() behaviour: trims at most once per minimum interval', (t) => {
  t.after(() => mock.timers.reset());
  const { trimmer, trims } = setup();
  trimmer.observe();
  mock.timers.tick(500);
  assert.equal(trims(), 1);
  trimmer.observe();
  mock.timers.tick(500);
  assert.equal(trims(), 1, 'second quiet period within the interval waits');
  mock.timers.tick(4499);
  assert.equal(trims(), 1);
  mock.timers.tick(1);
  assert.equal(trims(), 2);
  trimmer.close();
});

test('IdleTrimmer.close() behaviour: a pending trim never runs', (t) => {
  t.after(() => mock.timers.reset());
  const { trimmer, trims } = setup();
  trimmer.observe();
  trimmer.close();
  trimmer.observe();
  mock.timers.tick(10_000);
  assert.equal(trims(), 0);
});
