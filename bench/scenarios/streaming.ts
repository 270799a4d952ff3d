/**
 * Streaming cost (issue "Streaming", benchmark item): exec round-trip latency, i.e. the
 * Exec RPC plus a whole SPDY/3.1 session running `true` (upgrade, streams, runtime exec,
 * exit status), and port-forward throughput: a 64 MiB HTTP GET from busybox httpd in a
 * pod on a CNI network, through PortForward's SPDY tunnel, in MB/s. Works against any CRI
 * endpoint (the client is the test suite's own SPDY client), so `--compare` gives
 * containerd's figures on the same machine. The compared runtime needs a CNI network
 * (`--compare-cni-conf-dir` writes one into its conf dir) and pulls busybox from the run's
 * own registry on 127.0.0.1 over plain HTTP. A containerd 1.6 started just for a run needs
 * `restrict_oom_score_adj = true` in its CRI config when root lacks CAP_SYS_RESOURCE, a
 * `stream_server_port = "0"`, and its sandbox image imported offline (any static pause
 * binary, e.g. `catatonit -P`, in an OCI image tagged as its `sandbox_image`).
 */
import { randomBytes } from 'node:crypto';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { startRegistry, type RunningRegistry } from '../../test/fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../../test/fixtures/standard-images.ts';
import { registriesConfText } from '../../test/fixtures/registries-conf.ts';
import { SpdyClient, openPortForward, spdyExec, upgradeSpdy } from '../../test/support/spdy-client.ts';
import { PerEndpoint, quantile, type Scenario, type Timer } from '../harness.ts';
import { waitForNetworkReady } from './workload.ts';

const BULK_BYTES = 64 * 1024 * 1024;
const BULK_PORT = 8080;
/**
 * Port-forward iterations are bulk transfers: at most this many timed ones per endpoint over
 * the whole run (interleaved rounds included), so a 200-iteration run stays short.
 */
const MAX_BULK_ITERATIONS = 8;

interface Target {
  podId: string;
  containerId: string;
  /** Throughput of each transfer since beginTimed(), MB/s. */
  rates: number[];
}

/**
 * GET of the bulk file through one port-forward connection; resolves with the bytes received
 * and the seconds from the request to the last byte (the error stream's close, which may
 * come up to the runtime's half-close grace later, is not part of the transfer).
 */
async function forwardOnce(client: CriClient, podId: string): Promise<{ bytes: number; seconds: number }> {
  const { url } = await client.call('PortForward', { pod_sandbox_id: podId, port: [BULK_PORT] });
  const { socket, head } = await upgradeSpdy(url as string, ['portforward.k8s.io']);
  const spdy = new SpdyClient(socket, head);
  try {
    const { data, error } = await openPortForward(spdy, BULK_PORT, 1);
    let n = 0;
    data.on('data', (d: Buffer) => { n += d.length; });
    const t0 = process.hrtime.bigint();
    data.write('GET /big HTTP/1.0\r\n\r\n');
    await new Promise<void>((resolve) => { data.once('end', resolve); data.once('close', resolve); });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    data.end();
    const err = await error;
    if (err !== '') throw new Error(`port-forward failed: ${err}`);
    return { bytes: n, seconds };
  } finally {
    socket.destroy();
  }
}

class StreamingBenchmark implements Scenario {
  readonly name = 'streaming';
  readonly describe = 'Exec + SPDY session of `true` (round trip), and a 64 MiB GET through PortForward (MB/s)';
  #registry: RunningRegistry | undefined;
  #images: StandardTestImages | undefined;
  readonly #targets = new PerEndpoint<Target>('streaming');

  async beforeDaemon(): Promise<{ registriesConf: string; close(): Promise<void> }> {
    this.#registry = await startRegistry();
    this.#images = await standardTestImages(this.#registry);
    const registry = this.#registry;
    return { registriesConf: registriesConfText(registry.host), close: () => registry.stop() };
  }

  async setup(client: CriClient): Promise<void> {
    if (!this.#images) throw new Error('the streaming scenario needs run.ts to call beforeDaemon() first');
    await waitForNetworkReady(client);
    const image = this.#images.busybox.reference;
    await client.call('PullImage', { image: { image } });
    const name = `bench-stream-${randomBytes(3).toString('hex')}`;
    const podConfig = {
      metadata: { name, namespace: 'critter-bench', uid: `uid-${name}`, attempt: 0 },
      linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } },
    };
    const { pod_sandbox_id: podId } = await client.call('RunPodSandbox', { config: podConfig }, { deadlineMs: 120_000 });
    const config = {
      metadata: { name: 'bulk', attempt: 0 },
      image: { image },
      command: ['sh', '-c', `mkdir -p /srv && head -c ${BULK_BYTES} /dev/zero > /srv/big && exec httpd -f -p ${BULK_PORT} -h /srv`],
      linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } },
    };
    const { container_id: containerId } = await client.call('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig });
    await client.call('StartContainer', { container_id: containerId });
    this.#targets.set(client, { podId: podId as string, containerId: containerId as string, rates: [] });
    // httpd starts once the file is written.
    for (let i = 0; i < 100; i++) {
      const r = await forwardOnce(client, podId as string).catch(() => ({ bytes: 0 }));
      if (r.bytes >= BULK_BYTES) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    const target = this.#targets.get(client);
    for (let i = 0; i < iterations; i++) {
      await time('Exec true (RPC + SPDY session)', async () => {
        const { url } = await time('Exec RPC', () => client.call('Exec', { container_id: target.containerId, cmd: ['true'], stdout: true, stderr: true }));
        const r = await spdyExec(url as string, {});
        if (!r.status.includes('Success')) throw new Error(`exec failed: ${r.status}`);
      });
    }
    const transfers = Math.min(iterations, MAX_BULK_ITERATIONS - target.rates.length);
    for (let i = 0; i < transfers; i++) {
      const { bytes, seconds } = await time('port-forward GET 64 MiB (whole connection)', () => forwardOnce(client, target.podId));
      if (bytes < BULK_BYTES) throw new Error(`port-forward returned ${bytes} of ${BULK_BYTES} bytes`);
      target.rates.push(bytes / 1e6 / seconds);
    }
  }

  beginTimed(client: CriClient): void {
    this.#targets.get(client).rates = [];
  }

  summary(client: CriClient): string | undefined {
    const rates = this.#targets.get(client).rates;
    if (rates.length === 0) return undefined;
    return `port-forward throughput MB/s: p50 ${quantile(rates, 0.5).toFixed(1)}, min ${Math.min(...rates).toFixed(1)}, max ${Math.max(...rates).toFixed(1)} (${rates.length} × 64 MiB)`;
  }

  async teardown(client: CriClient): Promise<void> {
    const target = this.#targets.take(client);
    if (!target) return;
    await client.call('StopPodSandbox', { pod_sandbox_id: target.podId }).catch(() => undefined);
    await client.call('RemovePodSandbox', { pod_sandbox_id: target.podId }).catch(() => undefined);
  }
}

export const streaming = new StreamingBenchmark();
