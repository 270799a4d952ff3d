import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, formatTimings, runInterleaved, PerEndpoint, type Scenario } from './harness.ts';
import type { CriClient } from '../test/integration/helpers/cri-client.ts';

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

test('runInterleaved() sets both up, warms both, then alternates timed rounds and tears both down', async () => {
  const calls: string[] = [];
  const a = { name: 'A' } as unknown as CriClient;
  const b = { name: 'B' } as unknown as CriClient;
  const who = (c: CriClient): string => (c as unknown as { name: string }).name;
  const scenario: Scenario = {
    name: 'fake',
    describe: 'records the order of calls',
    warmupIterations: () => 1,
    async setup(c) { calls.push(`setup ${who(c)}`); },
    async run(c, n, time) {
      calls.push(`run ${who(c)} ${n}`);
      for (let i = 0; i < n; i++) await time('X', async () => undefined);
    },
    async teardown(c) { calls.push(`teardown ${who(c)}`); },
    beginTimed(c) { calls.push(`begin ${who(c)}`); },
    summary(c) { calls.push(`summary ${who(c)}`); return `of ${who(c)}`; },
  };
  const [ra, rb] = await runInterleaved(scenario, a, b, 7, 3);
  assert.deepEqual(calls, [
    'setup A', 'setup B', 'run A 1', 'run B 1', 'begin A', 'begin B',
    'run A 3', 'run B 3', 'run A 3', 'run B 3', 'run A 1', 'run B 1',
    'summary A', 'summary B', 'teardown A', 'teardown B',
  ]);
  assert.equal(ra.timings.get('X')?.length, 7, 'warm-up runs are not timed');
  assert.equal(rb.timings.get('X')?.length, 7);
  assert.equal(ra.summary, 'of A');
  assert.equal(rb.summary, 'of B');
});

test('a scenario\'s own samples are per endpoint and add up over interleaved rounds', async () => {
  const a = { name: 'A' } as unknown as CriClient;
  const b = { name: 'B' } as unknown as CriClient;
  // Like the streaming scenario: a sample per call, capped per endpoint over the whole timed run.
  const cap = 4;
  const samples = new PerEndpoint<number[]>('fake');
  const value = (c: CriClient): number => (c === a ? 1 : 2);
  const scenario: Scenario = {
    name: 'fake',
    describe: 'keeps its own samples',
    warmupIterations: () => 2,
    async setup(c) { samples.set(c, []); },
    async run(c, n) {
      const mine = samples.get(c);
      for (let i = 0; i < Math.min(n, cap - mine.length); i++) mine.push(value(c));
    },
    beginTimed(c) { samples.set(c, []); },
    summary(c) { return samples.get(c).join(','); },
    async teardown(c) { samples.take(c); },
  };
  const [ra, rb] = await runInterleaved(scenario, a, b, 10, 3);
  assert.equal(ra.summary, '1,1,1,1', 'A\'s own samples, capped over all rounds, warm-up left out');
  assert.equal(rb.summary, '2,2,2,2', 'B\'s figures are not A\'s last round');
  assert.throws(() => samples.get(a), /did not set up/);
});
