/**
 * Issue 18 item 2: CreateContainer is the daemon's work, not its first caller's. A caller
 * whose deadline passes mid-create leaves it running under its own timeout; the retry joins
 * it and gets the same id. The slow step is the fake rootfs's gated mount, never a sleep.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DeadlineExceededError } from '../lib/errors.ts';
import { containerConfig } from './spec/testing.ts';
import { containerHarness, testOp as op, TEST_IMAGE, type Harness } from './testing.ts';

let dir: string;
let h: Harness;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-detached-'));
});

afterEach(async () => {
  await h.svc.imageInUse(TEST_IMAGE.id);
  h.svc.close();
  await rm(dir, { recursive: true, force: true });
});

const config = () => containerConfig({ metadata: { name: 'slow', attempt: 0 } });

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

test('ContainerService.create() goes on after its caller\'s deadline, and the retry gets the same container', async () => {
  h = containerHarness(dir);
  await h.svc.recover(op);
  const mount = gate();
  const reached = gate();
  h.rootfs.mountGate = mount.promise;
  h.rootfs.onMount = reached.open;
  const caller = new AbortController();
  const first = h.svc.create({ log: pino({ level: 'silent' }), signal: caller.signal }, h.pod.id, config());
  await reached.promise;
  caller.abort(new DOMException('CreateContainer exceeded its deadline', 'TimeoutError'));
  await assert.rejects(first, /exceeded its deadline/);
  const retry = h.svc.create(op, h.pod.id, config());
  mount.open();
  const id = await retry;
  assert.equal(h.svc.get(id).status.phase, 'created');
  assert.equal(h.rootfs.mounted.size, 1, 'one rootfs for both calls');
  assert.equal(await h.svc.create(op, h.pod.id, config()), id, 'a retry after it finished gets the same container');
  assert.deepEqual(h.svc.list(null).map((r) => r.id), [id]);
  assert.deepEqual(h.events, [`created ${id}`]);
});

test('ContainerService.create() unwinds under its own timeout, and the name is free again', async () => {
  h = containerHarness(dir, { createTimeoutMs: 50 });
  await h.svc.recover(op);
  h.rootfs.mountGate = new Promise(() => undefined);
  // AbortSignal.timeout does not hold the event loop open (the daemon's server does).
  const alive = setInterval(() => undefined, 1000);
  await assert.rejects(h.svc.create(op, h.pod.id, config()), (e: Error) => e instanceof DeadlineExceededError && /own timeout/.test(e.message))
    .finally(() => clearInterval(alive));
  assert.equal(h.rootfs.mounted.size, 0);
  assert.deepEqual(h.svc.list(null), []);
  h.rootfs.mountGate = Promise.resolve();
  assert.match(await h.svc.create(op, h.pod.id, config()), /^[0-9a-f]{64}$/);
});
