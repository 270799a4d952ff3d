import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decompress } from './decompress.ts';

const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
import { ThreadedDigest } from './digest-thread.ts';

async function* chunked(data: Buffer, sizes: readonly number[]): AsyncGenerator<Buffer> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(off, off + n);
    off += n;
  }
}

async function drain(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of source) out.push(c);
  return Buffer.concat(out);
}

describe('ThreadedDigest', () => {
  it('hashes what flows through, in order, across slabs and odd chunk sizes, and passes it on unchanged', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 17);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const d = new ThreadedDigest(algorithm);
      const passed = await drain(d.tap(chunked(data, [1, 65536, 300_001, 7, 1024 * 1024])));
      assert.ok(passed.equals(data));
      assert.equal(d.bytes, data.length);
      assert.equal(await d.digest(), `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`);
    }
  });

  it('keeps concurrent digests apart', async () => {
    const inputs = [randomBytes(3 * 1024 * 1024), randomBytes(5 * 1024 * 1024), Buffer.alloc(0)];
    const digests = inputs.map(() => new ThreadedDigest('sha256'));
    await Promise.all(inputs.map((data, i) => drain(digests[i]!.tap(chunked(data, [40_000 + i])))));
    for (const [i, data] of inputs.entries()) {
      assert.equal(await digests[i]!.digest(), `sha256:${createHash('sha256').update(data).digest('hex')}`);
    }
  });

  it('a digest disposed part way leaves the others right', async () => {
    const dropped = new ThreadedDigest('sha256');
    for await (const chunk of dropped.tap(chunked(randomBytes(600_000), [100_000]))) if (chunk.length > 0) break;
    dropped.dispose();
    const data = randomBytes(700_000);
    const kept = new ThreadedDigest('sha256');
    await drain(kept.tap(chunked(data, [123_456])));
    assert.equal(await kept.digest(), `sha256:${createHash('sha256').update(data).digest('hex')}`);
  });

  it('digests of several layers at once, each tapped before and after gunzip, all finish', async () => {
    // Taps waiting for room outnumber the slabs out: each returned slab must wake them all.
    const layers = Array.from({ length: 16 }, () => randomBytes(3 * 1024 * 1024 + 999));
    const blobs = layers.map((data) => gzipSync(data, { level: 1 }));
    const results = Promise.all(blobs.map(async (blob) => {
      const outer = new ThreadedDigest('sha256');
      const inner = new ThreadedDigest('sha256');
      // As a layer ingest does: the blob's digest, gunzip (which reads ahead), the tar's digest.
      await drain(inner.tap(decompress(outer.tap(chunked(blob, [65536])), GZ)));
      return [await outer.digest(), await inner.digest()];
    }));
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('digests deadlocked')), 20_000); });
    try {
      const got = await Promise.race([results, stuck]);
      for (const [i, data] of layers.entries()) {
        const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
        assert.deepEqual(got[i], [sha(blobs[i]!), sha(data)]);
      }
    } finally {
      clearTimeout(timer);
    }
  });
});
