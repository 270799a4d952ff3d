/**
 * Conformance, area "Security Context" / NamespaceOption: mirrors upstream critest's
 * "runtime should support PodPID" and "runtime should support ContainerPID" (cri-tools
 * pkg/validate/security_context_linux.go), over gRPC against the real daemon on a private
 * CNI network. Upstream runs nginx and checks that PID 1 of the container is not nginx's
 * "master process" (pid = POD: PID 1 is the pod's infra process) or is (pid = CONTAINER);
 * offline, a busybox `sleep` with a recognisable argument stands in for nginx. One spec
 * more than upstream: two containers of one pid = POD pod see each other's processes.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { startCritestSuite, stopCritestSuite } from './helpers/suite.ts';
import { type RunningRegistry } from '../fixtures/registry.ts';
import { type StandardTestImages } from '../fixtures/standard-images.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CONTAINER_RUNNING = 1;
const NAMESPACE_POD = 0;
const NAMESPACE_CONTAINER = 1;
/** Stands in for nginx's "master process" command line. */
const WORKLOAD = ['sleep', '3601'];

describe('[k8s.io] Security Context NamespaceOption', () => {
  let pd: PodDaemon;
  let registry: RunningRegistry;
  let imgs: StandardTestImages;
  let podId = '';
  let podConfig: Any;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);

  before(async () => {
    ({ pd, registry, imgs } = await startCritestSuite());
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

  /** upstream createNamespacePodSandbox: only the pid mode is set (network and ipc stay POD). */
  async function createNamespacePodSandbox(pid: number): Promise<void> {
    podConfig = {
      metadata: { name: `sandbox-${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 },
      linux: { security_context: { namespace_options: { pid } } },
    };
    podId = (await rc('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
  }

  async function startNamespaceContainer(prefix: string, pid: number, command: string[]): Promise<string> {
    const config = {
      metadata: { name: `${prefix}${randomUUID()}`, attempt: 0 },
      image: { image: imgs.busybox.reference },
      command,
      linux: { security_context: { namespace_options: { pid } } },
    };
    const id = (await rc('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig })).container_id as string;
    await rc('StartContainer', { container_id: id });
    assert.equal((await rc('ContainerStatus', { container_id: id })).status.state, CONTAINER_RUNNING);
    return id;
  }

  async function execSync(id: string, cmd: string[]): Promise<string> {
    const r = await rc('ExecSync', { container_id: id, cmd, timeout: 10 });
    assert.equal(r.exit_code, 0, `${cmd.join(' ')} failed: ${Buffer.from(r.stderr).toString()}`);
    return Buffer.from(r.stdout).toString();
  }

  const cmdlineOfPid1 = async (id: string): Promise<string> => (await execSync(id, ['cat', '/proc/1/cmdline'])).split('\0').join(' ').trim();

  it('runtime should support PodPID', async () => {
    await createNamespacePodSandbox(NAMESPACE_POD);
    const id = await startNamespaceContainer('nginx-container-process-namespace-', NAMESPACE_POD, WORKLOAD);
    const pid1 = await cmdlineOfPid1(id);
    assert.notEqual(pid1, WORKLOAD.join(' '), 'with pid = POD, PID 1 is the pod infra process, not the workload');
    assert.notEqual(pid1, '');
  });

  it('runtime should support ContainerPID', async () => {
    await createNamespacePodSandbox(NAMESPACE_CONTAINER);
    const id = await startNamespaceContainer('nginx-container-pid-', NAMESPACE_CONTAINER, WORKLOAD);
    assert.equal(await cmdlineOfPid1(id), WORKLOAD.join(' '), 'with pid = CONTAINER, the workload is PID 1');
  });

  it('containers in a pod with pid = POD see each other\'s processes', async () => {
    await createNamespacePodSandbox(NAMESPACE_POD);
    const first = await startNamespaceContainer('first-', NAMESPACE_POD, WORKLOAD);
    const second = await startNamespaceContainer('second-', NAMESPACE_POD, ['sleep', '3602']);
    assert.match(await execSync(second, ['ps', '-o', 'args']), /^sleep 3601$/m);
    assert.match(await execSync(first, ['ps', '-o', 'args']), /^sleep 3602$/m);
  });
});
