/**
 * Exec, Attach and PortForward end to end: the real daemon (gRPC → URL → streaming server →
 * runc exec / conmon attach socket / a dial in the pod's netns) with containers from images
 * pulled from a real registry, driven by the suite's own SPDY and WebSocket clients.
 * Exec/attach use a host-network pod; port-forward uses a pod on a private CNI network.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, WEB_INDEX_HTML, WEB_PORT, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startPodDaemon, podSandboxConfig, type PodDaemon } from './helpers/pod-network.ts';
import type { CriClient } from './helpers/cri-client.ts';
import { SpdyClient, UpgradeRefusedError, collect, openPortForward, spdyExec, upgradeSpdy } from '../support/spdy-client.ts';
import { wsExec } from '../support/ws-client.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SUCCESS = '{"metadata":{},"status":"Success"}';
const RUNNING = 1;
const EXITED = 2;
const NODE = 2;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let client: CriClient;
let hostPod: { id: string; config: Any };
let sleeper: string;
let seq = 0;
let confDir: string | undefined;

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

async function runPod(hostNetwork: boolean): Promise<{ id: string; config: Any }> {
  const config = podSandboxConfig(`stream${++seq}`, hostNetwork ? { linux: { security_context: { namespace_options: { network: NODE } } } } : {});
  const r = await client.call('RunPodSandbox', { config });
  return { id: r.pod_sandbox_id as string, config };
}

async function runContainer(pod: { id: string; config: Any }, image: string, extra: Any = {}): Promise<string> {
  const hostNet = pod.config.linux?.security_context?.namespace_options?.network === NODE;
  const config = {
    metadata: { name: `c${++seq}`, attempt: 0 },
    image: { image },
    linux: { security_context: { namespace_options: { network: hostNet ? NODE : 0, pid: 1 } } },
    ...extra,
  };
  const { container_id: id } = await client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await client.call('StartContainer', { container_id: id });
  return id as string;
}

async function state(id: string): Promise<number> {
  return (await client.call('ContainerStatus', { container_id: id })).status.state as number;
}

async function waitFor(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function execUrl(id: string, cmd: string[], o: { tty?: boolean; stdin?: boolean } = {}): Promise<string> {
  const r = await client.call('Exec', { container_id: id, cmd, tty: o.tty ?? false, stdin: o.stdin ?? false, stdout: true, stderr: !o.tty });
  return r.url as string;
}

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  confDir = await mkdtemp(join(tmpdir(), 'critter-stream-conf-'));
  const conf = join(confDir, 'registries.conf');
  await writeFile(conf, registriesConfText(registry.host));
  pd = await startPodDaemon({ extraArgs: ['--registries-conf', conf] });
  client = pd.daemon.client;
  for (const img of [imgs.busybox, imgs.web]) await client.call('PullImage', { image: { image: img.reference } });
  hostPod = await runPod(true);
  sleeper = await runContainer(hostPod, imgs.busybox.reference, { command: ['sleep', '1000'] });
});

after(async () => {
  if (pd) {
    for (const c of (await client.call('ListContainers', {})).containers as Any[]) {
      await client.call('StopContainer', { container_id: c.id, timeout: 0 }).catch(() => undefined);
      await client.call('RemoveContainer', { container_id: c.id }).catch(() => undefined);
    }
    await pd.close();
  }
  await registry?.stop();
  if (confDir) await rm(confDir, { recursive: true, force: true });
});

test('Exec returns a URL on the loopback streaming server; stdout, stderr and exit code 3 arrive apart', async () => {
  const url = await execUrl(sleeper, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[\w-]+$/);
  const r = await spdyExec(url, {});
  assert.equal(r.protocol, 'v4.channel.k8s.io');
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.match(r.status, /"reason":"NonZeroExitCode".*"causes":\[\{"reason":"ExitCode","message":"3"\}\]/);
});

test('Exec with stdin pipes it to cat; the URL token is single use (404 the second time)', async () => {
  const url = await execUrl(sleeper, ['cat'], { stdin: true });
  const r = await spdyExec(url, { stdin: 'through cat\n' });
  assert.equal(r.stdout.toString(), 'through cat\n');
  assert.equal(r.status, SUCCESS);
  await assert.rejects(upgradeSpdy(url, ['v4.channel.k8s.io']), (e: unknown) => e instanceof UpgradeRefusedError && e.status === 404);
});

test('Exec with a TTY: stty size follows the resize stream', async () => {
  const url = await execUrl(sleeper, ['sh', '-c', 'sleep 0.5; stty size'], { tty: true, stdin: true });
  const r = await spdyExec(url, { tty: true, stdin: '', keepStdinOpen: true, resizes: [{ Width: 90, Height: 25 }, { Width: 120, Height: 33 }] });
  assert.equal(r.stdout.toString(), '33 120\r\n');
  assert.equal(r.status, SUCCESS);
});

test('Exec over WebSocket v5: stdin with the CLOSE signal reaches cat, status comes last', async () => {
  const url = await execUrl(sleeper, ['sh', '-c', 'cat; exit 2'], { stdin: true });
  const r = await wsExec(url, { stdin: 'ws-input\n', closeStdin: true });
  assert.equal(r.protocol, 'v5.channel.k8s.io');
  assert.equal(r.stdout, 'ws-input\n');
  assert.match(r.status, /"message":"2"/);
  assert.equal(r.order.at(-1), 3);
});

test('Exec/Attach errors: unknown container NOT_FOUND, exited FAILED_PRECONDITION, tty+stderr INVALID_ARGUMENT', async () => {
  await assert.rejects(client.call('Exec', { container_id: 'nope', cmd: ['true'], stdout: true }), grpcError(Code.NOT_FOUND, 'nope'));
  await assert.rejects(client.call('Exec', { container_id: sleeper, cmd: ['true'], tty: true, stdout: true, stderr: true }), grpcError(Code.INVALID_ARGUMENT, 'tty'));
  await assert.rejects(client.call('Exec', { container_id: sleeper, cmd: [], stdout: true }), grpcError(Code.INVALID_ARGUMENT, 'cmd'));
  const done = await runContainer(hostPod, imgs.busybox.reference, { command: ['true'] });
  await waitFor('exit', async () => (await state(done)) === EXITED);
  await assert.rejects(client.call('Exec', { container_id: done, cmd: ['true'], stdout: true }), grpcError(Code.FAILED_PRECONDITION, 'not running'));
  await assert.rejects(client.call('Attach', { container_id: done, stdout: true }), grpcError(Code.FAILED_PRECONDITION, 'not running'));
  await assert.rejects(client.call('Attach', { container_id: sleeper, tty: true, stdout: true }), grpcError(Code.INVALID_ARGUMENT, 'tty'));
});

test('Attach (no TTY, stdin_once) sees stdout and stderr apart; closing stdin closes the container\'s', async () => {
  const id = await runContainer(hostPod, imgs.busybox.reference, {
    command: ['sh', '-c', 'while read l; do echo out:$l; echo err:$l >&2; done; echo bye'], stdin: true, stdin_once: true,
  });
  const { url } = await client.call('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
  const r = await spdyExec(url, { stdin: 'one\ntwo\n' });
  assert.equal(r.stdout.toString(), 'out:one\nout:two\nbye\n');
  assert.equal(r.stderr.toString(), 'err:one\nerr:two\n');
  assert.equal(r.status, SUCCESS);
  await waitFor('exit after stdin closed', async () => (await state(id)) === EXITED);
});

test('Attach with a TTY: input reaches the shell and resize goes through conmon', async () => {
  const id = await runContainer(hostPod, imgs.busybox.reference, { command: ['sh'], tty: true, stdin: true });
  assert.equal(await state(id), RUNNING);
  const { url } = await client.call('Attach', { container_id: id, tty: true, stdin: true, stdout: true, stderr: false });
  const r = await spdyExec(url, { tty: true, stdin: 'sleep 0.4; stty size; exit 7\n', keepStdinOpen: true, resizes: [{ Width: 101, Height: 31 }] });
  assert.match(r.stdout.toString(), /\n31 101\r\n/);
  await waitFor('exit 7', async () => (await state(id)) === EXITED);
  const s = (await client.call('ContainerStatus', { container_id: id })).status;
  assert.equal(s.exit_code, 7);
});

test('PortForward into a pod network namespace: the web page, 4 concurrent streams, a refused port named', async () => {
  const pod = await runPod(false);
  await runContainer(pod, imgs.web.reference);
  const { url } = await client.call('PortForward', { pod_sandbox_id: pod.id, port: [WEB_PORT] });
  assert.match(url, /\/portforward\//);
  const { socket, head } = await upgradeSpdy(url, ['portforward.k8s.io']);
  const spdy = new SpdyClient(socket, head);
  try {
    // httpd may need a moment to listen after StartContainer.
    await waitFor('httpd listening', async () => {
      const { data, error } = await openPortForward(spdy, WEB_PORT, 100 + seq++);
      data.end('GET / HTTP/1.0\r\n\r\n');
      const [body, err] = await Promise.all([collect(data), error]);
      return err === '' && body.toString().includes(WEB_INDEX_HTML);
    });
    const bodies = await Promise.all([1, 2, 3, 4].map(async (n) => {
      const { data, error } = await openPortForward(spdy, WEB_PORT, n);
      data.write('GET / HTTP/1.0\r\n\r\n');
      const body = (await collect(data)).toString();
      assert.equal(await error, '');
      return body;
    }));
    for (const b of bodies) {
      assert.match(b, /^HTTP\/1\.[01] 200 OK/);
      assert.ok(b.endsWith(WEB_INDEX_HTML));
    }
    const refused = await openPortForward(spdy, 81, 9);
    const message = await refused.error;
    assert.match(message, new RegExp(`port 81 to pod ${pod.id}.*connection refused`));
  } finally {
    socket.destroy();
  }
  await assert.rejects(client.call('PortForward', { pod_sandbox_id: 'nope', port: [80] }), grpcError(Code.NOT_FOUND, 'nope'));
});
