import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, formatTimings, runInterleaved, type Scenario } from './harness.ts';
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
  };
  const [ta, tb] = await runInterleaved(scenario, a, b, 7, 3);
  assert.deepEqual(calls, [
    'setup A', 'setup B', 'run A 1', 'run B 1',
    'run A 3', 'run B 3', 'run A 3', 'run B 3', 'run A 1', 'run B 1',
    'teardown A', 'teardown B',
  ]);
  assert.equal(ta.get('X')?.length, 7, 'warm-up runs are not timed');
  assert.equal(tb.get('X')?.length, 7);
});
