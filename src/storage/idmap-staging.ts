/**
 * Staging places for id-mapped mounts (idmap.ts) that exist only while something else is
 * being mounted from them: the id-mapped copies of an overlay's lower layers (overlayfs
 * keeps private clones of its layers, so the copies go right after the overlay mount) and
 * of a container's bind mounts (runc copies them into the container's mount namespace, so
 * they go right after `runc create`). Nothing here is ever removed recursively: a staging
 * place is a mount of a layer or of a hostPath volume, and `rm -r` through it would delete
 * what it shows. Places are detached, then removed with rmdir/unlink, which fail on a
 * mount point instead of descending into it.
 */
import { mkdir, open, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { idmappedBind } from './idmap.ts';
import { MNT_DETACH, umount } from './libc.ts';
import { mountPoints } from '../lib/mount-points.ts';

/** The run root's dir of staging places: `<runRoot>/idmap/<container id or infra-<pod id>>`. */
export function idmapStagingRoot(runRoot: string): string {
  return join(runRoot, 'idmap');
}

/** Runs `fn` with the user namespace pinned at `usernsPath` open (an nsfs file). */
export async function withUserns<T>(usernsPath: string, fn: (fd: number) => Promise<T> | T): Promise<T> {
  const handle = await open(usernsPath, 'r');
  try {
    return await fn(handle.fd);
  } finally {
    await handle.close();
  }
}

/**
 * Attaches at `place` an id-mapped copy of `source` (recursive: with its submounts, as an
 * rbind), creating `place` as a directory or an empty file to match the source.
 */
export async function stageIdmapped(source: string, place: string, usernsFd: number, recursive: boolean): Promise<void> {
  const st = await stat(source);
  // 0711 parents: runc 1.1 mounts the sources from inside the pod's user namespace, whose
  // root (an unmapped host id) must be able to reach them.
  await mkdir(dirname(place), { recursive: true, mode: 0o711 });
  if (st.isDirectory()) await mkdir(place, { recursive: true, mode: 0o711 });
  else await writeFile(place, '', { mode: 0o600, flag: 'a' });
  idmappedBind(source, place, usernsFd, recursive);
}

/** Detaches the mount at `place` (if any) and removes the place itself, never its contents. */
export async function releaseStaged(place: string): Promise<void> {
  try {
    umount(place, MNT_DETACH);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  const st = await stat(place).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await rmdir(place);
  else await unlink(place);
}

/**
 * Start-up sweep of `dir` (a crash between staging and release leaves places behind):
 * detaches every mount under it, deepest first, then removes the emptied tree bottom-up.
 */
export async function sweepStaging(dir: string): Promise<void> {
  const prefix = `${dir}/`;
  const mounted = [...(await mountPoints())].filter((p) => p.startsWith(prefix)).sort((a, b) => b.length - a.length);
  for (const p of mounted) umount(p, MNT_DETACH);
  const st = await stat(dir).catch(() => undefined);
  if (st) await removeEmptyTree(dir, st.dev);
}

/**
 * rmdir/unlink only, and only what is on the staging dir's own device: a place still
 * mounted (st_dev differs) is left alone rather than descended into.
 */
async function removeEmptyTree(path: string, dev: number): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st || st.dev !== dev) return;
  if (!st.isDirectory()) {
    if (st.size === 0) await unlink(path);
    return;
  }
  for (const name of await readdir(path)) await removeEmptyTree(join(path, name), dev);
  await rmdir(path).catch(() => undefined);
}
