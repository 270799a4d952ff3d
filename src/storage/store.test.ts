import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, readFile, readlink, mkdir, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { Store } from './store.ts';
import { chainIdOf } from './digest.ts';
import { buildTar, describeLayer, sha256, type FixtureEntry } from './tar-fixture.ts';
import type { Op } from '../lib/op.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root (layer files are chowned)';
const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const op: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };

interface Layer { blob: Buffer; digest: string; diffId: string }

async function layer(entries: FixtureEntry[]): Promise<Layer> {
  return describeLayer(await buildTar(entries), true);
}

/** A body that yields half of `blob`, then the rest only once open() is called, so callers overlap. */
function gatedBody(blob: Buffer): { body: Readable; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  const half = Math.floor(blob.length / 2);
  const body = Readable.from((async function* () {
    yield blob.subarray(0, half);
    await opened;
    yield blob.subarray(half);
  })());
  return { body, open };
}

describe('Store', { skip: needsRoot }, () => {
  let root: string;
  let store: Store;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'critter-store-'));
    store = await Store.open({ root, log: pino({ level: 'silent' }) });
  });
  afterEach(async () => { await rm(root, { recursive: true, force: true }); });

  async function ingest(l: Layer, parent: string | null, body: Readable = Readable.from([l.blob])) {
    return store.ingestLayer(op, { parentChainId: parent, diffId: l.diffId, digest: l.digest, mediaType: GZ, size: l.blob.length, body });
  }

  async function overlayEntries(): Promise<string[]> {
    return (await readdir(join(root, 'overlay'))).filter((n) => n !== 'l');
  }

  it('Store.ingestLayer() lays out diff/, link, lower and l/ links by chain ID', async () => {
    const l0 = await layer([{ name: 'a', content: 'A' }]);
    const l1 = await layer([{ name: 'b', content: 'B' }]);
    const r0 = await ingest(l0, null);
    const r1 = await ingest(l1, `sha256:${r0.id}`);
    assert.equal(r0.id, l0.diffId.slice(7));
    assert.equal(r1.id, chainIdOf(r0.id, l1.diffId));
    assert.equal(r1.parent, r0.id);
    assert.equal(r1.uncompressedSize, (await buildTar([{ name: 'b', content: 'B' }])).length);
    assert.equal(r1.compressedSize, l1.blob.length);
    assert.equal(await readFile(join(root, 'overlay', r1.id, 'diff', 'b'), 'utf8'), 'B');
    assert.equal(await readFile(join(root, 'overlay', r1.id, 'link'), 'utf8'), r1.shortId);
    assert.equal(await readFile(join(root, 'overlay', r1.id, 'lower'), 'utf8'), `l/${r0.shortId}`);
    assert.equal(await readlink(join(root, 'overlay', 'l', r1.shortId)), `../${r1.id}/diff`);
    assert.deepEqual(store.lowerDirs(r1.id), [join(root, 'overlay', 'l', r1.shortId), join(root, 'overlay', 'l', r0.shortId)]);
    const index = JSON.parse(await readFile(join(root, 'overlay-layers', 'layers.json'), 'utf8'));
    assert.deepEqual(index.layers.map((l: { id: string }) => l.id).sort(), [r0.id, r1.id].sort());
    // Reopened, the store knows both.
    const again = await Store.open({ root, log: pino({ level: 'silent' }) });
    assert.deepEqual(again.getLayer(r1.id), r1);
  });

  for (const which of ['compressed digest', 'diffID', 'size'] as const) {
    it(`Store.ingestLayer() registers nothing and leaves no staging dir on a ${which} mismatch`, async () => {
      const l0 = await layer([{ name: 'a', content: 'A' }]);
      const req = {
        parentChainId: null, mediaType: GZ, body: Readable.from([l0.blob]), size: l0.blob.length,
        digest: which === 'compressed digest' ? sha256('other') : l0.digest,
        diffId: which === 'diffID' ? sha256('other') : l0.diffId,
      };
      if (which === 'size') req.size += 1;
      await assert.rejects(store.ingestLayer(op, req), { code: 'CRI_ERR_DIGEST_MISMATCH' });
      assert.deepEqual(await overlayEntries(), []);
      assert.deepEqual(await readdir(join(root, 'overlay', 'l')), []);
      assert.equal(store.hasLayer(req.diffId.slice(7)), false);
    });
  }

  it('Store.ingestLayer() cleans up after an unsafe layer and after a failing body', async () => {
    const bad = await layer([{ name: '../x', content: 'x' }]);
    await assert.rejects(ingest(bad, null), { code: 'CRI_ERR_UNSAFE_LAYER_ENTRY' });
    const good = await layer([{ name: 'a', content: 'A'.repeat(100_000) }]);
    const failing = Readable.from((async function* () {
      yield good.blob.subarray(0, 100);
      throw new Error('connection reset');
    })());
    await assert.rejects(ingest(good, null, failing), /connection reset/);
    assert.deepEqual(await overlayEntries(), []);
  });

  it('Store.ingestLayer() runs identical concurrent ingests once and skips a present layer', async () => {
    const l0 = await layer([{ name: 'a', content: 'A'.repeat(20_000) }]);
    const second = Readable.from([l0.blob]);
    const first = gatedBody(l0.blob);
    const both = Promise.all([ingest(l0, null, first.body), ingest(l0, null, second)]);
    first.open(); // the second ingest was asked for while the first's body was half read
    const [a, b] = await both;
    assert.equal(a, b);
    assert.ok(second.destroyed, 'the second caller\'s body was not read');
    const third = Readable.from([Buffer.from('not even gzip')]);
    assert.equal(await ingest(l0, null, third), a);
    assert.ok(third.destroyed);
  });

  it('Store.ingestLayer() extracts a child alongside its parent and registers it after', async () => {
    const l0 = await layer([{ name: 'a', content: 'A'.repeat(20_000) }]);
    const l1 = await layer([{ name: 'b', content: 'B' }]);
    const parentBody = gatedBody(l0.blob);
    const both = Promise.all([ingest(l0, null, parentBody.body), ingest(l1, l0.diffId)]);
    parentBody.open(); // the child's ingest began while the parent's body was half read
    const [r0, r1] = await both;
    assert.equal(r1.parent, r0.id);
  });

  it('Store.open() removes half-written layers, stale links and unregistered image data', async () => {
    const l0 = await layer([{ name: 'a', content: 'A' }]);
    const r0 = await ingest(l0, null);
    await mkdir(join(root, 'overlay', '.staging-deadbeef-1', 'diff'), { recursive: true });
    await mkdir(join(root, 'overlay', 'f'.repeat(64), 'diff'), { recursive: true });
    await writeFile(join(root, 'overlay', 'l', 'STALE'), '');
    await mkdir(join(root, 'overlay-images', 'e'.repeat(64)), { recursive: true });
    await Store.open({ root, log: pino({ level: 'silent' }) });
    assert.deepEqual(await overlayEntries(), [r0.id]);
    assert.deepEqual(await readdir(join(root, 'overlay', 'l')), [r0.shortId]);
    assert.deepEqual(await readdir(join(root, 'overlay-images')), []);
  });

  it('Store.removeImage() frees only layers no other image or user needs, and is idempotent', async () => {
    const base = await layer([{ name: 'base', content: 'base' }]);
    const top1 = await layer([{ name: 'one', content: '1' }]);
    const top2 = await layer([{ name: 'two', content: '2' }]);
    const rb = await ingest(base, null);
    const r1 = await ingest(top1, rb.id);
    const r2 = await ingest(top2, rb.id);
    const img = (n: string, top: string) => ({ id: sha256(n), names: [`example.com/${n}:latest`], digests: [`example.com/${n}@${sha256(`m${n}`)}`], topLayer: top, manifest: Buffer.from(`m${n}`), config: Buffer.from(`{"c":"${n}"}`) });
    const i1 = await store.putImage(op, img('one', r1.id));
    const i2 = await store.putImage(op, img('two', r2.id));
    assert.equal(i1.size, rb.uncompressedSize + r1.uncompressedSize);
    assert.deepEqual(await store.imageConfig(i2.id), Buffer.from('{"c":"two"}'));
    assert.deepEqual(await store.imageManifest(i2.id), Buffer.from('mtwo'));
    await store.removeImage(op, i1.id);
    assert.equal(store.getImage(i1.id), undefined);
    assert.equal(store.hasLayer(r1.id), false);
    assert.equal(store.hasLayer(rb.id), true, 'the shared base stays');
    await assert.rejects(stat(join(root, 'overlay', r1.id)), { code: 'ENOENT' });
    await assert.rejects(stat(join(root, 'overlay', 'l', r1.shortId)), { code: 'ENOENT' });
    await store.removeImage(op, i1.id);
    store.setLayerUsers(() => [r2.id]);
    await store.removeImage(op, i2.id);
    assert.equal(store.hasLayer(r2.id), true, 'a container still sits on it');
    store.setLayerUsers(() => []);
    await store.pruneLayers(op);
    assert.deepEqual(await overlayEntries(), []);
    assert.deepEqual(store.listImages(), []);
  });

  it('Store.putImage() moves a tag between images and merges names and digests', async () => {
    const r0 = await ingest(await layer([{ name: 'a', content: 'A' }]), null);
    const a = await store.putImage(op, { id: sha256('a'), names: ['r/x:latest', 'r/x:v1'], digests: [`r/x@${sha256('ma')}`], topLayer: r0.id, manifest: Buffer.from('ma'), config: Buffer.from('ca') });
    const b = await store.putImage(op, { id: sha256('b'), names: ['r/x:latest'], digests: [`r/x@${sha256('mb')}`], topLayer: r0.id, manifest: Buffer.from('mb'), config: Buffer.from('cb') });
    assert.deepEqual(store.getImage(a.id)?.names, ['r/x:v1']);
    assert.equal(store.findImageByName('r/x:latest')?.id, b.id);
    assert.equal(store.findImageByDigest(`r/x@${sha256('ma')}`)?.id, a.id);
    const again = await store.putImage(op, { id: a.id, names: ['r/x:v2'], digests: [`r/y@${sha256('ma')}`], topLayer: r0.id, manifest: Buffer.from('ma'), config: Buffer.from('ca') });
    assert.deepEqual(again.names, ['r/x:v1', 'r/x:v2']);
    assert.equal(again.digests.length, 2);
    assert.equal(again.created, a.created);
    const reopened = await Store.open({ root, log: pino({ level: 'silent' }) });
    assert.deepEqual(reopened.findImageByName('r/x:latest')?.id, b.id);
  });

  it('Store.putImage() refuses an image whose layers are missing', async () => {
    await assert.rejects(store.putImage(op, { id: sha256('a'), names: [], digests: [], topLayer: 'a'.repeat(64), manifest: Buffer.from(''), config: Buffer.from('') }), { code: 'CRI_ERR_FAILED_PRECONDITION' });
  });

  it('Store.usage() counts layer bytes and inodes and caches the walk', async () => {
    const before = await store.usage();
    await ingest(await layer([{ name: 'big', content: Buffer.alloc(200_000, 1) }]), null);
    const after = await store.usage();
    assert.ok(after.bytes >= before.bytes + 200_000, `${after.bytes} vs ${before.bytes}`);
    assert.ok(after.inodes > before.inodes);
    assert.equal(after.mountpoint, join(root, 'overlay'));
    assert.equal(await store.usage(), after, 'a second call within the TTL reuses the walk');
  });
});
