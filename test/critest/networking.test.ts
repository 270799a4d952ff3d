/**
 * Conformance, area "Networking": mirrors upstream critest's Networking specs (cri-tools
 * pkg/validate/networking.go) and the host-network NamespaceOption spec of its security
 * context area, driven over gRPC against the real daemon on a private CNI network.
 * Upstream serves nginx from a container and reads resolv.conf with ExecSync; these
 * specs run the listener in the pod's network namespace and read the resolv.conf the
 * pod prepared for its containers, so they do not depend on the container service or
 * an image.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/lib/exec.ts';
import { podStatusVerbose, readFromPort, startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';

const DEFAULT_DNS_SERVER = '10.10.10.10';
const DEFAULT_DNS_SEARCH = 'google.com';
const DEFAULT_DNS_OPTION = 'ndots:8';
const CONTAINER_PORT = 80;
const NAMESPACE_NODE = 2;

function metadata(prefix: string): { name: string; uid: string; namespace: string; attempt: number } {
  return { name: `${prefix}${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 };
}

describe('[k8s.io] Networking', () => {
  let pd: PodDaemon;
  let podId = '';
  let listener: ChildProcess | undefined;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);
  const runPod = async (config: Record<string, unknown>): Promise<string> => (await rc('RunPodSandbox', { config })).pod_sandbox_id as string;
  /** Stands in for upstream's nginx container: answers every connection on CONTAINER_PORT inside the pod. */
  const serveInPod = async (id: string): Promise<void> => {
    const { info } = await podStatusVerbose(pd.daemon.client, id);
    listener = spawn('nsenter', [`--net=${info.netnsPath}`, 'socat', `TCP-LISTEN:${CONTAINER_PORT},reuseaddr,fork`, 'EXEC:/bin/echo main-page'], { stdio: 'ignore' });
  };

  before(async () => {
    pd = await startPodDaemon();
  });
  after(async () => {
    await pd?.close();
  });
  afterEach(async () => {
    listener?.kill('SIGKILL');
    listener = undefined;
    if (podId === '') return;
    await rc('StopPodSandbox', { pod_sandbox_id: podId });
    await rc('RemovePodSandbox', { pod_sandbox_id: podId });
    podId = '';
  });

  describe('runtime should support networking', () => {
    it('runtime should support DNS config [Conformance]', async () => {
      podId = await runPod({
        metadata: metadata('create-PodSandbox-with-DNS-config'),
        dns_config: { servers: [DEFAULT_DNS_SERVER], searches: [DEFAULT_DNS_SEARCH], options: [DEFAULT_DNS_OPTION] },
        linux: {},
      });
      const { info } = await podStatusVerbose(pd.daemon.client, podId);
      const resolv = await readFile(join(info.runDir, 'resolv.conf'), 'utf8');
      for (const line of [`nameserver ${DEFAULT_DNS_SERVER}`, `search ${DEFAULT_DNS_SEARCH}`, `options ${DEFAULT_DNS_OPTION}`]) {
        assert.ok(resolv.includes(line), `resolv.conf should contain "${line}":\n${resolv}`);
      }
    });

    it('runtime should support set hostname [Conformance]', async () => {
      podId = await runPod({ metadata: metadata('create-PodSandbox-with-hostname'), hostname: 'test-hostname', linux: {} });
      const { info } = await podStatusVerbose(pd.daemon.client, podId);
      assert.equal((await run('nsenter', [`--uts=${info.namespaces.uts}`, 'hostname'])).stdout.trim(), 'test-hostname');
      assert.equal((await readFile(join(info.runDir, 'hostname'), 'utf8')).trim(), 'test-hostname');
    });

    it('runtime should support port mapping with only container port [Conformance]', async () => {
      podId = await runPod({ metadata: metadata('create-PodSandbox-with-port-mapping'), port_mappings: [{ container_port: CONTAINER_PORT }], linux: {} });
      await serveInPod(podId);
      const status = (await rc('PodSandboxStatus', { pod_sandbox_id: podId })).status;
      assert.ok(status.network?.ip, 'The IP should not be nil.');
      assert.equal((await readFromPort(status.network.ip as string, CONTAINER_PORT)).trim(), 'main-page');
    });

    it('runtime should support port mapping with host port and container port [Conformance]', async () => {
      // Upstream uses host port 8000; a random one keeps parallel runs on one host apart.
      const hostPort = 31000 + (randomBytes(2).readUInt16BE() % 2000);
      podId = await runPod({ metadata: metadata('create-PodSandbox-with-port-mapping'), port_mappings: [{ container_port: CONTAINER_PORT, host_port: hostPort }], linux: {} });
      await serveInPod(podId);
      assert.equal((await readFromPort('127.0.0.1', hostPort)).trim(), 'main-page');
    });
  });

  describe('NamespaceOption', () => {
    it('runtime should support HostNetwork is true', async () => {
      podId = await runPod({
        metadata: metadata('create-PodSandbox-with-host-network'),
        linux: { security_context: { namespace_options: { network: NAMESPACE_NODE } } },
      });
      const { status, info } = await podStatusVerbose(pd.daemon.client, podId);
      assert.equal(status.state, 0);
      assert.equal(status.linux.namespaces.options.network, NAMESPACE_NODE);
      assert.equal(info.netnsPath, '', 'a host-network pod has no network namespace of its own');
      assert.equal(info.namespaces.uts, undefined, 'nor a UTS namespace: it has the node hostname');
      assert.equal(status.network.ip, '', 'the kubelet reports the node IP for it');
    });

    it('runtime should support HostNetwork is false', async () => {
      podId = await runPod({ metadata: metadata('create-PodSandbox-with-pod-network'), linux: {} });
      const { info } = await podStatusVerbose(pd.daemon.client, podId);
      const podNs = (await run('nsenter', [`--net=${info.netnsPath}`, 'readlink', '/proc/self/ns/net'])).stdout.trim();
      const hostNs = `net:[${(await stat('/proc/self/ns/net')).ino}]`;
      assert.match(podNs, /^net:\[\d+\]$/);
      assert.notEqual(podNs, hostNs);
    });
  });
});
