/**
 * Image volumes through ContainerService over fakes (issue 13 item 2): the volume is mounted
 * read-only under the bundle and bound into the spec, its image and layers count as used
 * while the container exists, a bad or missing sub-path fails the create leaving nothing
 * mounted, and teardown and the crash-time sweep unmount what is under the bundle.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../lib/errors.ts';
import { containerConfig, mount } from './spec/testing.ts';
import { containerHarness, testOp as op, TEST_IMAGE, type Harness } from './testing.ts';

const VOL_IMAGE = { ...TEST_IMAGE, id: 'd'.repeat(64), names: ['example.com/vol:1'], digests: [], topLayer: 'e'.repeat(64) };

let dir: string;
let h: Harness;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'critter-ctr-imgvol-'));
  h = containerHarness(dir, {
    images: {
      require: (spec) => {
        if (spec === 'busybox:latest') return TEST_IMAGE;
        if (spec === 'vol:1') return VOL_IMAGE;
        throw new NotFoundError(`image "${spec}" not found`);
      },
      config: async () => ({ config: { Cmd: ['sh'] } }),
    },
  });
  await h.svc.recover(op);
});

afterEach(async () => {
  h.svc.close();
  await rm(dir, { recursive: true, force: true });
});

function withVolume(sub = '', image = 'vol:1') {
  return containerConfig({
    mounts: [mount({ container_path: '/vol', host_path: '', image: { image, annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' }, image_sub_path: sub })],
  });
}

const volumeMounts = (): string[] => [...h.rootfs.mounted].filter((p) => p.includes('image-volumes'));

test('ContainerService.create() mounts an image volume read-only and counts the container as its image\'s user', async () => {
  const id = await h.svc.create(op, h.pod.id, withVolume());
  const rec = h.svc.get(id);
  const target = join(rec.metadata.bundle, 'image-volumes', '0');
  assert.deepEqual(volumeMounts(), [target]);
  const spec = JSON.parse(await readFile(join(rec.metadata.bundle, 'config.json'), 'utf8')) as { mounts: Array<{ destination: string; source: string; options: string[] }> };
  const vol = spec.mounts.find((m) => m.destination === '/vol');
  assert.deepEqual(vol && { source: vol.source, options: vol.options }, { source: target, options: ['rbind', 'rprivate', 'ro'] });
  assert.deepEqual(rec.metadata.imageVolumes, [{ containerPath: '/vol', imageId: VOL_IMAGE.id, topLayer: VOL_IMAGE.topLayer }]);
  assert.equal(await h.svc.imageInUse(VOL_IMAGE.id), true);
  assert.ok(h.svc.layersInUse().includes(VOL_IMAGE.topLayer));

  await h.svc.remove(op, id);
  assert.equal(await h.svc.imageInUse(VOL_IMAGE.id), false, 'the removal is settled before the answer');
  assert.deepEqual(volumeMounts(), []);
  assert.ok(!h.svc.layersInUse().includes(VOL_IMAGE.topLayer));
});

test('ContainerService.create() refuses an escaping or missing sub-path and leaves nothing mounted', async () => {
  await assert.rejects(h.svc.create(op, h.pod.id, withVolume('../../etc')), (err: unknown) => err instanceof InvalidArgumentError && err.message.includes('"../../etc"'));
  await assert.rejects(h.svc.create(op, h.pod.id, withVolume('data/missing')), (err: unknown) => err instanceof NotFoundError && err.message.includes('"data/missing"'));
  await assert.rejects(h.svc.create(op, h.pod.id, withVolume('', 'nope:1')), NotFoundError);
  assert.deepEqual(volumeMounts(), []);
  assert.equal(await h.svc.imageInUse(VOL_IMAGE.id), false);
  assert.deepEqual(h.svc.list(null), []);
});

test('ContainerService.recover() unmounts the image volumes of a bundle without a record', async () => {
  const orphan = join(h.deps.runRoot, 'containers', '9'.repeat(64));
  const target = join(orphan, 'image-volumes', '0');
  await mkdir(target, { recursive: true });
  h.rootfs.mounted.add(target);
  await h.svc.recover(op);
  assert.ok(h.rootfs.unmountCalls.some((c) => c.target === target));
  assert.deepEqual(volumeMounts(), []);
});
