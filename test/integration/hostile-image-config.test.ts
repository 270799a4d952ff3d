/**
 * Images whose config fields are hostile (issue 12 classes 1 and 2): NUL bytes, newlines
 * where none belong, a relative WorkingDir, an argument or an environment too big for
 * execve, fields of the wrong JSON type, a stop signal that does not exist. Each image
 * pulls (the config is well-formed JSON) but CreateContainer refuses it with
 * FAILED_PRECONDITION naming the image and the field, in a bounded message, before runc
 * sees anything; no container is left behind and the daemon keeps serving. A config that
 * looks odd but is legal (newlines in Cmd and in env values) still creates and runs.
 * Images are built offline and pushed to a local registry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, busyboxRootfsLayer, pushImage, type LayerSpec, type PushedImage } from '../fixtures/image-builder.ts';
import { DEFAULT_PATH_ENV } from '../fixtures/busybox-rootfs.ts';
import { TEST_REPO_PREFIX } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { unmountAllUnder } from './helpers/mounts.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EXITED = 2;
const HOST_NS = { network: 2, pid: 1, ipc: 0 };
/** What a hostile field's message may cost: the value is shown up to 256 characters. */
const MESSAGE_MAX = 2048;
const SECRET = 'hunter2-secret-value';

/** Each hostile image: its config and what the refusal must say. */
const HOSTILE: Record<string, { config: Any; needles: string[] }> = {
  'workdir-relative': { config: { WorkingDir: 'srv/app' }, needles: ['WorkingDir "srv/app" is not an absolute path'] },
  'workdir-nul': { config: { WorkingDir: '/srv\u0000/x' }, needles: ['WorkingDir "/srv\\u0000/x" contains a NUL byte'] },
  'workdir-newline': { config: { WorkingDir: '/srv\n/x' }, needles: ['WorkingDir "/srv\\n/x" contains a newline'] },
  'workdir-long': { config: { WorkingDir: `/${'w'.repeat(5000)}` }, needles: [`WorkingDir "/${'w'.repeat(100)}`, '(5001 characters)', 'is too long'] },
  'entrypoint-nul': { config: { Entrypoint: ['/bin/sh', '-c', 'true\u0000rm -rf /'] }, needles: ['Entrypoint[2] "true\\u0000rm -rf /" contains a NUL byte'] },
  'cmd-huge-arg': { config: { Cmd: ['sh', 'x'.repeat(200 * 1024)] }, needles: ['Cmd[1] is too long (204800 bytes'] },
  'cmd-wrong-type': { config: { Cmd: 'sh -c true' }, needles: ['Cmd is a string, not a list of strings'] },
  'env-nul': { config: { Env: [DEFAULT_PATH_ENV, `TOKEN=${SECRET}\u0000x`] }, needles: ['Env[1] "TOKEN" has a NUL byte in its value'] },
  'env-no-equals': { config: { Env: [DEFAULT_PATH_ENV, 'JUSTANAME'] }, needles: ['Env[1] "JUSTANAME" has no "="'] },
  'env-newline-key': { config: { Env: [DEFAULT_PATH_ENV, 'A\nB=1'] }, needles: ['Env[1] "A\\nB" has a newline in its name'] },
  'env-huge': { config: { Env: [DEFAULT_PATH_ENV, ...Array.from({ length: 12 }, (_, i) => `BIG${i}=${'v'.repeat(100 * 1024)}`)] }, needles: ['config Env totals', 'over 1048576'] },
  'user-nul': { config: { User: 'root\u0000:0' }, needles: ['User "root\\u0000:0" contains a NUL byte'] },
  'user-newline': { config: { User: 'root\nx' }, needles: ['User "root\\nx" contains a newline'] },
  'user-long': { config: { User: 'u'.repeat(10_000) }, needles: ['User "uuuu', '(10000 characters)', 'longer than 255'] },
  'volume-relative': { config: { Volumes: { 'data/x': {} } }, needles: ['image volume "data/x" is not an absolute path'] },
  'volume-newline': { config: { Volumes: { '/data\n/x': {} } }, needles: ['image volume "/data\\n/x" contains a newline'] },
  'stopsignal-unknown': { config: { StopSignal: 'SIGBOGUS' }, needles: ['StopSignal "SIGBOGUS" is not a known signal'] },
  'stopsignal-long': { config: { StopSignal: 'S'.repeat(100_000) }, needles: ['StopSignal "SSSS', '(100000 characters)', 'is not a signal name'] },
};

let registry: RunningRegistry;
let d: RunningDaemon;
let work: string;
let pod: { id: string; config: Any };
let seq = 0;
const images: Record<string, PushedImage> = {};

async function push(name: string, layers: LayerSpec[], config: Any): Promise<void> {
  // The builder types a friendly config; these are not.
  const built = await buildImage({ layers, config: { Cmd: ['sh'], ...config } });
  images[name] = await pushImage(registry, `${TEST_REPO_PREFIX}/hostile-config-${name}`, 'latest', built);
}

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'critter-hostile-config-'));
  const base = await busyboxRootfsLayer();
  await Promise.all([
    ...Object.entries(HOSTILE).map(([name, h]) => push(name, [base], h.config)),
    push('legal-oddities', [base], {
      Cmd: ['sh', '-c', 'echo "$MULTI" | wc -l\necho second-line'], Env: [DEFAULT_PATH_ENV, 'MULTI=one\ntwo', 'EMPTY='], WorkingDir: '/tmp/x',
      StopSignal: 'SIGRTMIN+3',
    }),
  ]);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  for (const img of Object.values(images)) await d.client.call('PullImage', { image: { image: img.reference } });
  const config = {
    metadata: { name: 'hostile-config', namespace: 'hostile', uid: 'uid-hostile-config', attempt: 0 },
    log_directory: join(work, 'logs'),
    linux: { security_context: { namespace_options: HOST_NS } },
  };
  pod = { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) {
      await d.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
      await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    }
    await d.stop();
  }
  await registry?.stop();
  if (work) {
    await unmountAllUnder(work);
    await rm(work, { recursive: true, force: true });
  }
});

function ctr(image: string): Any {
  const name = `c${++seq}`;
  return {
    metadata: { name, attempt: 0 },
    image: { image: images[image]!.reference },
    log_path: `${name}.log`,
    linux: { security_context: { namespace_options: HOST_NS } },
  };
}

async function create(config: Any): Promise<string> {
  return (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
}

for (const [name, h] of Object.entries(HOSTILE)) {
  test(`CreateContainer of an image whose config is hostile (${name}) answers FAILED_PRECONDITION naming the image and the field`, async () => {
    const reference = images[name]!.reference;
    await assert.rejects(create(ctr(name)), (err: { code: number; details: string }) => {
      assert.equal(err.code, Code.FAILED_PRECONDITION, `expected FAILED_PRECONDITION, got ${Code[err.code]}: ${err.details.slice(0, 500)}`);
      assert.ok(err.details.includes(`image "${reference}"`), `"${err.details.slice(0, 500)}" should name the image`);
      assert.ok(err.details.includes('is unusable: config '), err.details.slice(0, 500));
      for (const n of h.needles) assert.ok(err.details.includes(n), `"${err.details.slice(0, 500)}" should mention ${n}`);
      assert.ok(err.details.length < MESSAGE_MAX, `unbounded message: ${err.details.length} characters`);
      assert.ok(!err.details.includes(SECRET), 'an env value was echoed');
      return true;
    });
    assert.deepEqual((await d.client.call('ListContainers', {})).containers, [], 'a refused create left a container behind');
    const v = await d.client.call('Version', { version: 'v1' });
    assert.equal(v.runtime_api_version, 'v1');
  });
}

test('CreateContainer with the same name after a refusal succeeds: the refusal released the name', async () => {
  const config = ctr('workdir-relative');
  await assert.rejects(create(config), { code: Code.FAILED_PRECONDITION });
  const id = await create({ ...config, image: { image: images['legal-oddities']!.reference } });
  await d.client.call('RemoveContainer', { container_id: id });
});

test('An image with newlines in Cmd and env values, an empty env value and a real-time stop signal creates and runs', async () => {
  const config = ctr('legal-oddities');
  const id = await create(config);
  await d.client.call('StartContainer', { container_id: id });
  const deadline = Date.now() + 15_000;
  let s: Any;
  for (;;) {
    s = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
    if (s.state === EXITED) break;
    if (Date.now() > deadline) throw new Error(`container ${id} did not exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(s.exit_code, 0, s.message);
  const log = await readFile(join(work, 'logs', config.log_path as string), 'utf8');
  assert.match(log, / stdout F 2$/m);
  assert.match(log, / stdout F second-line$/m);
  await d.client.call('RemoveContainer', { container_id: id });
});
