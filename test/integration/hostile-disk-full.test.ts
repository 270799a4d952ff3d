/**
 * A full disk is a host condition, never a fault of critter's (issue 12 class 4): RunPodSandbox
 * and CreateContainer on a state root with no space left answer RESOURCE_EXHAUSTED saying so,
 * leave nothing half-made, and work again once there is room.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { makeDirs, startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mount } from '../../src/storage/libc.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let filler: string;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  const dirs = await makeDirs();
  await mkdir(dirs.root, { recursive: true });
  mount('tmpfs', dirs.root, 'tmpfs', 'size=24m');
  // stop() unmounts everything under its base, this tmpfs included.
  d = await startDaemon({ dirs, registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
  filler = join(dirs.root, 'filler');
});

after(async () => {
  await d?.stop();
  await registry?.stop();
});

/** Writes into the filler until the filesystem refuses, one MiB at a time. */
async function fillDisk(): Promise<void> {
  const mib = Buffer.alloc(1024 * 1024, 7);
  await mkdir(filler, { recursive: true });
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(filler, String(i)), mib);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
}

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function pod(name: string): Any {
  return {
    metadata: { name, namespace: 'disk-full', uid: `uid-${name}`, attempt: 0 },
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
}

test('RunPodSandbox and CreateContainer on a full state root answer RESOURCE_EXHAUSTED and work again once there is room', async () => {
  const ready = await d.client.call('RunPodSandbox', { config: pod('before') });
  await fillDisk();
  try {
    await assert.rejects(d.client.call('RunPodSandbox', { config: pod('full') }), grpcError(Code.RESOURCE_EXHAUSTED, 'no space left on device'));
    const ctr = { metadata: { name: 'c', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['true'], linux: { security_context: { namespace_options: { network: 2, pid: 1 } } } };
    await assert.rejects(
      d.client.call('CreateContainer', { pod_sandbox_id: ready.pod_sandbox_id, config: ctr, sandbox_config: pod('before') }),
      grpcError(Code.RESOURCE_EXHAUSTED, 'no space left on device'),
    );
    const pods = (await d.client.call('ListPodSandbox', {})).items as Any[];
    assert.deepEqual(pods.map((p) => p.metadata.name), ['before'], 'the refused pod left no record');
    assert.deepEqual((await d.client.call('ListContainers', {})).containers, [], 'the refused container left no record');
  } finally {
    await rm(filler, { recursive: true, force: true });
  }
  const again = await d.client.call('RunPodSandbox', { config: pod('full') });
  assert.ok(again.pod_sandbox_id);
  for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
});
