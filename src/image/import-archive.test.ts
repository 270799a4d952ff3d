import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { unpackArchive } from './import-archive.ts';
import { mount, umount } from '../storage/libc.ts';
import { buildTar } from '../storage/tar-fixture.ts';
import { ResourceExhaustedError, describeError } from '../lib/errors.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'needs root (a tmpfs mount)';

describe('unpackArchive() on a full filesystem', { skip: needsRoot }, () => {
  let base: string;
  let mnt: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'critter-archive-enospc-'));
    mnt = join(base, 'mnt');
    await mkdir(mnt);
    mount('tmpfs', mnt, 'tmpfs', 'size=1m');
  });
  after(async () => {
    umount(mnt);
    await rm(base, { recursive: true, force: true });
  });

  it('unpackArchive() answers ENOSPC with ResourceExhaustedError naming the entry and the path, not an unreadable archive', async () => {
    const archive = join(base, 'image.tar');
    await writeFile(archive, await buildTar([{ name: 'blobs/sha256/aa', content: randomBytes(3 * 1024 * 1024) }]));
    const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
    const err = await unpackArchive(op, archive, join(mnt, 'staging')).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ResourceExhaustedError, describeError(err));
    assert.match(err.message, /entry "blobs\/sha256\/aa": no space left on device \(ENOSPC\) in \w+ of ".*staging/);
  });
});
