/**
 * Streaming server settings and limits end to end, on the real daemon with real containers:
 * TLS (`streaming.tls_cert`/`tls_key` → https:// URLs, a session over TLS), the idle timeout
 * (`streaming.idle_timeout_seconds` closes a silent exec/attach session and kills the exec'd
 * process), and backpressure (100 MiB through `cat` arrives intact without growing the
 * daemon's memory by as much).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { run } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startPodDaemon, podSandboxConfig, type PodDaemon } from './helpers/pod-network.ts';
import type { CriClient } from './helpers/cri-client.ts';
import { spdyExec } from '../support/spdy-client.ts';
import { wsExec } from '../support/ws-client.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SUCCESS = '{"metadata":{},"status":"Success"}';
const NODE = 2;
const IDLE_TIMEOUT_SECONDS = 2;
const BULK_BYTES = 100 * 1024 * 1024;
const BULK_CHUNK = 256 * 1024;
/** Generous: the point is that memory does not scale with the bytes streamed (100 MiB). */
const RSS_GROWTH_LIMIT_BYTES = 200 * 1024 * 1024;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let client: CriClient;
let pod: { id: string; config: Any };
let sleeper: string;
let workDir: string | undefined;
let seq = 0;

async function runContainer(image: string, extra: Any = {}): Promise<string> {
  const config = {
    metadata: { name: `x${++seq}`, attempt: 0 },
    image: { image },
    linux: { security_context: { namespace_options: { network: NODE, pid: 1 } } },
    ...extra,
  };
  const { container_id: id } = await client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await client.call('StartContainer', { container_id: id });
  return id as string;
}

async function waitFor(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** PIDs on this host whose argv is exactly `argv` (the container's PID namespace is a child of ours). */
async function pidsRunning(argv: string[]): Promise<number[]> {
  const want = `${argv.join('\0')}\0`;
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === want) found.push(Number(entry));
  }
  return found;
}

async function vmRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kib) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib[1]) * 1024;
}

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  workDir = await mkdtemp(join(tmpdir(), 'critter-stream-extra-'));
  const cert = join(workDir, 'tls.crt');
  const key = join(workDir, 'tls.key');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { timeoutMs: 30_000 });
  const conf = join(workDir, 'registries.conf');
  await writeFile(conf, registriesConfText(registry.host));
  pd = await startPodDaemon({
    extraArgs: ['--registries-conf', conf],
    configYaml: `streaming:\n  tls_cert: ${cert}\n  tls_key: ${key}\n  idle_timeout_seconds: ${IDLE_TIMEOUT_SECONDS}\n`,
  });
  client = pd.daemon.client;
  await client.call('PullImage', { image: { image: imgs.busybox.reference } });
  const config = podSandboxConfig('stream-extra', { linux: { security_context: { namespace_options: { network: NODE } } } });
  pod = { id: (await client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
  sleeper = await runContainer(imgs.busybox.reference, { command: ['sleep', '1000'] });
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
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test('Exec with streaming.tls_cert/tls_key returns an https:// URL and the session runs over TLS', async (t) => {
  const t0 = performance.now();
  const { url } = await client.call('Exec', { container_id: sleeper, cmd: ['sh', '-c', 'echo over-tls; echo e >&2; exit 4'], stdout: true, stderr: true });
  const t1 = performance.now();
  assert.match(url as string, /^https:\/\/127\.0\.0\.1:\d+\/exec\/[\w-]+$/);
  const r = await spdyExec(url as string, {});
  t.diagnostic(`Exec RPC ${(t1 - t0).toFixed(0)} ms, session ${(performance.now() - t1).toFixed(0)} ms`);
  assert.ok('encrypted' in r.client.transport && r.client.transport.encrypted, 'the upgraded socket is a TLS socket');
  assert.equal(r.stdout.toString(), 'over-tls\n');
  assert.equal(r.stderr.toString(), 'e\n');
  assert.match(r.status, /"reason":"NonZeroExitCode".*"message":"4"/);
});

test('Exec session with no traffic is closed after streaming.idle_timeout_seconds and its process killed', { timeout: 20_000 }, async () => {
  const argv = ['sleep', '987'];
  const { url } = await client.call('Exec', { container_id: sleeper, cmd: argv, stdin: true, stdout: true, stderr: true });
  const t0 = performance.now();
  const session = spdyExec(url as string, { stdin: '', keepStdinOpen: true });
  await waitFor('the exec\'d process', async () => (await pidsRunning(argv)).length === 1);
  const r = await session;
  await r.client.closed;
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(seconds >= IDLE_TIMEOUT_SECONDS * 0.9 && seconds < IDLE_TIMEOUT_SECONDS + 4, `closed after ${seconds.toFixed(2)} s`);
  await waitFor('the exec\'d process to be killed', async () => (await pidsRunning(argv)).length === 0, 5_000);
});

test('WebSocket (wss://) exec with no traffic is closed after the idle timeout and its process killed', { timeout: 20_000 }, async () => {
  const argv = ['sleep', '986'];
  const { url } = await client.call('Exec', { container_id: sleeper, cmd: argv, stdin: true, stdout: true, stderr: true });
  const t0 = performance.now();
  const session = wsExec(url as string, {});
  await waitFor('the exec\'d process', async () => (await pidsRunning(argv)).length === 1);
  const r = await session;
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.protocol, 'v5.channel.k8s.io');
  assert.ok(seconds >= IDLE_TIMEOUT_SECONDS * 0.9 && seconds < IDLE_TIMEOUT_SECONDS + 4, `closed after ${seconds.toFixed(2)} s`);
  await waitFor('the exec\'d process to be killed', async () => (await pidsRunning(argv)).length === 0, 5_000);
});

test('Attach session with no traffic is closed after streaming.idle_timeout_seconds; the container keeps running', { timeout: 20_000 }, async () => {
  const id = await runContainer(imgs.busybox.reference, { command: ['sh', '-c', 'read l; echo got:$l; sleep 1000'], stdin: true });
  const { url } = await client.call('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
  const t0 = performance.now();
  const r = await spdyExec(url as string, { stdin: '', keepStdinOpen: true });
  await r.client.closed;
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(seconds >= IDLE_TIMEOUT_SECONDS * 0.9 && seconds < IDLE_TIMEOUT_SECONDS + 4, `closed after ${seconds.toFixed(2)} s`);
  const s = (await client.call('ContainerStatus', { container_id: id })).status;
  assert.equal(s.state, 1, 'attach going away does not stop the container');
  // Traffic resets the timer: a later attach still reaches the container.
  const again = await client.call('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
  const r2 = await spdyExec(again.url as string, { stdin: 'hello\n', keepStdinOpen: true });
  assert.equal(r2.stdout.toString(), 'got:hello\n');
});

test('Exec stdin → cat → stdout carries 100 MiB intact over TLS; daemon RSS growth stays bounded', async (t) => {
  const daemonPid = pd.daemon.proc.pid;
  assert.ok(daemonPid !== undefined);
  const { url } = await client.call('Exec', { container_id: sleeper, cmd: ['cat'], stdin: true, stdout: true, stderr: true });
  const sent = createHash('sha256');
  let produced = 0;
  const source = new Readable({
    read() {
      if (produced >= BULK_BYTES) { this.push(null); return; }
      const chunk = randomBytes(Math.min(BULK_CHUNK, BULK_BYTES - produced));
      produced += chunk.length;
      sent.update(chunk);
      this.push(chunk);
    },
  });
  const received = createHash('sha256');
  let receivedBytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      receivedBytes += chunk.length;
      received.update(chunk);
      cb();
    },
  });
  const rssBefore = await vmRssBytes(daemonPid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    void vmRssBytes(daemonPid).then((b) => { rssPeak = Math.max(rssPeak, b); }, () => undefined);
  }, 50);
  const t0 = performance.now();
  let r;
  try {
    r = await spdyExec(url as string, { stdin: source, stdoutSink: sink });
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - t0) / 1000;
  const rssAfter = await vmRssBytes(daemonPid);
  rssPeak = Math.max(rssPeak, rssAfter);
  const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
  t.diagnostic(`100 MiB in ${seconds.toFixed(2)} s (${(BULK_BYTES / 1024 / 1024 / seconds).toFixed(1)} MiB/s); daemon RSS before ${mib(rssBefore)} MiB, peak ${mib(rssPeak)} MiB (+${mib(rssPeak - rssBefore)}), after ${mib(rssAfter)} MiB`);
  assert.equal(receivedBytes, BULK_BYTES);
  assert.equal(received.digest('hex'), sent.digest('hex'));
  assert.equal(r.status, SUCCESS);
  assert.ok(rssPeak - rssBefore < RSS_GROWTH_LIMIT_BYTES, `daemon RSS grew by ${mib(rssPeak - rssBefore)} MiB`);
});
