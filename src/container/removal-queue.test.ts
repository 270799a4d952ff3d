import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { RemovalQueue } from './removal-queue.ts';
import type { ContainerRecord } from './container-record.ts';

const rec = (id: string, podId = 'pod'): ContainerRecord => ({ id, metadata: { podId } as ContainerRecord['metadata'], status: {} as ContainerRecord['status'] });

/** A queue whose teardowns log start/end and take `ms`. */
function queue(quietMs: number, maxDelayMs: number, ms = 5): { q: RemovalQueue; events: string[] } {
  const events: string[] = [];
  const q = new RemovalQueue({
    quietMs, maxDelayMs,
    teardown: async (r) => { events.push(`start ${r.id}`); await sleep(ms); events.push(`end ${r.id}`); },
  });
  return { q, events };
}

test('RemovalQueue waits for a quiet moment, then tears down one container at a time', async () => {
  const { q, events } = queue(40, 1000);
  q.add(rec('a'));
  await sleep(20);
  q.add(rec('b'));
  await sleep(25);
  assert.deepEqual(events, [], 'a removal 20 ms ago keeps the queue waiting');
  await sleep(60);
  assert.deepEqual(events, ['start a', 'end a', 'start b', 'end b']);
});

test('RemovalQueue starts by maxDelayMs even while removals keep coming', async () => {
  const { q, events } = queue(30, 60);
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) {
    q.add(rec(`c${i}`));
    await sleep(10);
  }
  const firstStart = events.indexOf('start c0');
  assert.ok(firstStart >= 0, `began within ${Date.now() - t0} ms of steady removals`);
  await q.settle(() => true);
});

test('RemovalQueue.settle() runs the matching removals at once and waits; others keep waiting', async () => {
  const { q, events } = queue(10_000, 10_000);
  q.add(rec('x', 'pod1'));
  q.add(rec('y', 'pod2'));
  await q.settle((r) => r.metadata.podId === 'pod1');
  assert.deepEqual(events, ['start x', 'end x']);
  await q.settle((r) => r.metadata.podId === 'pod1');
  assert.deepEqual(events, ['start x', 'end x'], 'a finished removal is not run again');
  await q.settle(() => true);
  assert.deepEqual(events, ['start x', 'end x', 'start y', 'end y']);
  q.close();
});

test('RemovalQueue.close() stops the timer: nothing pending runs afterwards', async () => {
  const { q, events } = queue(10, 10);
  q.add(rec('z'));
  q.close();
  await sleep(40);
  assert.deepEqual(events, []);
});
