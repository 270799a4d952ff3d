/**
 * The offline image builder (tar layers from the host's busybox, zstd through the zstd CLI)
 * and the registries.conf writer, without a registry.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parse as parseToml } from 'smol-toml';
import { extract } from 'tar-stream';
import { run } from '../../src/lib/exec.ts';
import {
  BlobCache, buildImage, buildLayer, busyboxApplets, busyboxRootfsLayer, dir, file, hardlink, opaque, sha256Digest, symlink, whiteout,
} from '../fixtures/image-builder.ts';
import { REWRITTEN_REGISTRIES, writeRegistriesConf } from '../fixtures/registries-conf.ts';

const scratch = await mkdtemp(join(tmpdir(), 'critter-fixtures-test-'));
const cache = new BlobCache(join(scratch, 'cache'));
after(async () => { await rm(scratch, { recursive: true, force: true }); });

interface TarItem { name: string; type: string; mode: number; uid: number; linkname: string | null; body: string }

async function listTar(tar: Buffer): Promise<TarItem[]> {
  const ex = extract();
  const items: TarItem[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      items.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, linkname: h.linkname ?? null, body: Buffer.concat(chunks).toString('utf8') });
    }
  })();
  ex.end(tar);
  await done;
  return items;
}

test('buildLayer() writes whiteouts, opaque markers, links and ownership as the OCI layer format says', async () => {
  const layer = await buildLayer({
    entries: [
      dir('a'), file('a/f', 'hello', { mode: 0o600, uid: 1000, gid: 1000 }), hardlink('a/h', '/a/f'), symlink('a/s', '../etc/x'),
      whiteout('a/gone'), dir('o'), opaque('o'),
    ],
  }, 'gzip', cache);
  const tar = gunzipSync(await readFile(layer.file));
  assert.equal(sha256Digest(tar), layer.diffId);
  assert.equal(sha256Digest(await readFile(layer.file)), layer.digest);
  const items = await listTar(tar);
  assert.deepEqual(items.map((i) => [i.name, i.type]), [
    ['a', 'directory'], ['a/f', 'file'], ['a/h', 'link'], ['a/s', 'symlink'], ['a/.wh.gone', 'file'], ['o', 'directory'], ['o/.wh..wh..opq', 'file'],
  ]);
  const f = items.find((i) => i.name === 'a/f')!;
  assert.equal(f.mode, 0o600);
  assert.equal(f.uid, 1000);
  assert.equal(f.body, 'hello');
  assert.equal(items.find((i) => i.name === 'a/h')!.linkname, 'a/f');
  assert.equal(items.find((i) => i.name === 'a/s')!.linkname, '../etc/x');
});

test('buildLayer() refuses paths that leave the layer unless rawPath asks for a hostile tar', async () => {
  await assert.rejects(buildLayer({ entries: [file('a/../../escape', 'x')] }, 'none', cache), /not inside the layer/);
  const hostile = await buildLayer({
    entries: [file('../escape', 'x', { rawPath: true }), file('/abs', 'y', { rawPath: true }), hardlink('h', '../../etc/passwd', { rawPath: true })],
  }, 'none', cache);
  const items = await listTar(await readFile(hostile.file));
  assert.deepEqual(items.map((i) => [i.name, i.linkname]), [['../escape', null], ['/abs', null], ['h', '../../etc/passwd']]);
});

test('buildLayer() is deterministic and zstd output decompresses to the same tar', async () => {
  const spec = { entries: [file('x', 'same bytes')] };
  const gz1 = await buildLayer(spec, 'gzip', cache);
  const gz2 = await buildLayer(spec, 'gzip', new BlobCache(join(scratch, 'other-cache')));
  assert.equal(gz1.digest, gz2.digest);
  const zst = await buildLayer(spec, 'zstd', cache);
  assert.equal(zst.diffId, gz1.diffId);
  assert.notEqual(zst.digest, gz1.digest);
  const out = join(scratch, 'x.tar');
  await run('zstd', ['-q', '-d', '-f', '-o', out, zst.file], { timeoutMs: 10_000 });
  assert.equal(sha256Digest(await readFile(out)), zst.diffId);
});

test('busyboxRootfsLayer() links every applet to /bin/busybox and sets /tmp 1777', async () => {
  const applets = await busyboxApplets();
  for (const needed of ['sh', 'sleep', 'cat', 'echo', 'id', 'wget', 'httpd', 'nc', 'top']) assert.ok(applets.includes(needed), needed);
  const layer = await buildLayer(await busyboxRootfsLayer(), 'gzip', cache);
  const items = await listTar(gunzipSync(await readFile(layer.file)));
  const byName = new Map(items.map((i) => [i.name, i]));
  assert.equal(byName.get('bin/busybox')?.type, 'file');
  for (const a of applets) assert.equal(byName.get(`bin/${a}`)?.linkname, 'bin/busybox', a);
  assert.equal(byName.get('tmp')?.mode, 0o1777);
  assert.equal(byName.get('root')?.mode, 0o700);
  assert.ok(byName.has('var/run'));
  const passwd = byName.get('etc/passwd')!.body;
  for (const line of ['root:x:0:0:', 'www-data:x:33:33:', 'nobody:x:65534:65534:', ':x:1000:1000:']) assert.ok(passwd.includes(line), line);
});

test('buildImage() refuses zstd with Docker media types and records the platform', async () => {
  await assert.rejects(buildImage({ layers: [{ entries: [file('x', 'y')] }], compression: 'zstd', mediaTypes: 'docker', cache }), /no layer type for zstd/);
  const img = await buildImage({ layers: [{ entries: [file('x', 'y')] }], platform: 'linux/arm64/v8', config: { User: '33' }, cache });
  const config = JSON.parse(img.config.toString('utf8'));
  assert.deepEqual([config.os, config.architecture, config.variant, config.config.User], ['linux', 'arm64', 'v8', '33']);
  assert.deepEqual(img.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(sha256Digest(img.manifest), img.manifestDigest);
});

test('writeRegistriesConf() rewrites every public registry to the local one, keeping the path', async () => {
  const path = await writeRegistriesConf(join(scratch, 'conf'), '127.0.0.1:5555');
  const conf = parseToml(await readFile(path, 'utf8')) as { 'unqualified-search-registries': string[]; registry: { prefix: string; location: string; insecure: boolean }[] };
  assert.deepEqual(conf['unqualified-search-registries'], ['docker.io']);
  const prefixes = conf.registry.map((r) => r.prefix);
  for (const p of [...REWRITTEN_REGISTRIES, '127.0.0.1:5555']) assert.ok(prefixes.includes(p), p);
  for (const r of conf.registry) {
    assert.equal(r.location, '127.0.0.1:5555');
    assert.equal(r.insecure, true);
  }
});
