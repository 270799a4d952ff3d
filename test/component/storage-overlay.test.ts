import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, readFile, mkdir, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { Store } from '../../src/storage/store.ts';
import { buildTar, describeLayer, type FixtureEntry } from '../../src/storage/tar-fixture.ts';
import { run } from '../../src/lib/exec.ts';
import type { Op } from '../../src/lib/op.ts';

const op: Op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe('Store layers under overlayfs', { skip: process.getuid?.() === 0 ? false : 'needs root to mount overlayfs' }, () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'critter-overlay-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('Store.lowerDirs() mounts as an overlay showing the merged view with whiteouts and opaque dirs', async () => {
    const store = await Store.open({ root: join(root, 'store'), log: pino({ level: 'silent' }) });
    const ingest = async (entries: FixtureEntry[], parent: string | null) => {
      const l = describeLayer(await buildTar(entries), true);
      return store.ingestLayer(op, { parentChainId: parent, diffId: l.diffId, digest: l.digest, mediaType: GZ, body: Readable.from([l.blob]) });
    };
    const l0 = await ingest([
      { name: 'etc/passwd', content: 'old\n' },
      { name: 'file-to-delete.txt', content: 'bye' },
      { name: 'gone/x.txt', content: 'x' },
      { name: 'gone/y.txt', content: 'y' },
      { name: 'opq/old1.txt', content: '1' },
      { name: 'opq/old2.txt', content: '2' },
      { name: 'bin/tool', content: 'ELF', mode: 0o4755 },
    ], null);
    const l1 = await ingest([
      { name: 'etc/passwd', content: 'new\n' },
      { name: '.wh.file-to-delete.txt' },
      { name: 'gone/.wh.x.txt' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new.txt', content: 'new' },
    ], l0.id);
    const merged = join(root, 'merged');
    await mkdir(merged);
    const lowers = store.lowerDirs(l1.id);
    assert.equal(lowers.length, 2);
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lowers.join(':')}`, merged], { timeoutMs: 10_000 });
    try {
      assert.equal(await readFile(join(merged, 'etc/passwd'), 'utf8'), 'new\n');
      assert.deepEqual((await readdir(merged)).sort(), ['bin', 'etc', 'gone', 'opq']);
      assert.deepEqual(await readdir(join(merged, 'gone')), ['y.txt']);
      assert.deepEqual(await readdir(join(merged, 'opq')), ['new.txt']);
      assert.equal((await lstat(join(merged, 'bin/tool'))).mode & 0o7777, 0o4755);
    } finally {
      await run('umount', [merged], { timeoutMs: 10_000 });
    }
  });
});
