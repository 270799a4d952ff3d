/**
 * Conformance, stats: mirrors upstream critest's stats specs (cri-tools
 * pkg/validate/container.go "runtime should support ContainerStats / ListContainerStats",
 * and the pod sandbox stats checks): attributes name the container, and the cpu, memory
 * and writable-layer usages carry non-zero timestamps. Same setup as the container area:
 * busybox from a local registry, a private CNI network, pid = CONTAINER.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { startCritestSuite, stopCritestSuite } from './helpers/suite.ts';
import { type RunningRegistry } from '../fixtures/registry.ts';
import { type StandardTestImages } from '../fixtures/standard-images.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('[k8s.io] Container stats', () => {
  let pd: PodDaemon;
  let registry: RunningRegistry;
  let imgs: StandardTestImages;
  let podId = '';
  let podConfig: Any;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);

  before(async () => {
    ({ pd, registry, imgs } = await startCritestSuite({ configYaml: 'stats:\n  sample_period_seconds: 1\n' }));
    await rc('PullImage', { image: { image: imgs.busybox.reference } });
  });
  after(async () => {
    await stopCritestSuite({ pd, registry });
  });
  afterEach(async () => {
    if (podId === '') return;
    await rc('StopPodSandbox', { pod_sandbox_id: podId });
    await rc('RemovePodSandbox', { pod_sandbox_id: podId });
    podId = '';
  });

  async function runPod(): Promise<string> {
    podConfig = {
      metadata: { name: `sandbox-${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 },
      labels: { 'cri-test': 'stats' },
      linux: { security_context: { namespace_options: { pid: 1 } } },
    };
    podId = (await rc('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
    return podId;
  }

  async function runContainer(prefix: string, labels: Record<string, string> = {}): Promise<string> {
    const config = {
      metadata: { name: `${prefix}-${randomUUID()}`, attempt: 0 },
      image: { image: imgs.busybox.reference },
      command: ['sh', '-c', 'top'],
      labels,
      linux: { security_context: { namespace_options: { pid: 1 } } },
    };
    const id = (await rc('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig })).container_id as string;
    await rc('StartContainer', { container_id: id });
    return id;
  }

  function expectContainerStats(s: Any, id: string): void {
    assert.equal(s.attributes.id, id);
    assert.ok(s.attributes.metadata.name.length > 0);
    assert.notEqual(s.cpu.timestamp, '0');
    assert.notEqual(s.memory.timestamp, '0');
    assert.notEqual(s.writable_layer.timestamp, '0');
    assert.ok(s.writable_layer.fs_id.mountpoint.length > 0);
  }

  it('runtime should support ContainerStats [Conformance]', async () => {
    await runPod();
    const id = await runContainer('container-for-stats');
    const { stats } = await rc('ContainerStats', { container_id: id });
    expectContainerStats(stats, id);
  });

  it('runtime should support ListContainerStats [Conformance]', async () => {
    await runPod();
    const id = await runContainer('container-for-list-stats');
    const all = (await rc('ListContainerStats', {})).stats as Any[];
    const mine = all.find((s) => s.attributes.id === id);
    assert.ok(mine, 'the container is listed');
    expectContainerStats(mine, id);
  });

  it('runtime should support ListContainerStats with filter [Conformance]', async () => {
    await runPod();
    const a = await runContainer('filter-a', { which: 'a' });
    const b = await runContainer('filter-b', { which: 'b' });
    const byId = (await rc('ListContainerStats', { filter: { id: a } })).stats as Any[];
    assert.deepEqual(byId.map((s) => s.attributes.id), [a]);
    const byLabel = (await rc('ListContainerStats', { filter: { label_selector: { which: 'b' } } })).stats as Any[];
    assert.deepEqual(byLabel.map((s) => s.attributes.id), [b]);
    const byPod = (await rc('ListContainerStats', { filter: { pod_sandbox_id: podId } })).stats as Any[];
    assert.deepEqual(byPod.map((s) => s.attributes.id).sort(), [a, b].sort());
  });

  it('runtime should support PodSandboxStats and ListPodSandboxStats', async () => {
    await runPod();
    const id = await runContainer('container-for-pod-stats');
    const { stats } = await rc('PodSandboxStats', { pod_sandbox_id: podId });
    assert.equal(stats.attributes.id, podId);
    assert.deepEqual(stats.attributes.labels, podConfig.labels);
    assert.deepEqual(stats.linux.containers.map((c: Any) => c.attributes.id), [id]);
    const listed = (await rc('ListPodSandboxStats', { filter: { id: podId } })).stats as Any[];
    assert.deepEqual(listed.map((s) => s.attributes.id), [podId]);
  });
});
