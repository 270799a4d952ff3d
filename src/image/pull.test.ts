import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { Store } from '../storage/store.ts';
import { buildTar, describeLayer } from '../storage/tar-fixture.ts';
import type { Op } from '../lib/op.ts';
import type { ResolvedImage } from './registry/registry-client.ts';
import { pullResolved, chainIdsOf } from './pull.ts';

const op: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };

// Regression: a small child layer whose blob arrived before its parent's was extracted,
// found no parent (the parent's worker was still opening its blob) and failed the pull
// with "parent layer … is not in the store" about one pull in ten.
test('pullResolved() stores a child layer whose blob arrives before its parent\'s', async () => {
  const root = await mkdtemp(join(tmpdir(), 'critter-pull-'));
  try {
    const store = await Store.open({ root, log: pino({ level: 'silent' }) });
    const base = describeLayer(await buildTar([{ name: 'base.txt', content: 'base' }]), true);
    const child = describeLayer(await buildTar([{ name: 'child.txt', content: 'child' }]), true);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [base.diffId, child.diffId] } }));
    const layers = [base, child].map((l) => ({ digest: l.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: l.blob.length }));
    const resolved = {
      source: {}, canonicalName: 'example.test/slow-base', tag: 'v1', referenceDigest: `sha256:${'1'.repeat(64)}`,
      manifestDigest: `sha256:${'1'.repeat(64)}`, manifest: Buffer.from('{}'), mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config, configDigest: `sha256:${createHash('sha256').update(config).digest('hex')}`, layers,
    } as unknown as ResolvedImage;
    let childOpened!: () => void;
    const childWasOpened = new Promise<void>((r) => { childOpened = r; });
    const registry = {
      async openBlob(_op: Op, _src: unknown, d: { digest: string }): Promise<Readable> {
        // The base layer's blob starts only once the child's has arrived.
        if (d.digest === base.digest) await childWasOpened;
        else childOpened();
        return Readable.from([d.digest === base.digest ? base.blob : child.blob]);
      },
    };
    const rec = await pullResolved(op, { store, registry, maxParallel: 3 }, resolved);
    assert.equal(rec.topLayer, chainIdsOf([base.diffId, child.diffId])[1]!.slice('sha256:'.length));
    assert.equal(store.lowerDirs(rec.topLayer).length, 2);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('pullResolved() keeps the layers it reuses when RemoveImage removes the image owning them mid-pull', async () => {
  const root = await mkdtemp(join(tmpdir(), 'critter-pull-'));
  try {
    const store = await Store.open({ root, log: pino({ level: 'silent' }) });
    const base = describeLayer(await buildTar([{ name: 'base.txt', content: 'base' }]), true);
    const child = describeLayer(await buildTar([{ name: 'child.txt', content: 'child' }]), true);
    const media = 'application/vnd.oci.image.layer.v1.tar+gzip';
    const resolvedOf = (name: string, ls: Array<typeof base>) => {
      const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: ls.map((l) => l.diffId) } }));
      return {
        source: {}, canonicalName: name, tag: 'v1', referenceDigest: `sha256:${'1'.repeat(64)}`,
        manifestDigest: `sha256:${'1'.repeat(64)}`, manifest: Buffer.from('{}'), mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config, configDigest: `sha256:${createHash('sha256').update(config).digest('hex')}`,
        layers: ls.map((l) => ({ digest: l.digest, mediaType: media, size: l.blob.length })),
      } as unknown as ResolvedImage;
    };
    const plain = { async openBlob(_op: Op, _src: unknown, d: { digest: string }): Promise<Readable> { return Readable.from([d.digest === base.digest ? base.blob : child.blob]); } };
    const owner = await pullResolved(op, { store, registry: plain, maxParallel: 3 }, resolvedOf('example.test/owner', [base]));
    // While the second pull fetches its own layer, having found the base present, the owner goes.
    const racing = {
      async openBlob(o: Op, src: unknown, d: { digest: string }): Promise<Readable> {
        if (d.digest === child.digest) await store.removeImage(op, owner.id);
        return plain.openBlob(o, src, d);
      },
    };
    const rec = await pullResolved(op, { store, registry: racing, maxParallel: 3 }, resolvedOf('example.test/reuser', [base, child]));
    assert.equal(store.lowerDirs(rec.topLayer).length, 2);
    assert.equal(store.getImage(owner.id), undefined);
    await store.pruneLayers(op);
    assert.equal(store.hasLayer(owner.topLayer), true, 'the base layer still belongs to the new image');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
