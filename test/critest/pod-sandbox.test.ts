/**
 * Conformance, area "PodSandbox": mirrors upstream critest's PodSandbox specs
 * (cri-tools pkg/validate/pod.go and pod_linux.go), driven over gRPC against the real
 * daemon on a private CNI network. Upstream checks sysctls from inside a container with
 * ExecSync; these specs read them in the pod's pinned namespaces instead (the namespaces
 * every container of the pod joins), so they do not depend on the container service.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { run } from '../../src/lib/exec.ts';
import { podStatusVerbose, startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';

const SANDBOX_READY = 0;
const SANDBOX_NOTREADY = 1;

/** framework.BuildPodSandboxMetadata with the framework's uid and namespace prefixes. */
function metadata(prefix: string): { name: string; uid: string; namespace: string; attempt: number } {
  return { name: `${prefix}${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 };
}

describe('[k8s.io] PodSandbox', () => {
  let pd: PodDaemon;
  let podId = '';
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);
  const runDefault = async (prefix: string): Promise<string> =>
    (await rc('RunPodSandbox', { config: { metadata: metadata(prefix), linux: {} } })).pod_sandbox_id as string;
  const listForId = async (id: string): Promise<Array<Record<string, any>>> => (await rc('ListPodSandbox', { filter: { id } })).items; // eslint-disable-line @typescript-eslint/no-explicit-any
  const state = async (id: string): Promise<number> => (await rc('PodSandboxStatus', { pod_sandbox_id: id })).status.state as number;

  before(async () => {
    pd = await startPodDaemon();
  });
  after(async () => {
    await pd?.close();
  });
  afterEach(async () => {
    if (podId === '') return;
    await rc('StopPodSandbox', { pod_sandbox_id: podId });
    await rc('RemovePodSandbox', { pod_sandbox_id: podId });
    podId = '';
  });

  describe('runtime should support basic operations on PodSandbox', () => {
    it('runtime should support running PodSandbox [Conformance]', async () => {
      podId = await runDefault('PodSandbox-for-create-test-');
      assert.equal(await state(podId), SANDBOX_READY, 'PodSandbox state should be ready');
      assert.ok((await listForId(podId)).some((p) => p.id === podId), 'PodSandbox should be listed');
    });

    it('runtime should support stopping PodSandbox [Conformance]', async () => {
      podId = await runDefault('PodSandbox-for-test-stop-');
      await rc('StopPodSandbox', { pod_sandbox_id: podId });
      assert.equal(await state(podId), SANDBOX_NOTREADY, 'PodSandbox state should be not ready');
    });

    it('runtime should support removing PodSandbox [Conformance]', async () => {
      const id = await runDefault('PodSandbox-for-test-remove-');
      await rc('StopPodSandbox', { pod_sandbox_id: id });
      await rc('RemovePodSandbox', { pod_sandbox_id: id });
      assert.ok(!(await listForId(id)).some((p) => p.id === id), 'PodSandbox should be removed');
    });

    it('runtime should support preserving PodSandbox attributes [Conformance]', async () => {
      const md = metadata('PodSandbox-with-attributes-');
      const labels = {
        foo: 'bar',
        'io.kubernetes.pod.name': md.name,
        'io.kubernetes.pod.namespace': md.namespace,
        'io.kubernetes.pod.uid': md.uid,
      };
      const annotations = { abc: 'def' };
      podId = (await rc('RunPodSandbox', { config: { metadata: md, labels, annotations, linux: { cgroup_parent: '' } } })).pod_sandbox_id as string;
      const status = (await rc('PodSandboxStatus', { pod_sandbox_id: podId })).status;
      assert.deepEqual(status.metadata, md);
      assert.deepEqual(status.labels, labels);
      assert.deepEqual(status.annotations, annotations);
      const pods = await listForId(podId);
      assert.equal(pods.length, 1);
      assert.deepEqual(pods[0]!.metadata, md);
      assert.deepEqual(pods[0]!.labels, labels);
      assert.deepEqual(pods[0]!.annotations, annotations);
    });
  });

  describe('runtime should support sysctls', () => {
    const runWithSysctls = async (sysctls: Record<string, string>): Promise<string> =>
      (await rc('RunPodSandbox', { config: { metadata: metadata('pod-sandbox-with-sysctls-'), linux: { sysctls } } })).pod_sandbox_id as string;
    const readIn = async (id: string, kind: 'net' | 'ipc', path: string): Promise<string> => {
      const { info } = await podStatusVerbose(pd.daemon.client, id);
      const nsFile = info.namespaces[kind];
      assert.ok(nsFile, `the pod has its own ${kind} namespace`);
      return (await run('nsenter', [`--${kind}=${nsFile}`, 'cat', path])).stdout.trim();
    };

    it('should support safe sysctls', async () => {
      podId = await runWithSysctls({ 'kernel.shm_rmid_forced': '1' });
      assert.equal(await readIn(podId, 'ipc', '/proc/sys/kernel/shm_rmid_forced'), '1');
    });

    it('should support unsafe sysctls', async () => {
      podId = await runWithSysctls({ 'fs.mqueue.msg_max': '100' });
      assert.equal(await readIn(podId, 'ipc', '/proc/sys/fs/mqueue/msg_max'), '100');
    });

    it('should support network sysctls in the pod network namespace', async () => {
      podId = await runWithSysctls({ 'net.ipv4.ip_local_port_range': '20000 20100' });
      assert.equal((await readIn(podId, 'net', '/proc/sys/net/ipv4/ip_local_port_range')).replace(/\s+/g, ' '), '20000 20100');
    });
  });
});
