/**
 * GetContainerEvents end to end (cri-api.md item 30): every subscriber gets every event
 * of a container's lifecycle, in order, with the pod status and container statuses, and a
 * subscriber that never reads holds up neither the others nor the runtime.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, waitForMetric, type RunningDaemon } from './helpers/daemon.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CREATED_EVENT = 0;
const STARTED_EVENT = 1;
const STOPPED_EVENT = 2;
const DELETED_EVENT = 3;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
const open: ClientReadableStream<Any>[] = [];

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  for (const s of open) s.cancel();
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
});

/** A subscriber collecting what it receives. */
function subscribe(): { events: Any[]; stream: ClientReadableStream<Any> } {
  const stream = d.client.open('GetContainerEvents', {});
  open.push(stream);
  const events: Any[] = [];
  stream.on('data', (e: Any) => events.push(e));
  stream.on('error', () => undefined);
  return { events, stream };
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hostNs = { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } };

async function lifecycle(podName: string): Promise<{ podId: string; id: string }> {
  const podConfig = { metadata: { name: podName, namespace: 'events', uid: `uid-${podName}`, attempt: 0 }, linux: hostNs };
  const { pod_sandbox_id: podId } = await d.client.call('RunPodSandbox', { config: podConfig });
  const config = { metadata: { name: 'c', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sleep', '3600'], linux: hostNs };
  const { container_id: id } = await d.client.call('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig });
  await d.client.call('StartContainer', { container_id: id });
  await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  await d.client.call('RemoveContainer', { container_id: id });
  return { podId, id };
}

test('GetContainerEvents() gives two subscribers CREATED, STARTED, STOPPED, DELETED in order, with statuses', async () => {
  const a = subscribe();
  const b = subscribe();
  await waitForMetric(d, 'critter_container_event_subscribers', 2);
  const { podId, id } = await lifecycle('two-subs');
  for (const sub of [a, b]) {
    await waitFor('4 events', () => sub.events.filter((e) => e.container_id === id).length >= 4);
    const mine = sub.events.filter((e) => e.container_id === id);
    assert.deepEqual(mine.map((e) => e.container_event_type), [CREATED_EVENT, STARTED_EVENT, STOPPED_EVENT, DELETED_EVENT]);
    for (const e of mine) {
      assert.equal(e.pod_sandbox_status.id, podId);
      assert.ok(BigInt(e.created_at) > 0n);
    }
    const states = mine.slice(0, 3).map((e) => e.containers_statuses.find((s: Any) => s.id === id)?.state);
    assert.deepEqual(states, [0, 1, 2], 'CREATED, RUNNING, EXITED statuses');
    assert.equal(mine[3]!.containers_statuses.some((s: Any) => s.id === id), false, 'a deleted container is no longer listed');
  }
  a.stream.cancel();
  b.stream.cancel();
  await waitForMetric(d, 'critter_container_event_subscribers', 0);
});

test('GetContainerEvents(): a subscriber that never reads blocks neither the RPCs nor another subscriber', async () => {
  const stuck = d.client.open('GetContainerEvents', {});
  open.push(stuck);
  stuck.on('error', () => undefined);
  stuck.pause();
  const live = subscribe();
  // Both are subscribed (the first test's two have ended): the stuck one really is there.
  await waitForMetric(d, 'critter_container_event_subscribers', 2);
  const started = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await lifecycle(`stuck-${i}`)).id);
  const elapsed = Date.now() - started;
  await waitFor('every event at the live subscriber', () => ids.every((id) => live.events.filter((e) => e.container_id === id).length === 4));
  assert.ok(elapsed < 30_000, `5 lifecycles took ${elapsed} ms`);
  const status = await d.client.call('Status', {}, { deadlineMs: 2000 });
  assert.ok(status.status.conditions.length > 0);
});
