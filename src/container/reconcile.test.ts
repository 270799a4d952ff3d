/**
 * Issue 18 item 5: the exit backstop. Process liveness is a fake the test sets, so each
 * case (conmon gone, conmon alive but silent, a healthy container) is staged exactly.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerConfig } from './spec/testing.ts';
import { containerHarness, testOp as op, TEST_IMAGE, type Harness } from './testing.ts';

let dir: string;
let h: Harness;
/** pids the fake /proc reports as running. */
let alive: Set<number>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-reconcile-'));
  alive = new Set();
  h = containerHarness(dir, { processAlive: async (pid) => alive.has(pid) });
  await h.svc.recover(op);
});

afterEach(async () => {
  await h.svc.imageInUse(TEST_IMAGE.id);
  h.svc.close();
  await rm(dir, { recursive: true, force: true });
});

async function running(name: string): Promise<string> {
  const id = await h.svc.create(op, h.pod.id, containerConfig({ metadata: { name, attempt: 0 } }));
  await h.svc.start(op, id);
  const s = h.svc.get(id).status;
  alive.add(s.pid);
  alive.add(s.conmonPid);
  return id;
}

test('reconcile() records the exit of a container whose process and conmon are gone, from the persist-dir exit file', async () => {
  const healthy = await running('healthy');
  const died = await running('died');
  const s = h.svc.get(died).status;
  alive.delete(s.pid);
  alive.delete(s.conmonPid);
  await mkdir(join(h.svc.get(died).metadata.bundle, 'persist'), { recursive: true });
  await writeFile(join(h.svc.get(died).metadata.bundle, 'persist', 'exit'), '3');
  let rescans = 0;
  await h.svc.reconcile(op, async () => { rescans++; });
  assert.equal(rescans, 1, 'the exit dir is rescanned first');
  assert.deepEqual([h.svc.get(died).status.phase, h.svc.get(died).status.exitCode], ['exited', 3]);
  assert.equal(h.svc.get(healthy).status.phase, 'running');
  assert.deepEqual(h.events.filter((e) => e.startsWith('stopped')), [`stopped ${died}`]);
});

test('reconcile() gives a live conmon two rounds to report, then records the exit as unknown', async () => {
  const id = await running('silent');
  alive.delete(h.svc.get(id).status.pid);
  await h.svc.reconcile(op);
  await h.svc.reconcile(op);
  assert.equal(h.svc.get(id).status.phase, 'running', 'conmon is about to write the exit file');
  await h.svc.reconcile(op);
  const s = h.svc.get(id).status;
  assert.deepEqual([s.phase, s.exitCode], ['exited', 255]);
  assert.match(s.message, /did not report the exit/);
});

test('reconcile() records an unknown exit and why in one update: whoever sees the exit sees the reason', async () => {
  // The observer is told of the exit right after the record changed (the events stream, ContainerStatus pollers).
  const seen: string[] = [];
  h.svc.close();
  h = containerHarness(dir, {
    processAlive: async (pid) => alive.has(pid),
    observer: { lifecycle: (event, rec) => { if (event === 'stopped') seen.push(rec.status.message); }, oomKilled: () => undefined },
  });
  await h.svc.recover(op);
  const id = await running('gone');
  alive.delete(h.svc.get(id).status.pid);
  alive.delete(h.svc.get(id).status.conmonPid);
  await h.svc.reconcile(op);
  assert.equal(h.svc.get(id).status.phase, 'exited');
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /its conmon is gone; its exit status is unknown/);
});
