import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { DeadlineExceededError, FailedPreconditionError, NotFoundError, PermissionDeniedError, UnavailableError, UnimplementedError } from '../../lib/errors.ts';
import type { Op } from '../../lib/op.ts';
import { RegistriesConf } from '../registries-conf.ts';
import { loadRegistriesConfData } from '../registries-conf-parse.ts';
import { DigestMismatchError } from './registry-errors.ts';
import { RegistryClient } from './registry-client.ts';
import { DOCKER_SCHEMA1_SIGNED_MANIFEST, OCI_INDEX, OCI_MANIFEST } from './media-types.ts';

const log = pino({ level: 'silent' });
const op = (): Op => ({ log, signal: new AbortController().signal });
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Image {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
}

function makeImage(tagline: string): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tagline }));
  const layer = Buffer.from(`layer bytes of ${tagline}`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  return { config, layer, manifest };
}

/** Returns true when it answers asynchronously; a synchronous answer is seen by headersSent. */
type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | void;

/** A tiny registry: routes /v2/<repo>/manifests|blobs/<ref> to maps; `auth` wraps every /v2 request. */
class FakeRegistry {
  readonly manifests = new Map<string, { body: Buffer; type: string }>();
  readonly blobs = new Map<string, Buffer>();
  readonly requests: string[] = [];
  extra: Handler | undefined;
  auth: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  server: Server;

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  push(repo: string, tag: string, image: Image): void {
    this.manifests.set(`${repo}/manifests/${tag}`, { body: image.manifest, type: OCI_MANIFEST });
    this.manifests.set(`${repo}/manifests/${sha(image.manifest)}`, { body: image.manifest, type: OCI_MANIFEST });
    this.blobs.set(`${repo}/blobs/${sha(image.config)}`, image.config);
    this.blobs.set(`${repo}/blobs/${sha(image.layer)}`, image.layer);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}`);
    if (this.extra?.(req, res, url) === true || res.headersSent || res.writableEnded) return;
    if (this.auth !== undefined && url.pathname.startsWith('/v2/') && !this.auth(req, res)) return;
    if (url.pathname === '/v2/') return void res.end('{}');
    const key = url.pathname.slice('/v2/'.length);
    const manifest = this.manifests.get(key);
    if (manifest !== undefined) {
      res.writeHead(200, { 'content-type': manifest.type, 'docker-content-digest': sha(manifest.body) });
      return void res.end(manifest.body);
    }
    const blob = this.blobs.get(key);
    if (blob !== undefined) return void res.end(blob);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: key.includes('/manifests/') ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', message: 'unknown' }] }));
  }
}

async function confFor(text: string): Promise<RegistriesConf> {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'registry-client-'));
  try {
    await writeFile(join(dir, 'registries.conf'), text);
    return new RegistriesConf(await loadRegistriesConfData(join(dir, 'registries.conf'), join(dir, 'none.d')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function insecure(...hosts: string[]): Promise<RegistriesConf> {
  return confFor(hosts.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join('\n'));
}

function client(conf: RegistriesConf, stallTimeoutMs = 2000, platform?: { os: string; architecture: string; variant?: string }): RegistryClient {
  return new RegistryClient({ log, registriesConf: conf, certsDir: '/nonexistent-certs.d', stallTimeoutMs, userAgent: 'critter-test', ...(platform ? { platform } : {}) });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function withRegistry(fn: (reg: FakeRegistry, c: RegistryClient) => Promise<void>, clientFor?: (reg: FakeRegistry) => Promise<RegistryClient>): Promise<void> {
  const reg = await new FakeRegistry().start();
  const c = clientFor ? await clientFor(reg) : client(await insecure(reg.host));
  try {
    await fn(reg, c);
  } finally {
    await c.close();
    await reg.stop();
  }
}

test('RegistryClient.resolve() reads manifest, verified config and layers over insecure http', async () => {
  await withRegistry(async (reg, c) => {
    const img = makeImage('plain');
    reg.push('team/app', 'v1', img);
    const resolved = await c.resolve(op(), `${reg.host}/team/app:v1`);
    assert.equal(resolved.canonicalName, `${reg.host}/team/app`);
    assert.equal(resolved.tag, 'v1');
    assert.equal(resolved.manifestDigest, sha(img.manifest));
    assert.equal(resolved.referenceDigest, sha(img.manifest));
    assert.equal(resolved.configDigest, sha(img.config));
    assert.deepEqual(resolved.config, img.config);
    assert.equal(resolved.mediaType, OCI_MANIFEST);
    assert.equal(resolved.layers.length, 1);
    const layer = resolved.layers[0];
    assert.ok(layer);
    assert.deepEqual(await readAll(await c.openBlob(op(), resolved.source, layer)), img.layer);
    // Pull by digest verifies the manifest digest.
    const byDigest = await c.resolve(op(), `${reg.host}/team/app@${sha(img.manifest)}`);
    assert.equal(byDigest.tag, undefined);
  });
});

test('RegistryClient.resolve() follows the bearer token flow with the repository scope', async () => {
  await withRegistry(async (reg, c) => {
    reg.push('team/app', 'v1', makeImage('bearer'));
    const tokenRequests: string[] = [];
    reg.extra = (req, res, url) => {
      if (url.pathname !== '/token') return;
      tokenRequests.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')} ${req.headers.authorization ?? 'anonymous'}`);
      if (req.headers.authorization !== `Basic ${Buffer.from('bob:s3cret').toString('base64')}`) {
        res.writeHead(401);
        return void res.end();
      }
      res.end(JSON.stringify({ token: 'tok-123', expires_in: 300 }));
    };
    reg.auth = (req, res) => {
      if (req.headers.authorization === 'Bearer tok-123') return true;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${reg.host}/token",service="fake-registry",scope="repository:team/app:pull"` });
      res.end();
      return false;
    };
    const creds = { username: 'bob', password: 's3cret' };
    await c.resolve(op(), `${reg.host}/team/app:v1`, creds);
    await c.resolve(op(), `${reg.host}/team/app:v1`, creds);
    assert.deepEqual(tokenRequests, [`fake-registry repository:team/app:pull Basic ${Buffer.from('bob:s3cret').toString('base64')}`], 'token fetched once and cached');

    await assert.rejects(c.resolve(op(), `${reg.host}/team/app:v1`, { username: 'bob', password: 'wrong-password-xyz' }), (err: unknown) => {
      assert.ok(err instanceof PermissionDeniedError, String(err));
      assert.match(err.message, /bad credentials/);
      assert.match(err.message, new RegExp(reg.host.replace(/\./g, '\\.')));
      assert.ok(!err.message.includes('wrong-password-xyz'));
      return true;
    });
  });
});

test('RegistryClient.resolve() exchanges an identity token and sends a registry token as is', async () => {
  await withRegistry(async (reg, c) => {
    reg.push('app', 'v1', makeImage('oauth'));
    const seen: string[] = [];
    reg.extra = (req, res, url) => {
      if (url.pathname !== '/token' || req.method !== 'POST') return;
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        seen.push(`${form.get('grant_type')} ${form.get('refresh_token')} ${form.get('scope')}`);
        res.end(JSON.stringify({ access_token: 'from-refresh' }));
      });
      return true;
    };
    reg.auth = (req, res) => {
      if (req.headers.authorization === 'Bearer from-refresh' || req.headers.authorization === 'Bearer direct') return true;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${reg.host}/token",service="svc"` });
      res.end();
      return false;
    };
    await c.resolve(op(), `${reg.host}/app:v1`, { identityToken: 'refresh-abc' });
    assert.deepEqual(seen, ['refresh_token refresh-abc repository:app:pull']);
    await c.resolve(op(), `${reg.host}/app:v1`, { registryToken: 'direct' });
  });
});

test('RegistryClient.resolve() answers a Basic challenge and maps refusal to PermissionDenied', async () => {
  await withRegistry(async (reg, c) => {
    reg.push('app', 'v1', makeImage('basic'));
    const good = `Basic ${Buffer.from('al:pw').toString('base64')}`;
    reg.auth = (req, res) => {
      if (req.headers.authorization === good) return true;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
      res.end();
      return false;
    };
    await c.resolve(op(), `${reg.host}/app:v1`, { username: 'al', password: 'pw' });
    await assert.rejects(c.resolve(op(), `${reg.host}/app:v1`, { username: 'al', password: 'not-this-one' }), (err: unknown) => {
      assert.ok(err instanceof PermissionDeniedError);
      assert.ok(!err.message.includes('not-this-one'));
      return true;
    });
    await assert.rejects(c.resolve(op(), `${reg.host}/app:v1`), /authentication required/);
  });
});

test('RegistryClient.resolve() maps 404 to NotFound and refused connections to Unavailable', async () => {
  await withRegistry(async (reg, c) => {
    await assert.rejects(c.resolve(op(), `${reg.host}/app:nope`), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /image ".*\/app:nope" not found on registry 127\.0\.0\.1:\d+ .*MANIFEST_UNKNOWN/);
      return true;
    });
  });
  const closed = await new FakeRegistry().start();
  const host = closed.host;
  await closed.stop();
  const c = client(await insecure(host));
  try {
    await assert.rejects(c.resolve(op(), `${host}/app:v1`), (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, new RegExp(`registry ${host.replace(/\./g, '\\.')} unreachable: connection refused`));
      return true;
    });
  } finally {
    await c.close();
  }
});

test('RegistryClient.resolve() refuses schema 1 manifests', async () => {
  await withRegistry(async (reg, c) => {
    reg.manifests.set('old/manifests/v1', { body: Buffer.from('{"schemaVersion":1,"name":"old","fsLayers":[]}'), type: DOCKER_SCHEMA1_SIGNED_MANIFEST });
    await assert.rejects(c.resolve(op(), `${reg.host}/old:v1`), (err: unknown) => err instanceof UnimplementedError && /schema 1/.test(err.message));
  });
});

test('RegistryClient.resolve() selects the platform from an index', async () => {
  const amd = makeImage('amd64');
  const armv7 = makeImage('armv7');
  const armv6 = makeImage('armv6');
  const arm64 = makeImage('arm64');
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: sha(amd.manifest), size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: sha(armv6.manifest), size: armv6.manifest.length, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
        { mediaType: OCI_MANIFEST, digest: sha(armv7.manifest), size: armv7.manifest.length, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { mediaType: OCI_MANIFEST, digest: sha(arm64.manifest), size: arm64.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  const reg = await new FakeRegistry().start();
  try {
    for (const img of [amd, armv7, armv6, arm64]) reg.push('multi', `x-${sha(img.manifest).slice(7, 15)}`, img);
    reg.manifests.set('multi/manifests/v1', { body: index, type: OCI_INDEX });
    const conf = await insecure(reg.host);
    const cases: [{ os: string; architecture: string; variant?: string }, Image | undefined][] = [
      [{ os: 'linux', architecture: 'amd64' }, amd],
      [{ os: 'linux', architecture: 'arm', variant: 'v7' }, armv7],
      [{ os: 'linux', architecture: 'arm', variant: 'v6' }, armv6],
      [{ os: 'linux', architecture: 'arm64' }, arm64],
      [{ os: 'linux', architecture: 's390x' }, undefined],
    ];
    for (const [platform, want] of cases) {
      const c = client(conf, 2000, platform);
      try {
        if (want === undefined) {
          await assert.rejects(c.resolve(op(), `${reg.host}/multi:v1`), /no manifest for platform linux\/s390x \(index offers: linux\/amd64, linux\/arm\/v6/);
          continue;
        }
        const resolved = await c.resolve(op(), `${reg.host}/multi:v1`);
        assert.equal(resolved.manifestDigest, sha(want.manifest), JSON.stringify(platform));
        assert.equal(resolved.referenceDigest, sha(index));
      } finally {
        await c.close();
      }
    }
  } finally {
    await reg.stop();
  }
});

test('RegistryClient.resolve() detects manifest and config digest mismatches', async () => {
  await withRegistry(async (reg, c) => {
    const img = makeImage('tampered');
    reg.push('app', 'v1', img);
    const fake = Buffer.from(img.manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    reg.manifests.set(`app/manifests/${sha(img.manifest)}`, { body: fake, type: OCI_MANIFEST });
    await assert.rejects(c.resolve(op(), `${reg.host}/app@${sha(img.manifest)}`), (err: unknown) => err instanceof DigestMismatchError && /manifest of/.test(err.message));
    reg.blobs.set(`app/blobs/${sha(img.config)}`, Buffer.from(img.config.toString().replace('amd64', 'arm64')));
    await assert.rejects(c.resolve(op(), `${reg.host}/app:v1`), (err: unknown) => err instanceof DigestMismatchError && /config sha256:/.test(err.message));
  });
});

test('RegistryClient.resolve() tries mirrors in order and falls back, but not on digest mismatch', async () => {
  const primary = await new FakeRegistry().start();
  const mirrorA = await new FakeRegistry().start();
  const mirrorB = await new FakeRegistry().start();
  const good = makeImage('mirrored');
  primary.push('lib/app', 'v1', good);
  mirrorB.push('lib/app', 'v1', good);
  const conf = await confFor(`
[[registry]]
prefix = "registry.example.com"
location = "${primary.host}"
insecure = true
[[registry.mirror]]
location = "${mirrorA.host}"
insecure = true
[[registry.mirror]]
location = "${mirrorB.host}"
insecure = true
`);
  const c = client(conf);
  try {
    const resolved = await c.resolve(op(), 'registry.example.com/lib/app:v1');
    assert.equal(resolved.source.endpoint.host, mirrorB.host);
    assert.ok(resolved.source.mirror);
    assert.equal(resolved.canonicalName, 'registry.example.com/lib/app');
    assert.ok(mirrorA.requests.includes('GET /v2/lib/app/manifests/v1'));
    assert.ok(!primary.requests.includes('GET /v2/lib/app/manifests/v1'));

    const wanted = sha(good.manifest);
    mirrorA.manifests.set(`lib/app/manifests/${wanted}`, { body: Buffer.from('{"schemaVersion":2}'), type: OCI_MANIFEST });
    await assert.rejects(c.resolve(op(), `registry.example.com/lib/app@${wanted}`), DigestMismatchError);

    await assert.rejects(c.resolve(op(), 'registry.example.com/lib/app:missing'), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /mirrors also failed/);
      return true;
    });
  } finally {
    await c.close();
    await Promise.all([primary.stop(), mirrorA.stop(), mirrorB.stop()]);
  }
});

test('RegistryClient.resolve() refuses a blocked registry', async () => {
  const c = client(await confFor('[[registry]]\nlocation = "blocked.example.com"\nblocked = true\n'));
  try {
    await assert.rejects(c.resolve(op(), 'blocked.example.com/app:v1'), (err: unknown) => err instanceof FailedPreconditionError && /blocked\.example\.com/.test(err.message));
  } finally {
    await c.close();
  }
});

test('RegistryClient.openBlob() follows redirects without forwarding the token', async () => {
  const storage = await new FakeRegistry().start();
  let storageAuth: string | undefined = 'unset';
  storage.extra = (req, res, url) => {
    if (url.pathname !== '/bucket/blob') return;
    storageAuth = req.headers.authorization;
    res.end('redirected bytes');
  };
  await withRegistry(async (reg, c) => {
    const img = makeImage('redirect');
    reg.push('app', 'v1', img);
    reg.auth = (req, res) => {
      if (req.headers.authorization === 'Bearer t') return true;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${reg.host}/token"` });
      res.end();
      return false;
    };
    reg.extra = (req, res, url) => {
      if (url.pathname === '/token') return void res.end('{"token":"t"}');
      if (url.pathname === `/v2/app/blobs/${sha(img.layer)}` && req.headers.authorization === 'Bearer t') {
        res.writeHead(307, { location: `http://${storage.host}/bucket/blob` });
        res.end();
      }
    };
    const resolved = await c.resolve(op(), `${reg.host}/app:v1`);
    const layer = resolved.layers[0];
    assert.ok(layer);
    assert.equal((await readAll(await c.openBlob(op(), resolved.source, layer))).toString(), 'redirected bytes');
    assert.equal(storageAuth, undefined);
  });
  await storage.stop();
});

test('RegistryClient.openBlob() stall timeout fires when the server stops sending, not when the consumer is slow', async () => {
  await withRegistry(
    async (reg, c) => {
      const img = makeImage('stall');
      reg.push('app', 'v1', img);
      const big = Buffer.alloc(4 * 1024 * 1024, 7);
      reg.extra = (_req, res, url) => {
        if (url.pathname === '/v2/app/blobs/sha256:' + 'e'.repeat(64)) {
          res.writeHead(200, { 'content-length': '1000' });
          res.write(Buffer.alloc(10)); // then nothing
        }
        if (url.pathname === '/v2/app/blobs/sha256:' + 'f'.repeat(64)) res.end(big);
      };
      const resolved = await c.resolve(op(), `${reg.host}/app:v1`);

      const started = Date.now();
      const stalled = await c.openBlob(op(), resolved.source, { mediaType: '', digest: `sha256:${'e'.repeat(64)}`, size: 1000 });
      await assert.rejects(readAll(stalled), (err: unknown) => err instanceof DeadlineExceededError && /no data received for 300 ms/.test(err.message));
      assert.ok(Date.now() - started < 2000);

      const slow = await c.openBlob(op(), resolved.source, { mediaType: '', digest: `sha256:${'f'.repeat(64)}`, size: big.length });
      let total = 0;
      let paused = false;
      for await (const chunk of slow) {
        total += (chunk as Buffer).length;
        if (!paused) {
          paused = true;
          // Not a synchronisation: a consumer slower than three stall periods, while the
          // server has long finished writing; a stall timer that counted it would fire.
          await sleep(900);
        }
      }
      assert.equal(total, big.length);
    },
    async (reg) => client(await insecure(reg.host), 300),
  );
});

test('RegistryClient.openBlob() aborts with the operation signal', async () => {
  await withRegistry(async (reg, c) => {
    const img = makeImage('abort');
    reg.push('app', 'v1', img);
    reg.extra = (_req, res, url) => {
      if (url.pathname.endsWith('e'.repeat(64))) {
        res.writeHead(200);
        res.write('x');
      }
    };
    const resolved = await c.resolve(op(), `${reg.host}/app:v1`);
    const ac = new AbortController();
    const stream = await c.openBlob({ log, signal: ac.signal }, resolved.source, { mediaType: '', digest: `sha256:${'e'.repeat(64)}`, size: 5 });
    // The server sent one byte and waits: the read is blocked on the body when the caller leaves.
    const reading = readAll(stream);
    ac.abort(new Error('caller went away'));
    await assert.rejects(reading, /caller went away|aborted/);
  });
});
