import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_SYMLINK_HOPS, mkdirInRoot, readFileInRoot, resolveInRoot, writeFileInRoot } from './rootfs-path.ts';
import { PathInRootError } from './errors.ts';

let base: string;
let root: string;
/** A host directory the root's absolute symlinks name: nothing may ever appear in it. */
let canary: string;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'rootfs-path-'));
  root = join(base, 'root');
  canary = join(base, 'canary');
  await mkdir(canary);
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await mkdir(join(root, 'usr', 'lib'), { recursive: true });
  await writeFile(join(root, 'file'), 'a file');
  await symlink('/etc', join(root, 'abs-etc'));
  await symlink('../../etc', join(root, 'usr', 'lib', 'rel-etc'));
  await symlink('../../../../../../../../etc', join(root, 'climb-etc'));
  // A chain of absolute symlinks that on the host would end at the host's /etc.
  await symlink('/chain2', join(root, 'chain1'));
  await symlink('/etc', join(root, 'chain2'));
  await symlink(canary, join(root, 'to-canary'));
  await symlink('loop-b', join(root, 'loop-a'));
  await symlink('loop-a', join(root, 'loop-b'));
  await symlink('/self', join(root, 'self'));
  await symlink('passwd', join(root, 'etc', 'passwd-link'));
  await symlink('/file', join(root, 'file-link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, reason: PathInRootError['reason']): Promise<PathInRootError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof PathInRootError, `expected PathInRootError ${reason}, got ${String(err)}`);
  assert.equal(err.reason, reason);
  return err;
}

describe('resolveInRoot() behaviour', () => {
  test('plain paths resolve under the root, absolute or not', async () => {
    assert.equal(await resolveInRoot(root, '/etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, 'etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/'), root);
    assert.equal(await resolveInRoot(root, ''), root);
  });

  test('an absolute symlink is re-rooted at the root', async () => {
    assert.equal(await resolveInRoot(root, '/abs-etc/passwd'), join(root, 'etc/passwd'));
  });

  test('a relative symlink resolves against its own directory', async () => {
    assert.equal(await resolveInRoot(root, '/usr/lib/rel-etc/passwd'), join(root, 'etc/passwd'));
  });

  test('.. chains beyond the root are clamped at the root', async () => {
    assert.equal(await resolveInRoot(root, '../../../../etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/usr/../../../../etc/../etc/passwd'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/climb-etc/passwd'), join(root, 'etc/passwd'));
  });

  test('a symlink chain pointing at the host /etc resolves to <root>/etc', async () => {
    assert.equal(await resolveInRoot(root, '/chain1'), join(root, 'etc'));
    assert.equal(await resolveInRoot(root, '/chain1/passwd'), join(root, 'etc/passwd'));
  });

  test('a symlink to a host path resolves to that path under the root', async () => {
    assert.equal(await resolveInRoot(root, '/to-canary/x'), join(root, canary, 'x'));
  });

  test('a symlink as the last component is followed, unless followLast is false', async () => {
    assert.equal(await resolveInRoot(root, '/etc/passwd-link'), join(root, 'etc/passwd'));
    assert.equal(await resolveInRoot(root, '/abs-etc'), join(root, 'etc'));
    assert.equal(await resolveInRoot(root, '/abs-etc', { followLast: false }), join(root, 'abs-etc'));
    // Only the last one: parents are always followed.
    assert.equal(await resolveInRoot(root, '/abs-etc/passwd-link', { followLast: false }), join(root, 'etc/passwd-link'));
  });

  test('symlink loops fail with ELOOP after the hop limit', async () => {
    const err = await rejectsWith(resolveInRoot(root, '/loop-a/x'), 'ELOOP');
    assert.match(err.message, new RegExp(`more than ${MAX_SYMLINK_HOPS} symbolic links`));
    assert.match(err.message, /"\/loop-a\/x"/);
    await rejectsWith(resolveInRoot(root, '/self'), 'ELOOP');
    // Not followed, the loop is just a name.
    assert.equal(await resolveInRoot(root, '/self', { followLast: false }), join(root, 'self'));
  });

  test('a file where a directory is expected fails with ENOTDIR naming it', async () => {
    const err = await rejectsWith(resolveInRoot(root, '/file/x'), 'ENOTDIR');
    assert.match(err.message, /"\/file" is not a directory/);
    await rejectsWith(resolveInRoot(root, '/file-link/x'), 'ENOTDIR');
    await rejectsWith(resolveInRoot(root, '/file/..'), 'ENOTDIR');
  });

  test('a NUL byte or an overlong name is a PathInRootError with a bounded message', async () => {
    await rejectsWith(resolveInRoot(root, '/etc/pass\0wd'), 'EINVAL');
    const err = await rejectsWith(resolveInRoot(root, `/etc/${'x'.repeat(5000)}`), 'ENAMETOOLONG');
    assert.ok(err.message.length < 400, err.message);
    await rejectsWith(mkdirInRoot(root, `/${'y'.repeat(300)}`), 'ENAMETOOLONG');
  });

  test('missing components are joined lexically, and .. removes them', async () => {
    assert.equal(await resolveInRoot(root, '/nope/a/b'), join(root, 'nope/a/b'));
    assert.equal(await resolveInRoot(root, '/nope/../abs-etc/passwd'), join(root, 'etc/passwd'));
  });
});

describe('mkdirInRoot() behaviour', () => {
  test('creates missing directories under the root', async () => {
    const got = await mkdirInRoot(root, '/new/a/b');
    assert.equal(got, join(root, 'new/a/b'));
    assert.ok((await lstat(got)).isDirectory());
  });

  test('a directory under a symlink to a host path is created inside the root', async () => {
    const got = await mkdirInRoot(root, '/to-canary/vol/sub');
    assert.equal(got, join(root, canary, 'vol/sub'));
    assert.ok((await lstat(got)).isDirectory());
    assert.deepEqual(await readdir(canary), []);
    assert.equal(await readlink(join(root, 'to-canary')), canary);
  });

  test('an existing directory (through a symlink) is fine', async () => {
    assert.equal(await mkdirInRoot(root, '/abs-etc'), join(root, 'etc'));
  });

  test('a file in the way fails with ENOTDIR, a loop with ELOOP', async () => {
    await rejectsWith(mkdirInRoot(root, '/file'), 'ENOTDIR');
    await rejectsWith(mkdirInRoot(root, '/file/sub'), 'ENOTDIR');
    await rejectsWith(mkdirInRoot(root, '/loop-a/sub'), 'ELOOP');
  });
});

describe('readFileInRoot() behaviour', () => {
  test('reads a file through symlinks resolved inside the root', async () => {
    assert.equal(await readFileInRoot(root, '/chain1/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(await readFileInRoot(root, '/etc/passwd-link'), 'root:x:0:0::/root:/bin/sh\n');
  });

  test('a missing file is undefined', async () => {
    assert.equal(await readFileInRoot(root, '/etc/group'), undefined);
    assert.equal(await readFileInRoot(root, '/nope/passwd'), undefined);
  });

  test('a directory or a FIFO is refused without blocking', async () => {
    await rejectsWith(readFileInRoot(root, '/etc'), 'ENOTREG');
    await rejectsWith(readFileInRoot(root, '/fifo'), 'ENOTREG');
  });

  test('a file bigger than the cap is refused', async () => {
    await rejectsWith(readFileInRoot(root, '/etc/passwd', 4), 'EFBIG');
  });
});

describe('writeFileInRoot() behaviour', () => {
  test('creates a file in a directory reached through a symlink, inside the root', async () => {
    const got = await writeFileInRoot(root, '/to-canary/written', 'x');
    assert.equal(got, join(root, canary, 'written'));
    assert.deepEqual(await readdir(canary), []);
  });

  test('a symlink as the file itself is refused, not followed', async () => {
    await symlink('/etc/passwd', join(root, 'etc', 'evil'));
    await assert.rejects(writeFileInRoot(root, '/etc/evil', 'x'), { code: 'ELOOP' });
    assert.equal(await readFileInRoot(root, '/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
});
