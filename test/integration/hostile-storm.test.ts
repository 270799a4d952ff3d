/**
 * The storm of issue 12 class 6: 10,000 hostile requests spread over every RPC that takes
 * input (huge ids, NUL bytes, newlines, unknown enums, traversal in every path field, bad
 * resources, references, sysctls and ports), sent with concurrency while good calls run
 * beside them. No bad input may answer UNKNOWN or INTERNAL (those are critter's own
 * faults) or OK, and every good call must succeed. `CRITTER_TEST_STORM` overrides the count.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { hostileRequests, type HostileRequest } from './helpers/hostile-requests.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST_NS = { network: 2, pid: 1, ipc: 0 };
const STORM = Number(process.env['CRITTER_TEST_STORM'] ?? 10_000);
const CONCURRENCY = 16;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-storm-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  try {
    if (d) for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
  } finally {
    await d?.stop();
    await registry?.stop();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  }
});

function podConfig(name: string): Any {
  return { metadata: { name, namespace: 'storm', uid: `uid-${name}`, attempt: 0 }, log_directory: join(logDir, name), linux: { security_context: { namespace_options: HOST_NS } } };
}

function containerConfig(name: string): Any {
  return { metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sh', '-c', 'while true; do sleep 1; done'], log_path: `${name}.log`, linux: { security_context: { namespace_options: HOST_NS } } };
}

/** One pod with one container through its whole life; every call must succeed. */
async function goodLifecycle(round: number): Promise<void> {
  const config = podConfig(`good-${round}`);
  const pod = (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string;
  const ctr = (await d.client.call('CreateContainer', { pod_sandbox_id: pod, config: containerConfig('app'), sandbox_config: config })).container_id as string;
  await d.client.call('StartContainer', { container_id: ctr });
  const r = await d.client.call('ExecSync', { container_id: ctr, cmd: ['echo', 'ok'], timeout: 30 });
  assert.equal(Buffer.from(r.stdout).toString(), 'ok\n');
  await d.client.call('StopContainer', { container_id: ctr, timeout: 0 });
  await d.client.call('RemoveContainer', { container_id: ctr });
  await d.client.call('StopPodSandbox', { pod_sandbox_id: pod });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod });
}

test('a storm of 10,000 hostile requests gets no UNKNOWN, INTERNAL or OK, and good calls beside it all succeed', async (t) => {
  // A live pod and container, so hostile creates and updates reach past every lookup.
  const config = podConfig('target');
  const podId = (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string;
  const ctrId = (await d.client.call('CreateContainer', { pod_sandbox_id: podId, config: containerConfig('target'), sandbox_config: config })).container_id as string;
  await d.client.call('StartContainer', { container_id: ctrId });

  const requests = hostileRequests({ podId, ctrId, podConfig: config, containerConfig: containerConfig('hostile'), count: STORM });
  const byCode = new Map<string, number>();
  const wrong: string[] = [];
  let next = 0;
  let stormDone = false;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const r: HostileRequest = requests[next++]!;
      const code = await d.client.call(r.rpc, r.req, { deadlineMs: 60_000 }).then(() => Code.OK, (e: ServiceError) => e.code);
      byCode.set(Code[code], (byCode.get(Code[code]) ?? 0) + 1);
      if (code === Code.OK || code === Code.UNKNOWN || code === Code.INTERNAL || code === Code.DEADLINE_EXCEEDED) {
        if (wrong.length < 20) wrong.push(`${r.rpc} ${r.what}: ${Code[code]}`);
      }
    }
  };

  const good = { version: 0, lists: 0, lifecycles: 0 };
  const goodCalls = async (): Promise<void> => {
    while (!stormDone || good.version === 0) {
      assert.equal((await d.client.call('Version', {}, { deadlineMs: 10_000 })).runtime_name, 'critter');
      const list = (await d.client.call('ListContainers', {}, { deadlineMs: 10_000 })).containers as Any[];
      assert.ok(list.some((c) => c.id === ctrId));
      good.version++;
      good.lists++;
    }
  };
  const lifecycles = async (): Promise<void> => {
    while (!stormDone || good.lifecycles === 0) await goodLifecycle(good.lifecycles++);
  };

  const began = Date.now();
  const storm = Promise.all(Array.from({ length: CONCURRENCY }, worker)).finally(() => { stormDone = true; });
  await Promise.all([storm, goodCalls(), lifecycles()]);
  const seconds = (Date.now() - began) / 1000;

  const counts = Object.fromEntries([...byCode].sort());
  t.diagnostic(`${requests.length} hostile requests in ${seconds.toFixed(1)} s: ${JSON.stringify(counts)}`);
  t.diagnostic(`good calls beside them: ${good.version} Version, ${good.lists} ListContainers, ${good.lifecycles} pod+container lifecycles`);
  assert.equal(requests.length, STORM);
  assert.deepEqual(wrong, []);
  assert.equal([...byCode.values()].reduce((a, b) => a + b, 0), STORM);

  // Still serving, and nothing the storm sent left a trace.
  const after = (await d.client.call('ListContainers', {})).containers as Any[];
  assert.deepEqual(after.map((c) => c.id), [ctrId]);
  assert.equal((await d.client.call('ContainerStatus', { container_id: ctrId })).status.state, 1);
  assert.equal(((await d.client.call('ListPodSandbox', {})).items as Any[]).length, 1);
});
