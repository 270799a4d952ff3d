/**
 * Paths inside a root an image controls (a container's mounted rootfs), resolved the way
 * Go's securejoin and openat2(RESOLVE_IN_ROOT) do, so that nothing an image holds can make
 * critter read, create or write a host path (issue 12 class 1; the runc, containerd and
 * CRI-O CVEs of this kind all came from joining first and resolving on the host after):
 * component by component, `..` clamped at the root, an absolute symlink re-rooted at the
 * root, a relative one resolved against its own directory.
 *
 * This is a walk with lstat/readlink rather than openat2: the result is a path, and the
 * final operation opens it with O_NOFOLLOW, so a last component swapped for a symlink after
 * the walk fails instead of escaping. A parent swapped between the walk and the open is not
 * caught (the walk's TOCTOU); critter only walks a rootfs at CreateContainer, before any
 * process of the container runs in it, when nothing but critter writes to its upper dir.
 */
import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { PathInRootError } from './errors.ts';

/**
 * Symlinks followed while resolving one path. Linux's MAXSYMLINKS (40), not securejoin's
 * 255: a path the kernel would refuse with ELOOP inside the container is not one critter
 * should find a meaning for outside it. The layer unpacker uses the same limit.
 */
export const MAX_SYMLINK_HOPS = 40;

/** Regular files read from an image are capped: /etc/passwd of a real image is kilobytes. */
const DEFAULT_MAX_READ = 16 * 1024 * 1024;

export interface ResolveOptions {
  /** Follow a symlink in the last component (default true); false gives lstat semantics. */
  followLast?: boolean;
}

interface WalkOptions {
  followLast: boolean;
  /** mkdir -p: create missing components (mode before umask) and the last one too. */
  createMode?: number;
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function shown(parts: readonly string[]): string {
  return `/${parts.join('/')}`;
}

async function lstatOrUndefined(path: string, asked: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // Not chained: the errno's message repeats the whole, unbounded, path.
    if (code === 'ENAMETOOLONG') throw new PathInRootError(asked, 'ENAMETOOLONG', 'a name or the path is too long for the filesystem');
    throw err;
  }
}

/**
 * The walk itself. Components that do not exist are kept as they are (securejoin does the
 * same), so a later `..` removes them lexically; with `createMode` they are created first.
 */
async function walk(root: string, path: string, opts: WalkOptions): Promise<string> {
  // Node refuses such a path with a TypeError: the image's fault, said as such.
  if (path.includes('\0')) throw new PathInRootError(path, 'EINVAL', 'has a NUL byte');
  const resolved: string[] = [];
  const pending = components(path);
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift() as string;
    if (c === '..') {
      resolved.pop(); // at the root this is a no-op: ".." of "/" is "/"
      continue;
    }
    const isLast = pending.length === 0;
    const host = posix.join(root, ...resolved, c);
    let st = await lstatOrUndefined(host, path);
    if (st === undefined && opts.createMode !== undefined) {
      await mkdir(host, { mode: opts.createMode }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      // Re-checked: what is there now (ours, or whatever won a race) decides, never the mkdir.
      st = await lstat(host);
    }
    if (st === undefined) {
      resolved.push(c);
      continue;
    }
    if (st.isSymbolicLink() && (!isLast || opts.followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new PathInRootError(path, 'ELOOP', `more than ${MAX_SYMLINK_HOPS} symbolic links to follow (at ${JSON.stringify(shown([...resolved, c]))})`);
      }
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...components(target));
      continue;
    }
    if ((!isLast || opts.createMode !== undefined) && !st.isDirectory()) {
      throw new PathInRootError(path, 'ENOTDIR', `${JSON.stringify(shown([...resolved, c]))} is not a directory`);
    }
    resolved.push(c);
  }
  return posix.join(root, ...resolved);
}

/**
 * The host path of `path` (absolute or not, it is taken relative to `root`) resolved inside
 * `root`. It may not exist; when it does not, its missing tail is joined lexically.
 * @throws PathInRootError on a symlink loop or a non-directory where a directory is expected
 */
export function resolveInRoot(root: string, path: string, opts: ResolveOptions = {}): Promise<string> {
  return walk(posix.resolve(root), path, { followLast: opts.followLast ?? true });
}

/**
 * mkdir -p of `path` inside `root`: every existing component is resolved inside the root,
 * every missing one is created with mkdir and checked (lstat) to be a directory, never a
 * symlink, before the walk goes into it. Returns the directory's host path.
 * @throws PathInRootError as resolveInRoot, or when a component is a file
 */
export function mkdirInRoot(root: string, path: string, mode = 0o755): Promise<string> {
  return walk(posix.resolve(root), path, { followLast: true, createMode: mode });
}

/**
 * A regular file inside `root`, as UTF-8 text; undefined when it does not exist. Opened
 * with O_NOFOLLOW (the last component cannot have become a symlink since the walk) and
 * O_NONBLOCK (a FIFO planted at the path must not hang the call), then fstat'ed.
 * @throws PathInRootError when it is not a regular file or is larger than `maxBytes`
 */
export async function readFileInRoot(root: string, path: string, maxBytes = DEFAULT_MAX_READ): Promise<string | undefined> {
  const host = await resolveInRoot(root, path);
  let fh;
  try {
    fh = await open(host, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new PathInRootError(path, 'ELOOP', 'became a symbolic link while being opened');
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PathInRootError(path, 'ENOTREG', 'is not a regular file');
    if (st.size > maxBytes) throw new PathInRootError(path, 'EFBIG', `is ${st.size} bytes, more than the ${maxBytes} read from an image`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Creates (or truncates) a regular file inside `root` and writes `data`: the parent is
 * resolved inside the root and the file opened with O_NOFOLLOW, so a symlink there fails.
 * @throws PathInRootError as resolveInRoot
 */
export async function writeFileInRoot(root: string, path: string, data: string | Uint8Array, mode = 0o644): Promise<string> {
  const host = await resolveInRoot(root, path, { followLast: false });
  const fh = await open(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
  return host;
}
