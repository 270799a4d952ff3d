import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { GarbageAfterBigBuffers, IdleTrimmer } from './idle-trim.ts';

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

function collecting(held: number[]): { trimmer: IdleTrimmer; log: string[] } {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const log: string[] = [];
  let bytes = held.shift() ?? 0;
  const trimmer = new IdleTrimmer({
    trim: () => { log.push('trim'); return true; },
    collect: () => { log.push('collect'); bytes = held.shift() ?? bytes; },
    bufferBytes: () => bytes,
    collectAboveBytes: 100, recheckMs: 2000, rechecks: 2, quietMs: 500, minIntervalMs: 1000,
  });
  return { trimmer, log };
}

test('IdleTrimmer with a collector: collects before the trim only when JS holds many buffer bytes', (t) => {
  t.after(() => mock.timers.reset());
  const low = collecting([50]);
  low.trimmer.observe();
  mock.timers.tick(500);
  assert.deepEqual(low.log, ['trim'], 'few bytes held: no collection');
  low.trimmer.close();
  mock.timers.reset();
  const high = collecting([700, 10]);
  high.trimmer.observe();
  mock.timers.tick(500);
  assert.deepEqual(high.log, ['collect', 'trim'], 'dead buffers are collected, then their memory trimmed');
  mock.timers.tick(60_000);
  assert.deepEqual(high.log, ['collect', 'trim'], 'collected down: no further looks');
  high.trimmer.close();
});

test('IdleTrimmer with a collector: buffers still held after a collection are looked at again without new calls, a bounded number of times', (t) => {
  t.after(() => mock.timers.reset());
  // Still held after the first two collections (an answer being read), let go by the third.
  const { trimmer, log } = collecting([700, 700, 700, 10]);
  trimmer.observe();
  mock.timers.tick(500);
  assert.deepEqual(log, ['collect', 'trim']);
  mock.timers.tick(2000);
  assert.deepEqual(log, ['collect', 'trim', 'collect', 'trim']);
  mock.timers.tick(2000);
  assert.deepEqual(log, ['collect', 'trim', 'collect', 'trim', 'collect', 'trim']);
  mock.timers.tick(60_000);
  assert.equal(log.length, 6, 'done once the bytes are gone');
  trimmer.close();
  mock.timers.reset();

  const stuck = collecting([700]);
  stuck.trimmer.observe();
  for (let i = 0; i < 30; i++) mock.timers.tick(2000);
  assert.deepEqual(stuck.log, ['collect', 'trim', 'collect', 'trim', 'collect', 'trim'], 'bytes that stay alive: the first look and two more, then it waits for calls');
  stuck.trimmer.close();
});

test('GarbageAfterBigBuffers.dropped(): one collection per batch of dropped bytes, on the next turn of the event loop, at most once per interval', async (t) => {
  t.after(() => mock.timers.reset());
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  let collections = 0;
  const garbage = new GarbageAfterBigBuffers({ collect: () => { collections++; }, afterBytes: 100, minIntervalMs: 250 });
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  garbage.dropped(60);
  await turn();
  assert.equal(collections, 0, 'below the batch');
  garbage.dropped(60);
  assert.equal(collections, 0, 'not inside the call that let go: its answer is not serialised yet');
  garbage.dropped(500);
  await turn();
  assert.equal(collections, 1, 'one collection for everything dropped in that turn');
  garbage.dropped(200);
  await turn();
  assert.equal(collections, 1, 'within the interval: waits');
  mock.timers.tick(250);
  garbage.dropped(1);
  await turn();
  assert.equal(collections, 2, 'the bytes kept from before count towards the next batch');
});

test('IdleTrimmer with a collector: collects when the V8 heap grew past the mark since the last collection, then measures growth from there', (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  t.after(() => mock.timers.reset());
  const log: string[] = [];
  let heap = 1000;
  const trimmer = new IdleTrimmer({
    trim: () => { log.push('trim'); return true; },
    collect: () => { log.push('collect'); heap -= 300; },
    bufferBytes: () => 0,
    heapBytes: () => heap,
    collectAfterHeapGrowthBytes: 500, quietMs: 500, minIntervalMs: 1000,
  });
  heap = 1400;
  trimmer.observe();
  mock.timers.tick(500);
  assert.deepEqual(log, ['trim'], 'grown by 400 of 500: no collection');
  heap = 1600;
  trimmer.observe();
  mock.timers.tick(1000);
  assert.deepEqual(log, ['trim', 'collect', 'trim'], 'grown by 600 since start: collected');
  // After the collection the heap is 1300: the next mark is 1800.
  heap = 1700;
  trimmer.observe();
  mock.timers.tick(1000);
  assert.deepEqual(log, ['trim', 'collect', 'trim', 'trim'], 'grown by 400 since the collection: none');
  trimmer.close();
});
