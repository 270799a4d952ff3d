import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../lib/exec.ts';
import { compressionOf, decompress } from './decompress.ts';

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return Buffer.concat(out);
}

function chunks(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

const payload = Buffer.from('layer bytes '.repeat(50_000));

describe('decompress()', () => {
  it('compressionOf() maps OCI and Docker layer media types', () => {
    assert.equal(compressionOf('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(compressionOf('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.equal(compressionOf('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(compressionOf('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.throws(() => compressionOf('application/vnd.oci.image.layer.v1.tar+gzip+encrypted'), { code: 'CRI_ERR_LAYER_FORMAT' });
    assert.throws(() => compressionOf('text/html'), { code: 'CRI_ERR_LAYER_FORMAT' });
  });

  it('decompress() inflates gzip even when split into 1-byte first chunks', async () => {
    const gz = gzipSync(payload);
    const src = Readable.from([gz.subarray(0, 1), gz.subarray(1, 2), gz.subarray(2)]);
    assert.deepEqual(await collect(decompress(src, 'application/vnd.oci.image.layer.v1.tar+gzip')), payload);
  });

  it('decompress() trusts the magic bytes over the media type', async () => {
    assert.deepEqual(await collect(decompress(chunks(payload, 4096), 'application/vnd.docker.image.rootfs.diff.tar.gzip')), payload);
    assert.deepEqual(await collect(decompress(chunks(gzipSync(payload), 4096), 'application/vnd.oci.image.layer.v1.tar')), payload);
  });

  it('decompress() streams zstd through the zstd tool', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'critter-zstd-'));
    try {
      await writeFile(join(dir, 'plain'), payload);
      await run('zstd', ['-q', join(dir, 'plain'), '-o', join(dir, 'plain.zst')], { timeoutMs: 10_000 });
      const zst = await readFile(join(dir, 'plain.zst'));
      assert.deepEqual(await collect(decompress(chunks(zst, 1000), 'application/vnd.oci.image.layer.v1.tar+zstd')), payload);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('decompress() rejects corrupt gzip and zstd with LayerFormatError', async () => {
    const gz = gzipSync(payload);
    gz[gz.length - 5] = (gz[gz.length - 5] ?? 0) ^ 0xff;
    await assert.rejects(collect(decompress(Readable.from([gz]), 'application/vnd.oci.image.layer.v1.tar+gzip')), { code: 'CRI_ERR_LAYER_FORMAT' });
    const zst = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64, 0x55)]);
    await assert.rejects(collect(decompress(Readable.from([zst]), 'application/vnd.oci.image.layer.v1.tar+zstd')), /zstd decompression failed/);
  });

  it('decompress() stops the source when the consumer stops early', async () => {
    const src = Readable.from(chunks(gzipSync(payload), 100));
    for await (const c of decompress(src, 'application/vnd.oci.image.layer.v1.tar+gzip')) {
      assert.ok(c.length > 0);
      break;
    }
    assert.ok(src.destroyed);
  });
});
