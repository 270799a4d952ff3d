import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, lstat, readFile, readlink, readdir, mkdir, symlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { unpackLayer } from './layer-unpack.ts';
import { lgetxattr } from './libc.ts';
import { buildTar, type FixtureEntry } from './tar-fixture.ts';
import { UnsafeLayerEntryError } from './errors.ts';

const asRoot = process.getuid?.() === 0;
const needsRoot = asRoot ? false : 'needs root (mknod, chown, trusted.* xattrs)';

/** cap_setuid,cap_net_bind_service=ep in VFS_CAP_REVISION_2 form: byte 0x80 is not valid UTF-8 on its own. */
const CAP_SETUID_NET_BIND = Buffer.from('0100000280040000000000000000000000000000', 'hex');

describe('unpackLayer()', { skip: needsRoot }, () => {
  let base: string;
  let sentinel: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'critter-unpack-'));
    sentinel = join(base, 'sentinel');
    await mkdir(sentinel);
  });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  let n = 0;
  async function unpack(entries: FixtureEntry[]): Promise<string> {
    const dir = join(base, `layer${n++}`, 'diff');
    await unpackLayer(Readable.from([await buildTar(entries)]), dir);
    return dir;
  }

  it('unpackLayer() recreates files, dirs, links, devices and FIFOs with owners, modes and mtimes', async () => {
    const mtime = new Date('2001-02-03T04:05:06Z');
    const dir = await unpack([
      { name: 'etc/', type: 'directory', mode: 0o750, uid: 0, gid: 42, mtime },
      { name: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o640, uid: 0, gid: 42, mtime },
      { name: 'home/u/f', content: 'x', uid: 1000, gid: 1000 },
      { name: 'etc/hard', type: 'link', linkname: 'etc/passwd' },
      { name: 'abs', type: 'symlink', linkname: '/etc/passwd', uid: 1000, gid: 1000, mtime },
      { name: 'dangling', type: 'symlink', linkname: 'nowhere/at/all' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
      { name: 'run/fifo', type: 'fifo', mode: 0o620 },
      { name: 'bin/su', content: 'ELF', mode: 0o4755 },
      { name: 'bin/grp', content: 'ELF', mode: 0o2711, gid: 5 },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ]);
    const passwd = await lstat(join(dir, 'etc/passwd'));
    assert.equal(passwd.mode & 0o7777, 0o640);
    assert.equal(passwd.gid, 42);
    assert.equal(passwd.mtimeMs, mtime.getTime());
    assert.equal(passwd.nlink, 2);
    assert.equal((await lstat(join(dir, 'etc/hard'))).ino, passwd.ino);
    const etc = await lstat(join(dir, 'etc'));
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.mtimeMs, mtime.getTime(), 'directory mtime is set after its children were written');
    assert.equal((await lstat(join(dir, 'home/u/f'))).uid, 1000);
    assert.equal(await readlink(join(dir, 'abs')), '/etc/passwd');
    const abs = await lstat(join(dir, 'abs'));
    assert.equal(abs.uid, 1000);
    assert.equal(abs.mtimeMs, mtime.getTime());
    assert.equal(await readlink(join(dir, 'dangling')), 'nowhere/at/all');
    const nul = await lstat(join(dir, 'dev/null'));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, 0x103);
    assert.equal(nul.mode & 0o7777, 0o666);
    const loop = await lstat(join(dir, 'dev/loop0'));
    assert.ok(loop.isBlockDevice());
    assert.equal(loop.rdev, 0x700);
    const fifo = await lstat(join(dir, 'run/fifo'));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o620);
    assert.equal((await lstat(join(dir, 'bin/su'))).mode & 0o7777, 0o4755);
    assert.equal((await lstat(join(dir, 'bin/grp'))).mode & 0o7777, 0o2711);
    assert.equal((await lstat(join(dir, 'tmp'))).mode & 0o7777, 0o1777);
  });

  it('unpackLayer() keeps setuid and a binary security.capability through chown', async () => {
    const dir = await unpack([
      { name: 'bin/tool', content: 'ELF', mode: 0o4755, uid: 0, gid: 0, xattrs: { 'security.capability': CAP_SETUID_NET_BIND, 'user.note': Buffer.from('hi') } },
      { name: 'big', content: Buffer.alloc(3 * 1024 * 1024, 7), mode: 0o4711, uid: 7, gid: 7, xattrs: { 'security.capability': CAP_SETUID_NET_BIND } },
    ]);
    for (const [name, mode] of [['bin/tool', 0o4755], ['big', 0o4711]] as const) {
      const path = join(dir, name);
      assert.equal((await lstat(path)).mode & 0o7777, mode, name);
      assert.deepEqual(lgetxattr(path, 'security.capability'), CAP_SETUID_NET_BIND, name);
    }
    assert.deepEqual(lgetxattr(join(dir, 'bin/tool'), 'user.note'), Buffer.from('hi'));
    assert.equal((await readFile(join(dir, 'big'))).length, 3 * 1024 * 1024);
  });

  it('unpackLayer() turns OCI whiteouts into 0/0 char devices and opaque markers into an xattr', async () => {
    const dir = await unpack([
      { name: 'gone/x.txt', content: 'removed in this layer' },
      { name: 'gone/.wh.x.txt' },
      { name: '.wh.file-to-delete.txt' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new.txt', content: 'new' },
    ]);
    for (const name of ['gone/x.txt', 'file-to-delete.txt']) {
      const st = await lstat(join(dir, name));
      assert.ok(st.isCharacterDevice(), name);
      assert.equal(st.rdev, 0, name);
    }
    assert.deepEqual(lgetxattr(join(dir, 'opq'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.deepEqual((await readdir(join(dir, 'opq'))).sort(), ['new.txt']);
    assert.equal(lgetxattr(join(dir, 'gone'), 'trusted.overlay.opaque'), undefined);
  });

  it('unpackLayer() lets a later entry replace an earlier one of any type', async () => {
    const dir = await unpack([
      { name: 'a', content: 'first' },
      { name: 'a', content: 'second' },
      { name: 'b/c', content: 'in dir' },
      { name: 'b', type: 'symlink', linkname: 'a' },
      { name: 'd', type: 'symlink', linkname: 'a' },
      { name: 'd/', type: 'directory', mode: 0o700 },
      { name: 'd/e', content: 'e' },
    ]);
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'second');
    assert.equal(await readlink(join(dir, 'b')), 'a');
    assert.ok((await lstat(join(dir, 'd'))).isDirectory());
    assert.equal(await readFile(join(dir, 'd/e'), 'utf8'), 'e');
  });

  it('unpackLayer() follows a relative parent symlink that stays inside the layer', async () => {
    const dir = await unpack([
      { name: 'usr/lib/', type: 'directory' },
      { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'lib/libc.so', content: 'so' },
    ]);
    assert.equal(await readFile(join(dir, 'usr/lib/libc.so'), 'utf8'), 'so');
  });

  const unsafe: Array<[string, () => FixtureEntry[]]> = [
    ['a ".." component', () => [{ name: '../../../escape', content: 'x' }]],
    ['".." inside the path', () => [{ name: 'a/../../escape', content: 'x' }]],
    ['a parent symlink that climbs out', () => [
      { name: 'up', type: 'symlink', linkname: `../../../../../../../../..${sentinel}` },
      { name: 'up/escape', content: 'x' }]],
    ['an absolute parent symlink', () => [
      { name: 'abs', type: 'symlink', linkname: sentinel },
      { name: 'abs/escape', content: 'x' }]],
    ['a chain of symlinks that ends outside', () => [
      { name: 'one', type: 'symlink', linkname: 'two/..' },
      { name: 'two', type: 'symlink', linkname: '..' },
      { name: 'one/escape', content: 'x' }]],
    ['a whiteout under an absolute symlink', () => [
      { name: 'abs', type: 'symlink', linkname: sentinel },
      { name: 'abs/.wh.victim' }]],
    ['an opaque marker under an escaping symlink', () => [
      { name: 'up', type: 'symlink', linkname: '../..' },
      { name: 'up/.wh..wh..opq' }]],
    ['a hard link to a path outside', () => [{ name: 'h', type: 'link', linkname: '../../../etc/passwd' }]],
    ['a hard link through an absolute symlink', () => [
      { name: 'etc', type: 'symlink', linkname: '/etc' },
      { name: 'h', type: 'link', linkname: 'etc/passwd' }]],
    ['a hard link to something not in the layer', () => [{ name: 'h', type: 'link', linkname: 'etc/passwd' }]],
    ['a hard link to a directory', () => [{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }]],
  ];
  for (const [what, entries] of unsafe) {
    it(`unpackLayer() refuses ${what} and writes nothing outside`, async () => {
      const list = entries();
      const tarBytes = await buildTar(list);
      const dir = join(base, `unsafe${n++}`, 'diff');
      await assert.rejects(unpackLayer(Readable.from([tarBytes]), dir), (err: unknown) => {
        assert.ok(err instanceof UnsafeLayerEntryError, String(err));
        assert.equal(err.code, 'CRI_ERR_UNSAFE_LAYER_ENTRY');
        assert.match(err.message, /refused/);
        return true;
      });
      assert.deepEqual(await readdir(sentinel), []);
      await assert.rejects(stat(join(base, 'escape')), { code: 'ENOENT' });
      await assert.rejects(stat('/escape'), { code: 'ENOENT' });
    });
  }

  it('unpackLayer() names the entry in the error', async () => {
    const tarBytes = await buildTar([{ name: 'ok', content: '' }, { name: 'x/../../evil', content: 'x' }]);
    await assert.rejects(unpackLayer(Readable.from([tarBytes]), join(base, 'named', 'diff')), /"x\/\.\.\/\.\.\/evil"/);
  });

  it('unpackLayer() refuses a corrupt tar with LayerFormatError', async () => {
    const tarBytes = await buildTar([{ name: 'a', content: 'abc' }]);
    tarBytes[148] = 0x31; // break the header checksum
    await assert.rejects(unpackLayer(Readable.from([tarBytes]), join(base, 'corrupt', 'diff')), { code: 'CRI_ERR_LAYER_FORMAT' });
  });

  it('unpackLayer() refuses a directory that is not empty', async () => {
    const dir = join(base, 'full');
    await mkdir(dir);
    await symlink('/', join(dir, 'x'));
    await assert.rejects(unpackLayer(Readable.from([await buildTar([])]), dir), { code: 'CRI_ERR_LAYER_FORMAT' });
  });
});
