/**
 * Interoperability with a real client-go: `crictl exec`, `crictl attach` and
 * `crictl port-forward` (SPDY and WebSocket transports) against the daemon. Skipped, with
 * the reason, when no crictl ≥ 1.31 is on PATH (older ones send the socket path as the
 * HTTP/2 authority, which Node's HTTP/2 refuses).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAllowFailure, type ExecResult } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, WEB_INDEX_HTML, WEB_PORT, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startPodDaemon, podSandboxConfig, type PodDaemon } from './helpers/pod-network.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NODE = 2;

async function crictlVersion(): Promise<[number, number] | null> {
  const r = await runAllowFailure('crictl', ['--version'], { timeoutMs: 10_000 }).catch(() => null);
  const m = r ? /(\d+)\.(\d+)\.\d+/.exec(r.stdout) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

const version = await crictlVersion();
const skip = version === null ? 'crictl is not on PATH' : version[0] === 1 && version[1] < 31 ? `crictl ${version.join('.')} is older than 1.31` : false;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let confDir: string;
let hostPod: { id: string; config: Any };
let sleeper: string;
let seq = 0;

function crictl(args: string[], input?: string): Promise<ExecResult> {
  const endpoint = `unix://${pd.daemon.dirs.socket}`;
  return runAllowFailure('crictl', ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '20s', ...args], { input, timeoutMs: 30_000 });
}

async function runContainer(pod: { id: string; config: Any }, image: string, extra: Any = {}): Promise<string> {
  const hostNet = pod.config.linux?.security_context?.namespace_options?.network === NODE;
  const config = { metadata: { name: `cc${++seq}`, attempt: 0 }, image: { image }, linux: { security_context: { namespace_options: { network: hostNet ? NODE : 0, pid: 1 } } }, ...extra };
  const { container_id: id } = await pd.daemon.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await pd.daemon.client.call('StartContainer', { container_id: id });
  return id as string;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

before(async () => {
  if (skip) return;
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  confDir = await mkdtemp(join(tmpdir(), 'critter-crictl-conf-'));
  const conf = join(confDir, 'registries.conf');
  await writeFile(conf, registriesConfText(registry.host));
  pd = await startPodDaemon({ extraArgs: ['--registries-conf', conf] });
  for (const img of [imgs.busybox, imgs.web]) await pd.daemon.client.call('PullImage', { image: { image: img.reference } });
  const { pod_sandbox_id: id } = await pd.daemon.client.call('RunPodSandbox', { config: podSandboxConfig('crictl-host', { linux: { security_context: { namespace_options: { network: NODE } } } }) });
  hostPod = { id, config: podSandboxConfig('crictl-host', { linux: { security_context: { namespace_options: { network: NODE } } } }) };
  sleeper = await runContainer(hostPod, imgs.busybox.reference, { command: ['sleep', '1000'] });
});

after(async () => {
  if (pd) {
    for (const c of (await pd.daemon.client.call('ListContainers', {})).containers as Any[]) {
      await pd.daemon.client.call('StopContainer', { container_id: c.id, timeout: 0 }).catch(() => undefined);
      await pd.daemon.client.call('RemoveContainer', { container_id: c.id }).catch(() => undefined);
    }
    await pd.close();
  }
  await registry?.stop();
  if (confDir) await rm(confDir, { recursive: true, force: true });
});

for (const transport of ['spdy', 'websocket']) {
  test(`crictl exec --transport ${transport}: output, stderr and the exit code`, { skip }, async () => {
    const r = await crictl(['exec', '--transport', transport, sleeper, 'sh', '-c', 'echo hi; echo err >&2; exit 3']);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, /err\n/);
    // crictl reports the code in words and exits 1 (cri-tools exec.go: logrus.Fatal).
    assert.match(r.stderr, /command terminated with exit code 3/);
    assert.notEqual(r.exitCode, 0);
  });

  test(`crictl exec -i --transport ${transport}: stdin reaches cat`, { skip }, async () => {
    const r = await crictl(['exec', '-i', '--transport', transport, sleeper, 'sh', '-c', 'cat; echo done'], 'a\nb\n');
    assert.equal(r.stdout, 'a\nb\ndone\n', r.stderr);
    assert.equal(r.exitCode, 0);
  });
}

test('crictl attach -i: a stdin-once container gets the input, then its stdin closes', { skip }, async () => {
  const id = await runContainer(hostPod, imgs.busybox.reference, { command: ['sh', '-c', 'while read l; do echo out:$l; done; echo bye'], stdin: true, stdin_once: true });
  const r = await crictl(['attach', '-i', id], 'one\ntwo\n');
  assert.equal(r.stdout, 'out:one\nout:two\nbye\n', r.stderr);
});

for (const transport of ['spdy', 'websocket']) {
  test(`crictl port-forward --transport ${transport}: the web page through a local port`, { skip }, async () => {
    const config = podSandboxConfig(`crictl-web-${transport}`);
    const { pod_sandbox_id: podId } = await pd.daemon.client.call('RunPodSandbox', { config });
    await runContainer({ id: podId, config }, imgs.web.reference);
    const local = await freePort();
    const endpoint = `unix://${pd.daemon.dirs.socket}`;
    const child = spawn('crictl', ['--runtime-endpoint', endpoint, 'port-forward', '--transport', transport, podId, `${local}:${WEB_PORT}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    try {
      const deadline = Date.now() + 10_000;
      while (!output.includes('Forwarding from')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`crictl port-forward did not start: ${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      let body = '';
      for (let i = 0; i < 40 && body !== WEB_INDEX_HTML; i++) {
        body = await httpGet(local).catch(() => '');
        if (body !== WEB_INDEX_HTML) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(body, WEB_INDEX_HTML, output);
      const pages = await Promise.all([1, 2, 3].map(() => httpGet(local)));
      assert.deepEqual(pages, [WEB_INDEX_HTML, WEB_INDEX_HTML, WEB_INDEX_HTML]);
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  });
}
