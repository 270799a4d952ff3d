/**
 * Image volumes through the real daemon (issue 13 item 2, KEP-4639): images built offline
 * are mounted read-only into containers, whole or by image_sub_path; RemoveImage is refused
 * while a container mounts the image and succeeds once it is removed; nothing stays mounted
 * after the removal, also one that follows a daemon crash; a sub-path that climbs out of the
 * image is refused naming it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, busyboxRootfsLayer, dir, file, pushImage, type LayerSpec, type PushedImage } from '../fixtures/image-builder.ts';
import { TEST_REPO_PREFIX } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mountsUnder, unmountAllUnder } from './helpers/mounts.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST_NS = { network: 2, pid: 1, ipc: 0 };

let registry: RunningRegistry;
let d: RunningDaemon;
let work: string;
let pod: { id: string; config: Any };
let seq = 0;
const images: Record<string, PushedImage> = {};

async function push(name: string, layers: LayerSpec[]): Promise<void> {
  const built = await buildImage({ layers, config: { Cmd: ['sh'] } });
  images[name] = await pushImage(registry, `${TEST_REPO_PREFIX}/imgvol-${name}`, 'latest', built);
}

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'critter-imgvol-'));
  await Promise.all([
    push('busybox', [await busyboxRootfsLayer()]),
    // Two layers: the volume is an overlay of both.
    push('data', [
      { entries: [dir('data'), file('data/file.txt', 'from the image\n')] },
      { entries: [dir('data/sub'), file('data/sub/inner.txt', 'from the sub-path\n')] },
    ]),
    push('single', [{ entries: [file('one.txt', 'one layer\n')] }]),
  ]);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  for (const name of Object.keys(images)) await d.client.call('PullImage', { image: { image: images[name]!.reference } });
  const config = {
    metadata: { name: 'imgvol', namespace: 'imgvol', uid: 'uid-imgvol', attempt: 0 },
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

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function imageMount(containerPath: string, image: string, sub = ''): Any {
  return { container_path: containerPath, image: { image }, image_sub_path: sub, readonly: true };
}

function ctr(mounts: Any[]): Any {
  const name = `c${++seq}`;
  return {
    metadata: { name, attempt: 0 }, image: { image: images.busybox!.reference }, command: ['sleep', '3600'], log_path: `${name}.log`,
    mounts, linux: { security_context: { namespace_options: HOST_NS } },
  };
}

async function run(mounts: Any[]): Promise<string> {
  const id = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(mounts), sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: id });
  return id;
}

async function exec(id: string, script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await d.client.call('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 10 });
  return { code: r.exit_code as number, out: r.stdout.toString(), err: r.stderr.toString() };
}

const volumeMounts = async (): Promise<string[]> => (await mountsUnder(d.dirs.runRoot)).filter((p) => p.includes('image-volumes'));

test('CreateContainer() mounts an image volume read-only, whole and by sub-path', async () => {
  const whole = await run([imageMount('/vol', images.data!.reference), imageMount('/one', images.single!.reference)]);
  assert.deepEqual(await exec(whole, 'cat /vol/data/file.txt /vol/data/sub/inner.txt /one/one.txt'), { code: 0, out: 'from the image\nfrom the sub-path\none layer\n', err: '' });
  const touched = await exec(whole, 'touch /vol/data/new 2>&1');
  assert.notEqual(touched.code, 0);
  assert.match(touched.out, /Read-only file system/);
  // The kubelet names the image by the id PullImage returned.
  const sub = await run([imageMount('/vol', images.data!.imageId, 'data/sub')]);
  assert.deepEqual(await exec(sub, 'cat /vol/inner.txt; ls /vol'), { code: 0, out: 'from the sub-path\ninner.txt\n', err: '' });
  assert.equal((await volumeMounts()).length, 3);

  await assert.rejects(d.client.call('RemoveImage', { image: { image: images.data!.reference } }), grpcError(Code.FAILED_PRECONDITION, 'in use'));
  await d.client.call('RemoveContainer', { container_id: whole });
  await assert.rejects(d.client.call('RemoveImage', { image: { image: images.data!.reference } }), grpcError(Code.FAILED_PRECONDITION, 'in use'), 'the sub-path container still mounts it');
  await d.client.call('RemoveContainer', { container_id: sub });
  await d.client.call('RemoveImage', { image: { image: images.data!.reference } });
  const listed = (await d.client.call('ListImages', {})).images as Any[];
  assert.ok(!listed.some((i) => i.id === images.data!.imageId), 'the image is gone');
  assert.ok(listed.some((i) => i.id === images.single!.imageId), 'the other volume image stays');
  assert.deepEqual(await volumeMounts(), [], 'no image volume stays mounted');
});

test('CreateContainer() refuses a sub-path outside the image or missing from it, naming it', async () => {
  const before = await volumeMounts();
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr([imageMount('/vol', images.single!.reference, '../../etc')]), sandbox_config: pod.config }),
    grpcError(Code.INVALID_ARGUMENT, '"../../etc"'));
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr([imageMount('/vol', images.single!.reference, 'no/such')]), sandbox_config: pod.config }),
    grpcError(Code.NOT_FOUND, '"no/such"'));
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr([imageMount('/vol', 'example.invalid/absent:1')]), sandbox_config: pod.config }),
    grpcError(Code.NOT_FOUND, 'example.invalid/absent:1'));
  assert.deepEqual(await volumeMounts(), before, 'a refused create leaves no mount');
});

test('RemoveContainer() after a daemon crash unmounts the image volume, and RemoveImage then succeeds', async () => {
  const id = await run([imageMount('/vol', images.single!.reference)]);
  assert.equal((await volumeMounts()).length, 1);
  await d.kill();
  d = await startDaemon({ dirs: d.dirs, registriesConf: registriesConfText(registry.host) });
  await assert.rejects(d.client.call('RemoveImage', { image: { image: images.single!.reference } }), grpcError(Code.FAILED_PRECONDITION, 'in use'), 'the recovered container still uses it');
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemoveImage', { image: { image: images.single!.reference } });
  assert.deepEqual(await volumeMounts(), []);
});
