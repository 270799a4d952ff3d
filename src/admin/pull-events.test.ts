import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PullEventSink } from './pull-events.ts';
import type { PullEvent } from './protocol.ts';

const D = 'sha256:' + 'a'.repeat(64);

test('PullEventSink() sends state changes at once and coalesces byte counts until the next tick', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const events: PullEvent[] = [];
  const sink = new PullEventSink({ emit: (e) => events.push(e), intervalMs: 20 });
  sink.onLayer({ digest: D, state: 'started', size: 1000 });
  assert.deepEqual(events, [{ layer: D, state: 'downloading', bytes: 0, total: 1000 }]);
  for (let b = 100; b <= 500; b += 100) sink.onBytes({ digest: D, bytes: b, size: 1000 });
  assert.equal(events.length, 1, 'bytes wait for the timer');
  t.mock.timers.tick(50);
  assert.deepEqual(events.slice(1), [{ layer: D, state: 'downloading', bytes: 500, total: 1000 }]);
  sink.onBytes({ digest: D, bytes: 1000, size: 1000 });
  assert.deepEqual(events.at(-1), { layer: D, state: 'extracting', bytes: 1000, total: 1000 });
  sink.onLayer({ digest: D, state: 'done', size: 1000 });
  sink.close();
  assert.deepEqual(events.at(-1), { layer: D, state: 'done', bytes: 1000, total: 1000 });
});

test('PullEventSink() reports a skipped layer as exists and ignores late bytes for it', () => {
  const events: PullEvent[] = [];
  const sink = new PullEventSink({ emit: (e) => events.push(e) });
  sink.onLayer({ digest: D, state: 'skipped', size: 42 });
  sink.onBytes({ digest: D, bytes: 10, size: 42 });
  sink.close();
  assert.deepEqual(events, [{ layer: D, state: 'exists', bytes: 42, total: 42 }]);
});
