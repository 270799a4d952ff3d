import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, stat, utimes } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { unpackLayer } from './layer-unpack.ts';
import { mount, umount } from './libc.ts';
import { Store } from './store.ts';
import { buildTar, describeLayer, type FixtureEntry } from './tar-fixture.ts';
import { LayerFormatError } from './errors.ts';
import { ResourceExhaustedError, describeError } from '../lib/errors.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root (chown, mknod, a tmpfs mount)';
const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe('unpackLayer() errors', { skip: needsRoot }, () => {
  let base: string;
  let sentinel: string;
  let n = 0;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'critter-unpack-err-'));
    sentinel = join(base, 'sentinel');
    await mkdir(sentinel);
  });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  async function unpackError(entries: FixtureEntry[]): Promise<unknown> {
    const dir = join(base, `layer${n++}`, 'diff');
    return unpackLayer(Readable.from([await buildTar(entries)]), dir).then(() => undefined, (e: unknown) => e);
  }

  it('unpackLayer() answers a name component too long for the filesystem with LayerFormatError naming the entry, bounded', async () => {
    const name = `dir/${'n'.repeat(300)}`;
    const err = await unpackError([{ name, content: 'x' }]);
    assert.ok(err instanceof LayerFormatError, String(err));
    assert.match(err.message, /ENAMETOOLONG/);
    assert.ok(err.message.includes(JSON.stringify(name.slice(0, 256))), err.message);
    assert.match(err.message, /\(304 characters\)/);
    assert.ok(describeError(err).length < 600, describeError(err));
  });

  it('unpackLayer() answers a path longer than PATH_MAX with a bounded LayerFormatError', async () => {
    const name = Array.from({ length: 40 }, (_, i) => `${i}${'p'.repeat(200)}`).join('/');
    const err = await unpackError([{ name, content: 'x' }]);
    assert.ok(err instanceof LayerFormatError, String(err));
    assert.ok(describeError(err).length < 600, describeError(err));
  });

  it('unpackLayer() never sets a directory mtime through a symlink that replaced the directory', async () => {
    const before = new Date('2020-01-01T00:00:00Z');
    await utimes(sentinel, before, before);
    const err = await unpackError([
      { name: 'd/', type: 'directory', mtime: new Date('2001-02-03T04:05:06Z') },
      { name: 'd', type: 'symlink', linkname: sentinel },
    ]);
    assert.equal(err, undefined);
    assert.equal((await stat(sentinel)).mtime.getTime(), before.getTime());
  });
});

describe('Store.ingestLayer() on a full filesystem', { skip: needsRoot }, () => {
  let base: string;
  let mnt: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'critter-enospc-'));
    mnt = join(base, 'mnt');
    await mkdir(mnt);
    mount('tmpfs', mnt, 'tmpfs', 'size=1m');
  });
  after(async () => {
    umount(mnt);
    await rm(base, { recursive: true, force: true });
  });

  it('Store.ingestLayer() answers ENOSPC with ResourceExhaustedError naming the entry, the operation and the path, not "Premature close"', async () => {
    const store = await Store.open({ root: join(mnt, 'storage'), log: pino({ level: 'silent' }) });
    // Random bytes do not compress: the layer is bigger than the filesystem.
    const layer = describeLayer(await buildTar([{ name: 'small', content: randomBytes(600 * 1024) }, { name: 'big', content: randomBytes(3 * 1024 * 1024) }]), true);
    const chunks: Buffer[] = [];
    for (let i = 0; i < layer.blob.length; i += 16 * 1024) chunks.push(layer.blob.subarray(i, i + 16 * 1024));
    const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
    const err = await store.ingestLayer(op, {
      parentChainId: null, diffId: layer.diffId, digest: layer.digest, mediaType: GZ, size: layer.blob.length, body: Readable.from(chunks),
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ResourceExhaustedError, describeError(err));
    assert.match(err.message, /extracting layer entry "(small|big)": no space left on device \(ENOSPC\) in \w+ of ".*storage/);
    assert.doesNotMatch(describeError(err), /Premature close/);
  });
});
