/**
 * RemovalQueue's timing on a fake clock (node:test mock.timers: setTimeout and Date), so
 * "20 ms later" is a tick the test takes, not a sleep that hopes the machine keeps up.
 */
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { RemovalQueue } from './removal-queue.ts';
import type { ContainerRecord } from './container-record.ts';

const rec = (id: string, podId = 'pod'): ContainerRecord => ({ id, metadata: { podId } as ContainerRecord['metadata'], status: {} as ContainerRecord['status'] });

/** A queue whose teardowns log start/end; each ends a few microtasks after it starts. */
function queue(quietMs: number, maxDelayMs: number): { q: RemovalQueue; events: string[] } {
  const events: string[] = [];
  const q = new RemovalQueue({
    quietMs, maxDelayMs,
    teardown: async (r) => { events.push(`start ${r.id}`); await Promise.resolve(); events.push(`end ${r.id}`); },
  });
  return { q, events };
}

/** Advances the fake clock and lets the work it started run to its next timer. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

afterEach(() => mock.timers.reset());

test('RemovalQueue waits for a quiet moment, then tears down one container at a time', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { q, events } = queue(40, 1000);
  q.add(rec('a'));
  await tick(20);
  q.add(rec('b'));
  await tick(25);
  assert.deepEqual(events, [], 'a removal 25 ms ago keeps the queue waiting');
  await tick(15);
  assert.deepEqual(events, ['start a', 'end a', 'start b', 'end b']);
  q.close();
});

test('RemovalQueue starts by maxDelayMs even while removals keep coming', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { q, events } = queue(30, 60);
  for (let i = 0; i < 6; i++) {
    q.add(rec(`c${i}`));
    await tick(10);
  }
  assert.ok(events.includes('start c0'), 'began 60 ms after the first of steady removals 10 ms apart');
  q.close();
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
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { q, events } = queue(10, 10);
  q.add(rec('z'));
  q.close();
  await tick(40);
  assert.deepEqual(events, []);
});
