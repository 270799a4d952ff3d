/**
 * Hostile requests through the real daemon (issue 12 classes 2–4): a huge id must not stall
 * the connection it shares with every other call, bad fields answer INVALID_ARGUMENT naming
 * the field with a bounded message, and ExecSync and PullImage give clear codes for bad
 * commands and references.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST_NS = { network: 2, pid: 1, ipc: 0 };

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;
let pod: { id: string; config: Any };
let ctr = '';

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-hostile-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
  const config = { metadata: { name: 'hostile', namespace: 'hostile', uid: 'uid-hostile', attempt: 0 }, log_directory: join(logDir, 'pod'), linux: { security_context: { namespace_options: HOST_NS } } };
  pod = { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
  ctr = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: containerConfig(), sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: ctr });
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

function containerConfig(over: Any = {}): Any {
  return { metadata: { name: 'target', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sh', '-c', 'while true; do sleep 1; done'], log_path: 'target.log', linux: { security_context: { namespace_options: HOST_NS } }, ...over };
}

/** The call's error, asserting it failed with `code` and a bounded message that says `mentions`. */
async function fails(p: Promise<unknown>, code: Code, mentions: string): Promise<ServiceError> {
  const err = await p.then(() => assert.fail(`expected ${Code[code]}`), (e: ServiceError) => e);
  assert.equal(err.code, code, `${Code[err.code]}: ${err.details}`);
  assert.ok(err.details.includes(mentions), `"${err.details}" should mention ${mentions}`);
  assert.ok(Buffer.byteLength(err.details) <= 4096, `details of ${err.details.length} chars`);
  return err;
}

test('ContainerStatus() with a 128 KiB id answers at once and Version on the same channel is not stalled', async () => {
  const huge = 'f'.repeat(128 * 1024);
  const began = Date.now();
  await fails(d.client.call('ContainerStatus', { container_id: huge }, { deadlineMs: 20_000 }), Code.INVALID_ARGUMENT, 'container_id');
  // Same client object, same HTTP/2 connection: a trailer past the header limit used to hold it for the whole deadline.
  const v = await d.client.call('Version', {}, { deadlineMs: 20_000 });
  assert.equal(v.runtime_name, 'critter');
  assert.ok(Date.now() - began < 1000, `took ${Date.now() - began} ms`);
  // A well-formed id that names nothing: NOT_FOUND, quoting it.
  await fails(d.client.call('ContainerStatus', { container_id: 'abc'.repeat(40) }), Code.NOT_FOUND, 'abcabc');
});

test('the daemon log stays bounded when requests carry huge values', async () => {
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: 'a'.repeat(1 << 20) }).catch(() => undefined);
  await d.client.call('PullImage', { image: { image: `${'x'.repeat(1 << 20)}` } }).catch(() => undefined);
  const longest = Math.max(...d.logs().split('\n').map((l) => l.length));
  assert.ok(longest < 16 * 1024, `longest log line ${longest} chars`);
});

test('ExecSync() refuses an empty or NUL command and says NOT_FOUND for a missing binary', async () => {
  await fails(d.client.call('ExecSync', { container_id: ctr, cmd: [] }), Code.INVALID_ARGUMENT, 'cmd');
  await fails(d.client.call('ExecSync', { container_id: ctr, cmd: [''] }), Code.INVALID_ARGUMENT, 'cmd[0]');
  await fails(d.client.call('ExecSync', { container_id: ctr, cmd: ['ls\0-l'] }), Code.INVALID_ARGUMENT, 'cmd[0]');
  await fails(d.client.call('ExecSync', { container_id: ctr, cmd: ['/no/such/binary'] }), Code.NOT_FOUND, '/no/such/binary');
  await fails(d.client.call('ExecSync', { container_id: ctr, cmd: ['no-such-command-anywhere'] }), Code.NOT_FOUND, 'no-such-command-anywhere');
  // And the container still execs.
  const ok = await d.client.call('ExecSync', { container_id: ctr, cmd: ['true'] });
  assert.equal(ok.exit_code, 0);
});

test('PullImage() refuses references that are not URLs with INVALID_ARGUMENT naming them', async () => {
  for (const ref of ['host:99999/x', 'UPPER/x', 'a b', 'x'.repeat(10 * 1024), 'busybox\0']) {
    const err = await fails(d.client.call('PullImage', { image: { image: ref } }), Code.INVALID_ARGUMENT, JSON.stringify(ref.slice(0, 200)).slice(0, -1));
    assert.ok(err.details.length < 700, err.details);
  }
});

test('CreateContainer() refuses a traversing log_path before anything is created', async () => {
  await fails(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: containerConfig({ metadata: { name: 'evil' }, log_path: '../../canary' }), sandbox_config: pod.config }),
    Code.INVALID_ARGUMENT, 'config.log_path');
  await assert.rejects(access(join(logDir, '..', 'canary')));
  const names = ((await d.client.call('ListContainers', {})).containers as Any[]).map((c) => c.metadata.name);
  assert.deepEqual(names, ['target']);
});

test('UpdateContainerResources() refuses values runc would reject and keeps the old ones', async () => {
  await fails(d.client.call('UpdateContainerResources', { container_id: ctr, linux: { cpu_quota: '10' } }), Code.INVALID_ARGUMENT, 'linux.cpu_quota');
  await fails(d.client.call('UpdateContainerResources', { container_id: ctr, linux: { cpuset_cpus: '0-' } }), Code.INVALID_ARGUMENT, 'linux.cpuset_cpus');
  const s = await d.client.call('ContainerStatus', { container_id: ctr });
  assert.equal(s.status.state, 1);
});

test('StartContainer() of a command the image lacks answers FAILED_PRECONDITION with the runtime\'s words, and the daemon keeps serving', async () => {
  const missing = 'no-such-command-in-this-image';
  const id = (await d.client.call('CreateContainer', {
    pod_sandbox_id: pod.id, sandbox_config: pod.config,
    config: containerConfig({ metadata: { name: 'missing-command', attempt: 0 }, command: [missing], log_path: 'missing.log' }),
  })).container_id as string;
  try {
    // runc's refusal is about what the request and image hold, not a fault of critter's: never UNKNOWN.
    await fails(d.client.call('StartContainer', { container_id: id }), Code.FAILED_PRECONDITION, missing);
    const status = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
    assert.notEqual(status.state, 'CONTAINER_RUNNING');
    assert.equal((await d.client.call('Version', {})).runtime_name, 'critter');
  } finally {
    await d.client.call('RemoveContainer', { container_id: id });
  }
});
