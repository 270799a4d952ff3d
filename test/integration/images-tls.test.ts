/**
 * Per-registry CA certificates end to end (issue 3): a registry serving HTTPS with a
 * self-signed certificate, and a daemon whose `image.certs_dir` holds
 * `<host:port>/ca.crt` (docker's certs.d layout, as containers/image reads it). The
 * registry is not marked insecure, so TLS is verified: against that CA it succeeds,
 * without it the pull fails; marked insecure, the certificate goes unverified.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, file, pushImage, type PushedImage } from '../fixtures/image-builder.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

let registry: RunningRegistry;
let image: PushedImage;
let work: string;

before(async () => {
  registry = await startRegistry({ tls: true });
  const built = await buildImage({ layers: [{ entries: [file('hello.txt', 'served over TLS\n')] }], config: { Cmd: ['/hello'] } });
  image = await pushImage(registry, 'critter-test/tls', 'v1', built);
  work = await mkdtemp(join(tmpdir(), 'critter-images-tls-'));
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A certs.d dir with the registry's CA filed under `caHost` (or none), and a daemon using it. */
async function withDaemon(name: string, opts: { caHost?: string; insecure: boolean }, fn: (d: RunningDaemon) => Promise<void>): Promise<void> {
  const certsDir = join(work, name, 'certs.d');
  await mkdir(certsDir, { recursive: true });
  if (opts.caHost !== undefined) {
    await mkdir(join(certsDir, opts.caHost));
    await writeFile(join(certsDir, opts.caHost, 'ca.crt'), registry.caCertPem!);
  }
  const d = await startDaemon({
    configYaml: `image:\n  certs_dir: ${JSON.stringify(certsDir)}\n`,
    registriesConf: registriesConfText(registry.host, { insecure: opts.insecure }),
  });
  try {
    await fn(d);
  } finally {
    await d.stop();
  }
}

async function pull(d: RunningDaemon): Promise<string> {
  return (await d.client.call('PullImage', { image: { image: image.reference } })).image_ref as string;
}

test('PullImage() verifies a TLS registry against the CA in <certs_dir>/<host:port>/ca.crt', async () => {
  assert.ok(registry.url.startsWith('https://'), registry.url);
  await withDaemon('with-ca', { caHost: registry.host, insecure: false }, async (d) => {
    assert.equal(await pull(d), image.imageId);
    const status = await d.client.call('ImageStatus', { image: { image: image.reference } });
    assert.equal(status.image?.id, image.imageId);
  });
});

test('PullImage() without a CA for the host fails UNAVAILABLE naming the host and the certificate', async () => {
  // The CA filed under another port must not be used for this host.
  const otherHost = `${registry.host.split(':')[0]}:1`;
  await withDaemon('without-ca', { caHost: otherHost, insecure: false }, async (d) => {
    await assert.rejects(pull(d), (err: { code: number; details: string }) => {
      assert.equal(err.code, Code.UNAVAILABLE, `expected UNAVAILABLE, got ${Code[err.code]}: ${err.details}`);
      assert.ok(err.details.includes(registry.host), `"${err.details}" should name ${registry.host}`);
      assert.match(err.details, /TLS failure: .*certificate/i);
      return true;
    });
    const status = await d.client.call('ImageStatus', { image: { image: image.reference } });
    assert.equal(status.image, null);
  });
});

test('PullImage() from a TLS registry marked insecure succeeds without its CA (unverified TLS)', async () => {
  await withDaemon('insecure', { insecure: true }, async (d) => {
    assert.equal(await pull(d), image.imageId);
  });
});
