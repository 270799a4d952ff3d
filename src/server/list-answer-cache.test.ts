import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListAnswerCache, encodeOnce } from './list-answer-cache.ts';

test('ListAnswerCache hands the same answer out while generation and filter are the same, and builds anew otherwise', () => {
  const cache = new ListAnswerCache<{ n: number }>();
  let builds = 0;
  const build = (): { n: number } => ({ n: ++builds });
  const a = cache.get(null, 1, build);
  assert.equal(cache.get(null, 1, build), a, 'same generation, same filter: kept');
  const b = cache.get(null, 2, build);
  assert.notEqual(b, a, 'a record changed: built anew');
  assert.equal(cache.get(null, 2, build), b);
  const byPod = cache.get({ pod_sandbox_id: 'abc' }, 2, build);
  assert.notEqual(byPod, b, 'another filter: its own answer');
  assert.equal(cache.get({ pod_sandbox_id: 'abc' }, 2, build), byPod);
  assert.equal(cache.get(null, 2, build), b, 'the other filter kept its answer');
  assert.equal(builds, 3);
});

test('ListAnswerCache keeps a bounded number of filters and does not keep huge ones', () => {
  const cache = new ListAnswerCache<object>();
  let builds = 0;
  const build = (): object => { builds++; return {}; };
  for (let i = 0; i < 100; i++) cache.get({ id: String(i) }, 1, build);
  assert.equal(builds, 100);
  cache.get({ id: '99' }, 1, build);
  assert.equal(builds, 100, 'a recent filter is kept');
  cache.get({ id: '0' }, 1, build);
  assert.equal(builds, 101, 'the oldest filters were let go');
  const huge = { label_selector: { k: 'v'.repeat(2000) } };
  cache.get(huge, 1, build);
  cache.get(huge, 1, build);
  assert.equal(builds, 103, 'a filter longer than the key limit is never kept');
});

test('encodeOnce() encodes each answer object once and every other object as it comes', () => {
  let encodes = 0;
  const serialize = encodeOnce((v) => { encodes++; return Buffer.from(JSON.stringify(v)); });
  const answer = { items: [1, 2, 3] };
  const first = serialize(answer);
  assert.equal(serialize(answer), first);
  assert.equal(encodes, 1);
  assert.deepEqual(serialize({ items: [1, 2, 3] }), first, 'an equal but new object is encoded itself');
  assert.equal(encodes, 2);
});
