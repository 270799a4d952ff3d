/**
 * The test registry fixture against the real Debian docker-registry: start it, push the
 * standard images, read every manifest back over plain HTTP, stop it and check nothing is
 * left behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { access, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { MEDIA_TYPES } from '../fixtures/media-types.ts';
import { opensslAvailable, startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import type { PushedImage } from '../fixtures/image-push.ts';

const ACCEPT = [MEDIA_TYPES.oci.manifest, MEDIA_TYPES.oci.index, MEDIA_TYPES.docker.manifest, MEDIA_TYPES.docker.index].join(', ');

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a manifest of either family, read by the assertions
async function getManifest(registry: RunningRegistry, repo: string, ref: string): Promise<{ mediaType: string; digest: string; body: Buffer; json: any }> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
  assert.equal(res.status, 200, `GET manifest ${repo}:${ref}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { mediaType: res.headers.get('content-type') ?? '', digest: res.headers.get('docker-content-digest') ?? '', body, json: JSON.parse(body.toString('utf8')) };
}

async function getBlob(registry: RunningRegistry, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `GET blob ${repo}@${digest}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Checks the manifest the registry serves is the one we pushed, and its config blob is the image ID. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the image config JSON, read by the assertions
async function assertImage(registry: RunningRegistry, img: PushedImage, family: 'oci' | 'docker'): Promise<any> {
  const m = await getManifest(registry, img.repo, img.tag ?? img.manifestDigest);
  assert.equal(m.mediaType, MEDIA_TYPES[family].manifest, `${img.reference} media type`);
  assert.equal(m.digest, img.manifestDigest);
  assert.equal(sha256(m.body), img.manifestDigest);
  assert.equal(m.json.config.mediaType, MEDIA_TYPES[family].config);
  assert.equal(m.json.config.digest, img.imageId);
  const config = JSON.parse((await getBlob(registry, img.repo, img.configDigest)).toString('utf8'));
  assert.deepEqual(config.rootfs.diff_ids, img.layers.map((l) => l.diffId));
  assert.deepEqual(m.json.layers.map((l: { digest: string }) => l.digest), img.layers.map((l) => l.digest));
  return config;
}

describe('standardTestImages() against docker-registry', () => {
  let registry: RunningRegistry;
  let images: StandardTestImages;
  let pushMs = 0;

  before(async () => {
    registry = await startRegistry();
    const t0 = Date.now();
    images = await standardTestImages(registry);
    pushMs = Date.now() - t0;
  });
  after(async () => { await registry?.stop(); });

  test('startRegistry() listens on loopback and answers the distribution API version check', async (t) => {
    t.diagnostic(`standardTestImages took ${pushMs} ms`);
    assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
    const res = await fetch(`${registry.url}/v2/`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });

  test('standardTestImages() pushes busybox under two tags with one digest and the Cmd sh', async () => {
    const config = await assertImage(registry, images.busybox, 'oci');
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.equal(config.os, 'linux');
    const alt = await getManifest(registry, 'critter-test/busybox', '1.36');
    assert.equal(alt.digest, images.busybox.manifestDigest);
    assert.equal(images.busyboxShortName.manifestDigest, images.busybox.manifestDigest);
    await assertImage(registry, images.busyboxShortName, 'oci');
  });

  test('standardTestImages() layer media types match their compression', async () => {
    const magic = async (img: PushedImage, i: number): Promise<Buffer> => getBlob(registry, img.repo, img.layers[i]!.digest);
    await assertImage(registry, images.zstd, 'oci');
    assert.ok(images.zstd.layers.every((l) => l.mediaType === MEDIA_TYPES.oci.layer.zstd));
    assert.deepEqual([...(await magic(images.zstd, 1)).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    await assertImage(registry, images.uncompressed, 'oci');
    assert.ok(images.uncompressed.layers.every((l) => l.mediaType === MEDIA_TYPES.oci.layer.none));
    const tar = await magic(images.uncompressed, 1);
    assert.equal(tar.subarray(257, 262).toString('latin1'), 'ustar');
    assert.equal(sha256(tar), images.uncompressed.layers[1]!.diffId, 'an uncompressed layer digest is its diff ID');
    await assertImage(registry, images.docker, 'docker');
    assert.ok(images.docker.layers.every((l) => l.mediaType === MEDIA_TYPES.docker.layer.gzip));
    assert.deepEqual([...(await magic(images.docker, 0)).subarray(0, 2)], [0x1f, 0x8b]);
  });

  test('standardTestImages() pushes an OCI index and a Docker manifest list with two platforms', async () => {
    for (const [idx, family] of [[images.multiArch, 'oci'], [images.multiArchDocker, 'docker']] as const) {
      const m = await getManifest(registry, idx.repo, idx.tag);
      assert.equal(m.mediaType, MEDIA_TYPES[family].index);
      assert.equal(m.digest, idx.manifestDigest);
      const platforms = m.json.manifests.map((d: { platform: { os: string; architecture: string } }) => `${d.platform.os}/${d.platform.architecture}`);
      assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64']);
      for (const d of m.json.manifests as { digest: string; mediaType: string }[]) {
        assert.equal(d.mediaType, MEDIA_TYPES[family].manifest);
        const child = await getManifest(registry, idx.repo, d.digest);
        assert.equal(child.digest, d.digest);
      }
      const arm = idx.manifests['linux/arm64']!;
      const config = await assertImage(registry, arm, family);
      assert.equal(config.architecture, 'arm64');
    }
    assert.notEqual(images.multiArch.manifests['linux/amd64']!.imageId, images.multiArch.manifests['linux/arm64']!.imageId);
  });

  test('standardTestImages() image configs carry User, web server Cmd and the configured fields', async () => {
    assert.equal((await assertImage(registry, images.user1000, 'oci')).config.User, '1000');
    assert.equal((await assertImage(registry, images.userWwwData, 'oci')).config.User, 'www-data');
    const web = await assertImage(registry, images.web, 'oci');
    assert.deepEqual(web.config.Cmd, ['httpd', '-f', '-p', '80', '-h', '/var/www']);
    assert.deepEqual(web.config.ExposedPorts, { '80/tcp': {} });
    const configured = await assertImage(registry, images.configured, 'oci');
    assert.equal(configured.config.WorkingDir, '/work');
    assert.equal(configured.config.StopSignal, 'SIGUSR1');
    assert.deepEqual(configured.config.Entrypoint, ['/bin/sh', '-c']);
    assert.equal((await assertImage(registry, images.layered, 'oci')).rootfs.diff_ids.length, 3);
    await assertImage(registry, images.large, 'oci');
    assert.ok(images.large.layersSize > 30 * 1024 * 1024, `large image is ${images.large.layersSize} bytes`);
  });

  test('standardTestImages() is idempotent: a second push gives identical digests', async () => {
    const again = await standardTestImages(registry);
    assert.deepEqual(again, images);
  });
});

test('RunningRegistry.stop() ends the process and removes its storage', async () => {
  const registry = await startRegistry();
  try {
    assert.ok(alive(registry.pid), 'registry runs after start');
  } finally {
    await registry.stop();
  }
  assert.equal(alive(registry.pid), false, `registry pid ${registry.pid} still alive after stop()`);
  await assert.rejects(access(registry.storageDir), /ENOENT/);
  await assert.rejects(fetch(`${registry.url}/v2/`));
  await registry.stop();
});

test('startRegistry() registry dies with a test process killed by SIGKILL', async () => {
  const fixture = new URL('../fixtures/registry.js', import.meta.url).href;
  const script = `const { startRegistry } = await import(${JSON.stringify(fixture)});
const r = await startRegistry();
process.stdout.write(String(r.pid) + ' ' + r.storageDir + '\\n', () => process.kill(process.pid, 'SIGKILL'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  await new Promise((resolve) => child.once('exit', resolve));
  const [pidText, storageDir] = out.trim().split(' ');
  const pid = Number(pidText);
  assert.ok(pid > 0, `child printed ${JSON.stringify(out)}`);
  try {
    const deadline = Date.now() + 5_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid), false, `registry ${pid} outlived its killed parent`);
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    // The killed process could not remove its temp dir; its parent dir is the registry's work dir.
    if (storageDir) await rm(dirname(storageDir), { recursive: true, force: true });
  }
});

test('startRegistry({ tls: true }) serves HTTPS with a certificate trusted through caCertPem', async (t) => {
  if (!(await opensslAvailable())) {
    t.skip('openssl is not installed');
    return;
  }
  const registry = await startRegistry({ tls: true });
  const trusting = new Agent({ connect: { ca: registry.caCertPem } });
  try {
    assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(registry.caCertFile);
    const res = await fetch(`${registry.url}/v2/`, { dispatcher: trusting });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    await assert.rejects(fetch(`${registry.url}/v2/`), 'an untrusted self-signed certificate is refused');
  } finally {
    await trusting.close();
    await registry.stop();
  }
  assert.equal(alive(registry.pid), false);
});
