/**
 * Issue 18 item 4: a removal whose teardown fails is retried with backoff on the service's
 * timers (a fake schedule the test fires), a removed container is never an image user, and
 * a busy rootfs is detached lazily after its retries.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciRuntimeError } from '../oci/runtime.ts';
import { containerConfig } from './spec/testing.ts';
import { containerHarness, testOp as op, TEST_IMAGE, type Harness } from './testing.ts';
import type { Schedule } from './container-deps.ts';

let dir: string;
let h: Harness;
/** Timers the service set, in order; the test fires them. */
let timers: Array<{ fn: () => void; ms: number; cancelled: boolean }>;

const schedule: Schedule = (fn, ms) => {
  const t = { fn, ms, cancelled: false };
  timers.push(t);
  return () => { t.cancelled = true; };
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-teardown-'));
  timers = [];
  h = containerHarness(dir, { schedule, removalRetryMs: 1000, busyRetryMs: 0 });
  await h.svc.recover(op);
});

afterEach(async () => {
  h.svc.close();
  await rm(dir, { recursive: true, force: true });
});

const config = (name = 'app') => containerConfig({ metadata: { name, attempt: 0 } });

test('remove() whose teardown fails retries it with a doubling backoff until it succeeds; the removed container never counts as an image user', async () => {
  const id = await h.svc.create(op, h.pod.id, config());
  await h.svc.start(op, id);
  await h.svc.remove(op, id);
  const busy = Object.assign(new Error('umount: EBUSY'), { code: 'EIO' });
  h.rootfs.unmountFailures = [busy, busy];
  // RemoveImage's check runs the teardown now: it fails, and still the image is free.
  assert.equal(await h.svc.imageInUse(TEST_IMAGE.id), false);
  assert.ok(h.deps.records.get(id), 'the record stays until the teardown succeeds');
  assert.deepEqual(h.svc.layersInUse(), [TEST_IMAGE.topLayer], 'layers under the rootfs still mounted stay protected');
  const first = timers.filter((t) => !t.cancelled).at(-1)!;
  assert.equal(first.ms, 1000);
  first.fn();
  await h.svc.imageInUse(TEST_IMAGE.id);
  const second = timers.filter((t) => !t.cancelled).at(-1)!;
  assert.notEqual(second, first);
  assert.equal(second.ms, 2000);
  second.fn();
  await h.svc.imageInUse(TEST_IMAGE.id);
  assert.equal(h.deps.records.get(id), undefined, 'the third attempt removed it');
  assert.equal(h.rootfs.mounted.size, 0);
  assert.deepEqual(h.svc.layersInUse(), []);
});

test('remove() of a container whose rootfs stays busy detaches it lazily after the plain retries', async () => {
  const id = await h.svc.create(op, h.pod.id, config());
  const ebusy = (): Error => Object.assign(new Error('umount: EBUSY'), { code: 'EBUSY' });
  h.rootfs.unmountFailures = [ebusy(), ebusy(), ebusy(), ebusy(), ebusy()];
  await h.svc.remove(op, id);
  await h.svc.removeAllInPod(op, h.pod.id);
  assert.deepEqual(h.rootfs.unmountCalls.map((c) => c.lazy), [false, false, false, false, false, true]);
  assert.equal(h.deps.records.get(id), undefined);
  assert.equal(h.rootfs.mounted.size, 0);
});

test('recover() retries a removal it could not finish at start-up', async () => {
  const id = await h.svc.create(op, h.pod.id, config());
  await h.deps.records.tombstone(id);
  h.svc.close();
  const again = containerHarness(dir, { schedule, removalRetryMs: 1000 });
  again.runtime.failNext.set('delete', new OciRuntimeError('runc delete: timed out'));
  again.rootfs.mounted = h.rootfs.mounted;
  // A launched container: the runtime's delete is the step that fails.
  await again.deps.records.load();
  await again.deps.records.update(id, (s) => ({ ...s, pid: 4242 }));
  await again.svc.recover(op);
  assert.ok(again.deps.records.get(id), 'the failed removal is still pending');
  timers.filter((t) => !t.cancelled).at(-1)!.fn();
  await again.svc.imageInUse(TEST_IMAGE.id);
  assert.equal(again.deps.records.get(id), undefined);
  h = again;
});
