/**
 * The CLI's image commands against the real daemon: `critter pull` shows per-layer
 * progress and prints the image id, joins an identical CRI pull, and `critter images
 * import` loads OCI-layout and docker-save archives built here offline, refusing
 * malformed or tampered ones.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { buildImage, dir, file, randomFile, type BuiltImage } from '../fixtures/image-builder.ts';
import { CLI, startDaemon, type RunningDaemon } from './helpers/daemon.ts';

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'critter-cli-images-'));
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
});
after(async () => {
  await d?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface CliRun { code: number | null; stdout: string; stderr: string }

/** Runs the CLI; `onStdout` sees output as it arrives. */
function critter(args: string[], onStdout?: (soFar: string) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--run-root', d.dirs.runRoot], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); onStdout?.(stdout); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function status(image: string): Promise<Record<string, any> | null> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (await d.client.call('ImageStatus', { image: { image } })).image;
}

test('critter pull shows each layer\'s progress and prints the image id', async () => {
  const r = await critter(['pull', imgs.large.reference]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.at(-1), imgs.large.imageId);
  for (const layer of imgs.large.layers) {
    const short = layer.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    assert.ok(lines.some((l) => l.startsWith(short) && / done /.test(l)), `no "done" line for ${short}:\n${r.stdout}`);
  }
  // Plain (non-TTY) output: no ANSI redraws, and byte counts with the layer's total.
  assert.ok(!r.stdout.includes('\x1b['), 'ANSI escapes in non-TTY output');
  assert.match(r.stdout, /downloading .*\] +[\d.]+ (B|KiB|MiB) \/ [\d.]+ MiB/);
  assert.equal((await status(imgs.large.reference))?.id, imgs.large.imageId);
  await d.client.call('RemoveImage', { image: { image: imgs.large.reference } });
});

test('critter pull of an unknown image exits 1 with the daemon\'s NOT_FOUND error', async () => {
  const r = await critter(['pull', `${registry.host}/critter-test/busybox:no-such-tag`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no-such-tag.*NOT_FOUND/s);
});

test('identical concurrent CLI and CRI pulls share one operation', async () => {
  let criPull: Promise<Record<string, unknown>> | undefined;
  // The CRI pull starts once the CLI's pull is visibly under way.
  const cli = critter(['pull', imgs.large.reference], (out) => {
    if (!criPull && out.includes('downloading')) criPull = d.client.call('PullImage', { image: { image: imgs.large.reference } });
  });
  const r = await cli;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(criPull, 'the CLI never showed a downloading layer');
  assert.equal((await criPull).image_ref, imgs.large.imageId);
  assert.equal(r.stdout.trim().split('\n').at(-1), imgs.large.imageId);
  assert.match(d.logs(), /Joining an identical pull/);
  await d.client.call('RemoveImage', { image: { image: imgs.large.reference } });
});

// ---- archives --------------------------------------------------------------------

async function writeTar(path: string, entries: { name: string; data: Buffer }[]): Promise<void> {
  const pack = tarPack();
  const done = pipeline(pack, createWriteStream(path));
  for (const e of entries) pack.entry({ name: e.name, size: e.data.length, mode: 0o644 }, e.data);
  pack.finalize();
  await done;
}

const blobEntry = (digest: string, data: Buffer) => ({ name: `blobs/sha256/${digest.slice('sha256:'.length)}`, data });

async function archiveImage(seed: string, compression: 'gzip' | 'none'): Promise<BuiltImage> {
  return buildImage({
    layers: [
      { entries: [dir('etc'), file('etc/imported', `${seed}\n`)] },
      { entries: [dir('data'), randomFile('data/blob.bin', 2 * 1024 * 1024, seed)] },
    ],
    config: { Cmd: ['sh'], Labels: { seed } },
    compression,
  });
}

async function ociArchive(path: string, img: BuiltImage, refName: string, tamper = false): Promise<void> {
  const layers = await Promise.all(img.layers.map(async (l) => blobEntry(l.digest, await readFile(l.file))));
  if (tamper) layers[1]!.data = Buffer.concat([layers[1]!.data.subarray(0, -8), Buffer.alloc(8)]);
  const index = { schemaVersion: 2, manifests: [{ mediaType: img.manifestMediaType, digest: img.manifestDigest, size: img.manifest.length, annotations: { 'org.opencontainers.image.ref.name': refName } }] };
  await writeTar(path, [
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
    blobEntry(img.manifestDigest, img.manifest),
    blobEntry(img.configDigest, img.config),
    ...layers,
  ]);
}

test('critter images import loads an OCI layout archive; ImageStatus finds it by name and digest', async () => {
  const img = await archiveImage('oci-archive', 'gzip');
  const archive = join(work, 'oci.tar');
  await ociArchive(archive, img, 'example.com/imported/oci:v1');
  const r = await critter(['images', 'import', archive]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Imported ${img.configDigest} \\(example.com/imported/oci:v1\\)`));
  const s = await status('example.com/imported/oci:v1');
  assert.equal(s?.id, img.configDigest);
  assert.deepEqual(s?.repo_digests, [`example.com/imported/oci@${img.manifestDigest}`]);
  assert.equal((await status(`example.com/imported/oci@${img.manifestDigest}`))?.id, img.configDigest);
  const list = await critter(['images']);
  assert.match(list.stdout, /example\.com\/imported\/oci:v1/);
});

test('critter images import loads a docker-save archive (uncompressed layers, RepoTags)', async () => {
  const img = await archiveImage('docker-archive', 'none');
  const configHex = img.configDigest.slice('sha256:'.length);
  const layerEntries = await Promise.all(img.layers.map(async (l) => ({ name: `${l.diffId.slice(7, 71)}/layer.tar`, data: await readFile(l.file) })));
  const manifest = [{ Config: `${configHex}.json`, RepoTags: ['imported/docker:v2'], Layers: layerEntries.map((e) => e.name) }];
  const archive = join(work, 'docker.tar');
  await writeTar(archive, [
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) },
    { name: `${configHex}.json`, data: img.config },
    ...layerEntries,
  ]);
  const r = await critter(['images', 'import', archive]);
  assert.equal(r.code, 0, r.stderr);
  const s = await status('docker.io/imported/docker:v2');
  assert.equal(s?.id, img.configDigest);
  assert.deepEqual(s?.repo_tags, ['docker.io/imported/docker:v2']);
  assert.ok(Number(s?.size) > 2 * 1024 * 1024);
});

test('critter images import refuses a tar that is no image archive, and a tampered layer, registering nothing', async () => {
  const junk = join(work, 'junk.tar');
  await writeTar(junk, [{ name: 'readme.txt', data: Buffer.from('not an image\n') }]);
  const r = await critter(['images', 'import', junk]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /neither an OCI image layout archive .* nor a docker-save archive/);

  const missing = await critter(['images', 'import', join(work, 'absent.tar')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /absent\.tar does not exist.*NOT_FOUND/s);

  const img = await archiveImage('tampered-archive', 'gzip');
  const tampered = join(work, 'tampered.tar');
  await ociArchive(tampered, img, 'example.com/imported/tampered:v1', true);
  const t = await critter(['images', 'import', tampered]);
  assert.equal(t.code, 1);
  assert.match(t.stderr, new RegExp(img.layers[1]!.digest));
  assert.equal(await status('example.com/imported/tampered:v1'), null);
});
