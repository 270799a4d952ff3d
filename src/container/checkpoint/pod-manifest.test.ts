import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { POD_MANIFEST_FORMAT, POD_MANIFEST_VERSION, archiveNameFor, matchRestoreConfigs, parsePodManifest, type PodManifest } from './pod-manifest.ts';

function config(name: string, over: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name, attempt: 0 }, image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' },
    command: ['sh', '-c'], args: ['sleep 1'], working_dir: '/', envs: [{ key: 'A', value: Buffer.from('1') }], labels: {}, annotations: {},
    ...over,
  } as unknown as ContainerConfig__Output;
}

function manifest(over: Partial<PodManifest> = {}): PodManifest {
  return {
    format: POD_MANIFEST_FORMAT, version: POD_MANIFEST_VERSION, checkpointedAt: '2026-01-01T00:00:00.000Z', runtimeHandler: 'runc',
    pod: { id: 'p', config: { metadata: { name: 'pod' } } as never },
    containers: ['web', 'side'].map((n) => ({ name: n, id: `id-${n}`, archive: archiveNameFor(n), image: { requested: 'busybox', id: 'img1', ref: 'busybox@sha256:1' }, config: config(n) })),
    ...over,
  };
}

const refused = (field: string, ...needles: string[]) => (err: unknown): boolean => {
  assert.ok(err instanceof InvalidArgumentError, String(err));
  assert.ok(err.message.startsWith(field), `"${err.message}" should start with ${field}`);
  for (const n of needles) assert.ok(err.message.includes(n), `"${err.message}" should mention ${n}`);
  return true;
};

test('parsePodManifest() reads back what a checkpoint writes, env values through JSON included', () => {
  const m = manifest();
  const back = parsePodManifest(JSON.stringify(m), '/ckpt');
  assert.equal(back.version, 1);
  assert.deepEqual(back.containers.map((c) => c.archive), ['web.tar', 'side.tar']);
  // The Buffer of an env value is {type: 'Buffer', data} after JSON; matching still sees "A=1".
  const pairs = matchRestoreConfigs(back, [config('side'), config('web')], () => undefined);
  assert.deepEqual(pairs.map((p) => [p.index, p.entry.name]), [[0, 'side'], [1, 'web']]);
});

test('parsePodManifest() refuses another format, another version, and archives outside the directory', () => {
  assert.throws(() => parsePodManifest('not json', '/ckpt'), refused('checkpoint_path', 'not JSON'));
  assert.throws(() => parsePodManifest('{"format":"other"}', '/ckpt'), refused('checkpoint_path', 'not a critter pod checkpoint'));
  assert.throws(() => parsePodManifest(JSON.stringify(manifest({ version: 2 })), '/ckpt'), refused('checkpoint_path', 'version "2"', 'reads version 1'));
  assert.throws(() => parsePodManifest(JSON.stringify(manifest({ containers: [] })), '/ckpt'), refused('checkpoint_path', 'no containers'));
  const m = manifest();
  m.containers[0]!.archive = '../../etc/shadow';
  assert.throws(() => parsePodManifest(JSON.stringify(m), '/ckpt'), refused('checkpoint_path', 'not a file name'));
  m.containers[0]!.archive = 'side.tar';
  m.containers[0]!.name = 'side';
  assert.throws(() => parsePodManifest(JSON.stringify(m), '/ckpt'), refused('checkpoint_path', 'twice'));
});

test('matchRestoreConfigs() wants exactly the checkpoint\'s names, and the process it describes unchanged', () => {
  const m = manifest();
  const both = (web: ContainerConfig__Output): ContainerConfig__Output[] => [web, config('side')];
  assert.throws(() => matchRestoreConfigs(m, [config('web')], () => undefined), refused('container_configs', '"side"'));
  assert.throws(() => matchRestoreConfigs(m, [...both(config('web')), config('extra')], () => undefined), refused('container_configs[2].metadata.name', '"extra"', 'no such container'));
  assert.throws(() => matchRestoreConfigs(m, both(config('web', { command: ['nginx'] })), () => undefined), refused('container_configs[0].command'));
  assert.throws(() => matchRestoreConfigs(m, both(config('web', { args: ['sleep 2'] })), () => undefined), refused('container_configs[0].args'));
  assert.throws(() => matchRestoreConfigs(m, both(config('web', { working_dir: '/srv' })), () => undefined), refused('container_configs[0].working_dir', '"/srv"'));
  assert.throws(() => matchRestoreConfigs(m, both(config('web', { envs: [{ key: 'A', value: Buffer.from('2') }] })), () => undefined), refused('container_configs[0].envs'));
  const otherImage = config('web', { image: { image: 'nginx', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' } });
  assert.throws(() => matchRestoreConfigs(m, both(otherImage), () => 'img2'), refused('container_configs[0].image.image', '"nginx"', '"busybox"'));
  // Another name of the same image (a digest reference, a tag of it) is the same image.
  assert.equal(matchRestoreConfigs(m, both(otherImage), () => 'img1').length, 2);
  const asUser = config('web', { linux: { security_context: { run_as_user: { value: '1000' } } } } as never);
  assert.throws(() => matchRestoreConfigs(m, both(asUser), () => undefined), refused('container_configs[0].linux.security_context.run_as_user'));
});
