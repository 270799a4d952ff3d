import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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
});
