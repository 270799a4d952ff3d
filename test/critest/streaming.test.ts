/**
 * Conformance, area "Streaming": mirrors upstream critest's streaming specs (cri-tools
 * pkg/validate/streaming.go: exec with tty=false/stdin=false and tty=true/stdin=true,
 * attach to a shell container, port-forward to a web server in the pod, and in a
 * host-network pod), over gRPC against the real daemon on a private CNI network. Upstream
 * drives client-go; these specs use the suite's own SPDY client, which speaks the same
 * protocol. Stand-ins: the registry's busybox and web (busybox httpd) images for busybox
 * and nginx; pid = CONTAINER as in the container specs.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { startCritestSuite, stopCritestSuite } from './helpers/suite.ts';
import { type RunningRegistry } from '../fixtures/registry.ts';
import { WEB_INDEX_HTML, WEB_PORT, type StandardTestImages } from '../fixtures/standard-images.ts';
import { SpdyClient, collect, openPortForward, spdyExec, upgradeSpdy } from '../support/spdy-client.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PID_CONTAINER = 1;
const NETWORK_NODE = 2;

describe('[k8s.io] Streaming', () => {
  let pd: PodDaemon;
  let registry: RunningRegistry;
  let imgs: StandardTestImages;
  let podId = '';
  let podConfig: Any;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);

  before(async () => {
    ({ pd, registry, imgs } = await startCritestSuite());
    for (const img of [imgs.busybox, imgs.web]) await rc('PullImage', { image: { image: img.reference } });
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

  async function runPod(network = 0, portMappings: Any[] = []): Promise<void> {
    podConfig = {
      metadata: { name: `sandbox-${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 },
      port_mappings: portMappings,
      linux: { security_context: { namespace_options: { pid: PID_CONTAINER, network } } },
    };
    podId = (await rc('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
  }

  async function startContainer(prefix: string, image: string, extra: Any = {}): Promise<string> {
    const config = {
      metadata: { name: `${prefix}${randomUUID()}`, attempt: 0 },
      image: { image },
      linux: { security_context: { namespace_options: podConfig.linux.security_context.namespace_options } },
      ...extra,
    };
    const id = (await rc('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig })).container_id as string;
    await rc('StartContainer', { container_id: id });
    return id;
  }

  /** Upstream's checkPortForward: the main page through a forwarded connection (retried while the server starts). */
  async function checkPortForward(port: number): Promise<void> {
    const { url } = await rc('PortForward', { pod_sandbox_id: podId, port: [port] });
    assert.ok(new URL(url).host !== '', 'the URL has a host');
    const { socket, head } = await upgradeSpdy(url, ['portforward.k8s.io']);
    const client = new SpdyClient(socket, head);
    try {
      let last = '';
      for (let i = 0; i < 50; i++) {
        const { data, error } = await openPortForward(client, port, i + 1);
        data.end('GET / HTTP/1.0\r\n\r\n');
        const [body, err] = await Promise.all([collect(data), error]);
        if (err === '' && body.toString().endsWith(WEB_INDEX_HTML)) return;
        last = err || body.toString();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`no main page through port-forward: ${last}`);
    } finally {
      socket.destroy();
    }
  }

  describe('runtime should support streaming interfaces', () => {
    it('runtime should support exec with tty=false and stdin=false [Conformance]', async () => {
      await runPod();
      const id = await startContainer('container-for-exec-test', imgs.busybox.reference, { command: ['sleep', '3600'] });
      const { url } = await rc('Exec', { container_id: id, cmd: ['echo', 'hello'], stdout: true, stderr: true });
      const r = await spdyExec(url, {});
      assert.equal(r.stdout.toString(), 'hello\n');
      assert.equal(r.stderr.toString(), '');
    });

    it('runtime should support exec with tty=true and stdin=true [Conformance]', async () => {
      await runPod();
      const id = await startContainer('container-for-exec-test', imgs.busybox.reference, { command: ['sleep', '3600'] });
      const { url } = await rc('Exec', { container_id: id, cmd: ['echo', 'hello'], stdout: true, tty: true, stdin: true });
      const r = await spdyExec(url, { tty: true, stdin: '', keepStdinOpen: true });
      assert.equal(r.stdout.toString(), 'hello\r\n');
    });

    it('runtime should support attach [Conformance]', async () => {
      await runPod();
      const id = await startContainer('container-for-attach-test', imgs.busybox.reference, { command: ['/bin/sh'], stdin: true, stdin_once: true, tty: false });
      const { url } = await rc('Attach', { container_id: id, stdin: true, stdout: true, stderr: true, tty: false });
      const r = await spdyExec(url, { stdin: 'echo hello\n' });
      assert.equal(r.stdout.toString(), 'hello\n');
      assert.equal(r.stderr.toString(), '');
    });

    it('runtime should support portforward [Conformance]', async () => {
      await runPod(0, [{ container_port: WEB_PORT }]);
      await startContainer('container-for-portforward-test', imgs.web.reference);
      await checkPortForward(WEB_PORT);
    });

    it('runtime should support portforward in host network', async () => {
      await runPod(NETWORK_NODE);
      const port = await freeLoopbackPort();
      await startContainer('container-for-host-net-portforward-test', imgs.web.reference, { command: ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/var/www'] });
      await checkPortForward(port);
    });
  });
});

async function freeLoopbackPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}
