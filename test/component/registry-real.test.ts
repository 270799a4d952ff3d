/**
 * RegistryClient against a real distribution registry (docker-registry) on loopback,
 * configured as an insecure registry (plain HTTP): push a tiny OCI image with the
 * distribution push API, then resolve it and read its layer back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { request } from 'undici';
import { NotFoundError } from '../../src/lib/errors.ts';
import { RegistriesConf } from '../../src/image/registries-conf.ts';
import { RegistryClient } from '../../src/image/registry/registry-client.ts';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const log = pino({ level: 'silent' });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Monolithic blob upload: POST to open a session, PUT with the digest to finish it. */
async function pushBlob(base: string, repo: string, blob: Buffer): Promise<string> {
  const digest = sha(blob);
  const start = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.body.dump();
  assert.equal(start.statusCode, 202);
  const location = new URL(String(start.headers['location']), base);
  location.searchParams.set('digest', digest);
  const put = await request(location.href, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
  await put.body.dump();
  assert.equal(put.statusCode, 201);
  return digest;
}

async function pushImage(base: string, repo: string, tag: string): Promise<{ manifest: Buffer; config: Buffer; layer: Buffer }> {
  const layer = gzipSync(Buffer.from('not really a tar, the client does not care'));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(base, repo, config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await pushBlob(base, repo, layer), size: layer.length }],
    }),
  );
  const put = await request(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  await put.body.dump();
  assert.equal(put.statusCode, 201);
  return { manifest, config, layer };
}

async function waitForRegistry(base: string, exited: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (exited()) throw new Error('docker-registry exited during start-up');
    try {
      const res = await request(`${base}/v2/`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error('docker-registry did not start within 5 s');
}

test('RegistryClient resolves and reads an image pushed to a real registry over plain HTTP', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'registry-real-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const base = `http://${host}`;
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\n`,
  );
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  await writeFile(join(dir, 'registries.conf'), `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  const client = new RegistryClient({
    log,
    registriesConf: await RegistriesConf.load(join(dir, 'registries.conf')),
    certsDir: join(dir, 'certs.d'),
    stallTimeoutMs: 5000,
    userAgent: 'critter-test',
  });
  try {
    await waitForRegistry(base, () => exited);
    const pushed = await pushImage(base, 'tiny/app', 'v1');
    const op = { log, signal: AbortSignal.timeout(20_000) };

    const resolved = await client.resolve(op, `${host}/tiny/app:v1`);
    assert.equal(resolved.manifestDigest, sha(pushed.manifest));
    assert.equal(resolved.referenceDigest, sha(pushed.manifest));
    assert.equal(resolved.configDigest, sha(pushed.config));
    assert.deepEqual(resolved.config, pushed.config);
    assert.equal(resolved.source.endpoint.host, host);
    const layer = resolved.layers[0];
    assert.ok(layer);
    const chunks: Buffer[] = [];
    for await (const chunk of await client.openBlob(op, resolved.source, layer)) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), pushed.layer);

    const byDigest = await client.resolve(op, `${host}/tiny/app@${sha(pushed.manifest)}`);
    assert.equal(byDigest.manifestDigest, sha(pushed.manifest));
    await assert.rejects(client.resolve(op, `${host}/tiny/app:missing`), NotFoundError);
    await assert.rejects(client.resolve(op, `${host}/tiny/nothing:v1`), NotFoundError);
  } finally {
    await client.close();
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  }
});
