/**
 * Issue 18 items 1 and 3: events in lifecycle order, started_at from the runtime's record
 * of the start, one exit when Stop races the container's own exit. Races are staged with
 * hooks and gates of the fakes (testing.ts), never with sleeps.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerConfig } from './spec/testing.ts';
import { containerHarness, testOp as op, TEST_IMAGE, type Harness } from './testing.ts';

let dir: string;
let h: Harness;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-order-'));
  h = containerHarness(dir);
  await h.svc.recover(op);
});

afterEach(async () => {
  await h.svc.imageInUse(TEST_IMAGE.id);
  h.svc.close();
  await rm(dir, { recursive: true, force: true });
});

const config = (name = 'app') => containerConfig({ metadata: { name, attempt: 0 } });

test('start() of a container that exits before its start is recorded publishes CREATED, STARTED, STOPPED, DELETED and started_at ≤ finished_at', async () => {
  const launchedAt = 1_700_000_000_000_000_000n;
  h.runtime.startedAtNs = () => launchedAt;
  // `true`: the process ends, and conmon writes the exit file, while runc start returns.
  h.runtime.onStarted = (id) => {
    h.runtime.exit(id);
    void h.svc.handleExit({ id, exitCode: 0, exitedAt: new Date(), exitedAtNs: launchedAt + 5_000_000n });
  };
  const id = await h.svc.create(op, h.pod.id, config());
  await h.svc.start(op, id);
  await h.svc.stop(op, id, 0);
  const s = h.svc.get(id).status;
  assert.deepEqual([s.phase, s.exitCode, s.reason], ['exited', 0, 'Completed']);
  assert.equal(s.startedAt, launchedAt.toString(), 'started_at is the init process start time the runtime reported');
  assert.equal(s.finishedAt, (launchedAt + 5_000_000n).toString());
  await h.svc.remove(op, id);
  assert.deepEqual(h.events, [`created ${id}`, `started ${id}`, `stopped ${id}`, `deleted ${id}`]);
});

test('start() clamps started_at to an exit recorded earlier than the runtime\'s start time', async () => {
  h.runtime.startedAtNs = () => 2_000n;
  h.runtime.onStarted = (id) => {
    h.runtime.exit(id);
    void h.svc.handleExit({ id, exitCode: 1, exitedAt: new Date(), exitedAtNs: 1_000n });
  };
  const id = await h.svc.create(op, h.pod.id, config());
  await h.svc.start(op, id);
  await h.svc.stop(op, id, 0);
  const s = h.svc.get(id).status;
  assert.ok(BigInt(s.startedAt) <= BigInt(s.finishedAt), `${s.startedAt} > ${s.finishedAt}`);
});

test('stop() racing the container\'s own exit records one exit and publishes one STOPPED', async () => {
  let openOom = (): void => undefined;
  const oomGate = new Promise<void>((resolve) => { openOom = resolve; });
  h.svc.close();
  h = containerHarness(dir, { killWaitMs: 0, oom: { memoryCgroupOf: async () => '/cg', wasOomKilled: async () => { await oomGate; return false; } } });
  await h.svc.recover(op);
  // No exit from the kill: Stop falls back to the runtime's word while the exit file's report is being recorded.
  h.runtime.onStopped = undefined;
  const id = await h.svc.create(op, h.pod.id, config());
  await h.svc.start(op, id);
  h.runtime.exit(id);
  const fromFile = h.svc.handleExit({ id, exitCode: 0, exitedAt: new Date(), exitedAtNs: BigInt(Date.now()) * 1_000_000n });
  const stopping = h.svc.stop(op, id, 0);
  await new Promise((r) => setImmediate(r));
  openOom();
  await Promise.all([fromFile, stopping]);
  assert.deepEqual(h.events.filter((e) => e.startsWith('stopped')), [`stopped ${id}`]);
  assert.equal(h.svc.get(id).status.exitCode, 0, 'the exit the container reported itself');
});

test('removeAllInPod() during a create in flight in the pod: the create fails before its record, and nothing of it is left', async () => {
  let openMount = (): void => undefined;
  h.rootfs.mountGate = new Promise((resolve) => { openMount = resolve; });
  const creating = h.svc.create(op, h.pod.id, config());
  creating.catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  // StopPodSandbox has run (the pod is NOTREADY); RemovePodSandbox removes its containers.
  h.pod.status.phase = 'notready';
  const removing = h.svc.removeAllInPod(op, h.pod.id);
  openMount();
  await removing;
  await assert.rejects(creating, /being removed|not ready/);
  assert.deepEqual(h.svc.list(null), []);
  assert.deepEqual(h.deps.records.list(), []);
  assert.equal(h.rootfs.mounted.size, 0);
  assert.equal(h.rootfs.layers.size, 0);
});

test('stop() of a container in the pod\'s PID namespace kills what is left in its cgroup before it answers; one with its own is left to the kernel', async () => {
  const killed: string[] = [];
  h.svc.close();
  h = containerHarness(dir, { killCgroup: async (cg) => { killed.push(cg); return 1; } });
  await h.svc.recover(op);
  const shared = await h.svc.create(op, h.pod.id, config('shared'));
  const own = await h.svc.create(op, h.pod.id, config('own'));
  await writeFile(join(h.svc.get(shared).metadata.bundle, 'config.json'), JSON.stringify({ linux: { namespaces: [{ type: 'pid', path: '/proc/7/ns/pid' }] } }));
  await writeFile(join(h.svc.get(own).metadata.bundle, 'config.json'), JSON.stringify({ linux: { namespaces: [{ type: 'pid' }] } }));
  await h.svc.start(op, shared);
  await h.svc.start(op, own);
  await h.svc.stop(op, shared, 0);
  await h.svc.stop(op, own, 0);
  assert.deepEqual(killed, [h.svc.get(shared).status.memoryCgroupDir]);
});
