import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broadcaster } from './broadcaster.ts';

test('Broadcaster.publish() delivers every event to every subscriber, in order', async () => {
  const b = new Broadcaster<number>({ queueLimit: 10, onDrop: () => assert.fail('nothing should drop') });
  const s1 = b.subscribe();
  const s2 = b.subscribe();
  for (let i = 0; i < 5; i++) b.publish(i);
  const read = async (s: AsyncIterable<number>): Promise<number[]> => {
    const out: number[] = [];
    for await (const n of s) {
      out.push(n);
      if (out.length === 5) break;
    }
    return out;
  };
  assert.deepEqual(await Promise.all([read(s1), read(s2)]), [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]);
  assert.equal(b.subscriberCount, 0, 'a subscriber that stops iterating is removed');
});

test('Broadcaster.publish() drops for a full subscriber only, counting each drop, without waiting', async () => {
  let drops = 0;
  const b = new Broadcaster<number>({ queueLimit: 3, onDrop: () => drops++ });
  const slow = b.subscribe();
  const fast = b.subscribe();
  const got: number[] = [];
  const it = fast[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) {
    b.publish(i);
    const r = await it.next();
    if (!r.done) got.push(r.value);
  }
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.equal(fast.dropped, 0);
  assert.equal(slow.dropped, 2);
  assert.equal(drops, 2);
  slow.close();
  fast.close();
});

test('Subscription.close() ends a pending iteration', async () => {
  const b = new Broadcaster<number>({ queueLimit: 3, onDrop: () => undefined });
  const s = b.subscribe();
  const it = s[Symbol.asyncIterator]();
  const pending = it.next();
  s.close();
  assert.deepEqual(await pending, { value: undefined, done: true });
  b.publishLazy(() => assert.fail('no subscriber: the event is not even built'));
});
