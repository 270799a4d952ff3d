/**
 * The image service end to end: the real daemon pulls from a real registry (Debian's
 * docker-registry on 127.0.0.1) images built offline, through registries.conf rewrites.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { waitForMetric, startDaemon, type RunningDaemon } from './helpers/daemon.ts';

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let gated: GatedProxy;

/** A TCP proxy to the registry that connects nothing until opened: pulls through it wait there. */
interface GatedProxy { host: string; open(): void; close(): Promise<void> }

async function gatedProxy(upstream: string): Promise<GatedProxy> {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  const sockets = new Set<Socket>();
  const [upHost, upPort] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    void opened.then(() => {
      if (client.destroyed) return;
      const up = connect(upPort, upHost);
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      up.on('error', () => client.destroy());
      client.pipe(up).pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => open(),
    close: async () => {
      open();
      for (const sock of sockets) sock.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  gated = await gatedProxy(registry.host);
  const conf = registriesConfText(registry.host) + [
    // The same registry behind a proxy that holds every connection until the test opens it.
    '[[registry]]', 'prefix = "gated.example"', `location = "${gated.host}"`, 'insecure = true', '',
    // A registry nobody serves: pulls from it must fail as unreachable.
    '[[registry]]', 'prefix = "unreachable.example"', 'location = "127.0.0.1:1"', 'insecure = true', '',
    '[[registry]]', 'prefix = "blocked.example"', 'location = "blocked.example"', 'blocked = true', '',
  ].join('\n');
  d = await startDaemon({ registriesConf: conf, configYaml: `image:\n  pinned_images: ["${imgs.user1000.reference}"]\n` });
});
after(async () => {
  await d?.stop();
  await gated?.close();
  await registry?.stop();
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

async function pull(image: string): Promise<string> {
  const r = await d.client.call('PullImage', { image: { image } });
  return r.image_ref as string;
}

async function status(image: string): Promise<Record<string, any> | null> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (await d.client.call('ImageStatus', { image: { image } })).image;
}

test('PullImage returns the image id, and ImageStatus and ListImages describe the image', async () => {
  const ref = await pull(imgs.busybox.reference);
  assert.equal(ref, imgs.busybox.imageId);
  const img = await status(imgs.busybox.reference);
  assert.ok(img);
  assert.equal(img.id, imgs.busybox.imageId);
  assert.deepEqual(img.repo_tags, [imgs.busybox.reference]);
  assert.deepEqual(img.repo_digests, [imgs.busybox.digestReference]);
  assert.ok(Number(img.size) > 0);
  assert.equal(img.pinned, false);
  const list = (await d.client.call('ListImages', {})).images as { id: string }[];
  assert.ok(list.some((i) => i.id === imgs.busybox.imageId));
  const streamed = (await d.client.stream('StreamImages', {})).flatMap((m) => m.images as { id: string }[]);
  assert.deepEqual(streamed.map((i) => i.id).sort(), list.map((i) => i.id).sort());
});

test('ImageStatus finds an image by id, id prefix and digest, and answers an absent one with no image', async () => {
  await pull(imgs.busybox.reference);
  const hex = imgs.busybox.imageId.slice('sha256:'.length);
  for (const spec of [imgs.busybox.imageId, hex, hex.slice(0, 12), imgs.busybox.digestReference]) {
    assert.equal((await status(spec))?.id, imgs.busybox.imageId, spec);
  }
  assert.equal(await status(`${registry.host}/critter-test/never-pushed:1`), null);
  const verbose = await d.client.call('ImageStatus', { image: { image: imgs.busybox.reference }, verbose: true });
  const info = JSON.parse(verbose.info.info as string) as { imageSpec: { config: { Cmd: string[] } } };
  assert.deepEqual(info.imageSpec.config.Cmd, ['sh']);
});

test('a short name resolves through registries.conf to docker.io and the local registry behind it', async () => {
  const ref = await pull('busybox');
  assert.equal(ref, imgs.busyboxShortName.imageId);
  const img = await status('busybox');
  assert.ok((img?.repo_tags as string[]).includes('docker.io/library/busybox:latest'), JSON.stringify(img?.repo_tags));
});

test('zstd, uncompressed and Docker-media-type images pull; a multi-arch index yields this node\'s platform', async () => {
  assert.equal(await pull(imgs.zstd.reference), imgs.zstd.imageId);
  assert.equal(await pull(imgs.uncompressed.reference), imgs.uncompressed.imageId);
  assert.equal(await pull(imgs.docker.reference), imgs.docker.imageId);
  const archKey = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
  assert.equal(await pull(imgs.multiArch.reference), imgs.multiArch.manifests[archKey]!.imageId);
  assert.equal(await pull(imgs.multiArchDocker.reference), imgs.multiArchDocker.manifests[archKey]!.imageId);
  const img = await status(imgs.multiArch.reference);
  // The repo digest is the index's: what the reference resolved to.
  assert.ok((img?.repo_digests as string[]).includes(imgs.multiArch.digestReference), JSON.stringify(img?.repo_digests));
});

test('two tags of one image are one image; RemoveImage by one tag removes every name, and again is a no-op', async () => {
  await pull(imgs.busybox.reference);
  await pull(imgs.busyboxAltTag.reference);
  const img = await status(imgs.busyboxAltTag.reference);
  // Other standard images share this config (so this image id) too; both tags must be there.
  for (const tag of [imgs.busybox.reference, imgs.busyboxAltTag.reference]) assert.ok((img?.repo_tags as string[]).includes(tag), tag);
  await d.client.call('RemoveImage', { image: { image: imgs.busyboxAltTag.reference } });
  assert.equal(await status(imgs.busybox.reference), null);
  assert.equal(await status(imgs.busybox.imageId), null);
  await d.client.call('RemoveImage', { image: { image: imgs.busyboxAltTag.reference } });
  await d.client.call('RemoveImage', { image: { image: imgs.busybox.imageId } });
});

test('the config User becomes uid or username, and configured pinned images are pinned', async () => {
  await pull(imgs.user1000.reference);
  await pull(imgs.userWwwData.reference);
  const u = await status(imgs.user1000.reference);
  assert.equal(u?.uid?.value, '1000');
  assert.equal(u?.pinned, true);
  const w = await status(imgs.userWwwData.reference);
  assert.equal(w?.username, 'www-data');
  assert.equal(w?.uid, null);
  assert.equal(w?.pinned, false);
});

test('bad references and unreachable, blocked or missing images fail with the right code naming what failed', async () => {
  await assert.rejects(pull('Not/A:Valid:Ref'), grpcError(Code.INVALID_ARGUMENT, 'Not/A:Valid:Ref'));
  await assert.rejects(pull(''), grpcError(Code.INVALID_ARGUMENT, 'image'));
  await assert.rejects(pull(`${registry.host}/critter-test/busybox:no-such-tag`), grpcError(Code.NOT_FOUND, 'no-such-tag', registry.host));
  await assert.rejects(pull('unreachable.example/some/image:1'), grpcError(Code.UNAVAILABLE, '127.0.0.1:1'));
  await assert.rejects(pull('blocked.example/some/image:1'), grpcError(Code.FAILED_PRECONDITION, 'blocked.example'));
  await assert.rejects(d.client.call('PullImage', { image: { image: imgs.busybox.reference, runtime_handler: 'kata' } }), grpcError(Code.INVALID_ARGUMENT, 'kata'));
});

test('identical concurrent pulls share one operation and all get the image id', async () => {
  const refs = await Promise.all([1, 2, 3].map(() => pull(imgs.large.reference)));
  assert.deepEqual(refs, [imgs.large.imageId, imgs.large.imageId, imgs.large.imageId]);
  assert.match(d.logs(), /Joining an identical pull/);
  await d.client.call('RemoveImage', { image: { image: imgs.large.reference } });
});

test('a caller that gives up does not fail another caller sharing the same pull', async () => {
  // Through the gated proxy: the pull waits there until the test opens it.
  const ref = `gated.example/${imgs.large.reference.slice(registry.host.length + 1)}`;
  const joins = (): number => d.logs().split('Joining an identical pull').length;
  const joinsBefore = joins();
  const impatient = d.client.call('PullImage', { image: { image: ref } }, { deadlineMs: 300 });
  impatient.catch(() => undefined);
  // The patient caller comes once the daemon says the impatient one's pull is running…
  await waitForMetric(d, 'critter_image_pulls_in_progress', 1);
  const patient = pull(ref);
  // …joins it, and the impatient one gives up while the pull is held at the proxy.
  const deadline = Date.now() + 10_000;
  while (joins() === joinsBefore) {
    if (Date.now() > deadline) throw new Error('the second caller never joined the pull');
    await new Promise((r) => setTimeout(r, 10));
  }
  await assert.rejects(impatient, (err: { code: number }) => err.code === Code.DEADLINE_EXCEEDED);
  gated.open();
  assert.equal(await patient, imgs.large.imageId);
  await d.client.call('RemoveImage', { image: { image: ref } });
});

test('a pull cut short by its deadline registers nothing and leaves no partial layer behind', async () => {
  const layersDir = join(d.dirs.root, 'overlay');
  const before = new Set(await readdir(layersDir));
  const logsBefore = d.logs().length;
  await assert.rejects(d.client.call('PullImage', { image: { image: imgs.large.reference } }, { deadlineMs: 60 }), (err: { code: number }) => {
    assert.ok(err.code === Code.DEADLINE_EXCEEDED || err.code === Code.CANCELLED, Code[err.code]);
    return true;
  });
  // The daemon aborts the pull when the deadline passes and cleans up; it logs when that is over.
  const deadline = Date.now() + 15_000;
  while (!/Pull operation over[^\n]*"abandoned":true|"abandoned":true[^\n]*Pull operation over/.test(d.logs().slice(logsBefore))) {
    if (Date.now() > deadline) throw new Error('the abandoned pull did not end within 15 s');
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(await status(imgs.large.reference), null);
  const leftover = (await readdir(layersDir)).filter((n) => !before.has(n));
  assert.deepEqual(leftover, [], 'no new layer directories');
});

test('ImageFsInfo reports bytes and inodes used under the storage root', async () => {
  await pull(imgs.busybox.reference);
  const r = await d.client.call('ImageFsInfo', {});
  const fs = r.image_filesystems[0];
  assert.ok(fs.fs_id.mountpoint.startsWith(d.dirs.root), fs.fs_id.mountpoint);
  assert.ok(Number(fs.used_bytes.value) > 1_000_000, fs.used_bytes.value);
  assert.ok(Number(fs.inodes_used.value) > 10, fs.inodes_used.value);
  assert.ok(BigInt(fs.timestamp) > 0n);
});

test('images survive a daemon restart', async () => {
  await pull(imgs.busybox.reference);
  await d.stop({ keepDirs: true });
  d = await startDaemon({ dirs: d.dirs, registriesConf: registriesConfText(registry.host) });
  assert.equal((await status(imgs.busybox.reference))?.id, imgs.busybox.imageId);
});
