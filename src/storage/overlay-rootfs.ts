/**
 * A container's root filesystem: an overlay mount of the image's layers (read-only lower
 * dirs, top first) with a per-container upper and work dir under the storage root, as
 * containers/storage's overlay driver does. The lower dirs are the layer store's short
 * `l/` links, which keeps the mount options under a page for all but very deep images.
 */
import { chown, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Op } from '../lib/op.ts';
import { run } from '../lib/exec.ts';
import { MNT_DETACH, mount as mountSyscall, umount as umountSyscall } from './libc.ts';
import { releaseStaged, stageIdmapped, withUserns } from './idmap-staging.ts';

/**
 * An overlay for a pod with its own user namespace: each lower layer is mounted through
 * an id-mapped copy (a file owned by 0 on disk appears owned by the pod's root, host id
 * `uid`), and the upper dir belongs to that host id, so what the container writes is owned
 * on disk by the ids it maps to. The layers on disk are unchanged and shared with other
 * pods. An overlay mount itself cannot be id-mapped (mount_setattr answers EINVAL), and an
 * id-mapped upper dir cannot be written by overlayfs (its work dir is made as host root,
 * which the mapping does not cover: EOVERFLOW); both were tried on this kernel.
 */
export interface RootfsIdmap {
  /** The pod's pinned user namespace. */
  usernsPath: string;
  /** Host ids of the pod's uid 0 and gid 0. */
  uid: number;
  gid: number;
  /** Where the id-mapped copies of the layers are attached while the overlay is mounted (idmap-staging.ts). */
  stagingDir: string;
}

export interface RootfsMounter {
  /** Mounts the overlay at `target`; a no-op when it is already mounted there. */
  mount(op: Op, id: string, lowerDirs: readonly string[], target: string, idmap?: RootfsIdmap): Promise<void>;
  /**
   * Mounts the layers alone, read-only (an overlay without upper and work dirs) at
   * `target`: an image volume. A no-op when it is already mounted there.
   */
  mountReadOnly(op: Op, lowerDirs: readonly string[], target: string): Promise<void>;
  /** Unmounts `target`; a no-op when it is not mounted. `lazy` detaches a busy mount (MNT_DETACH). */
  unmount(op: Op, target: string, opts?: { lazy?: boolean }): Promise<void>;
  /** Deletes the container's upper and work dirs. */
  removeLayer(op: Op, id: string): Promise<void>;
  /** Ids of every container that has a read-write layer. */
  layerIds(): Promise<string[]>;
  /** The container's upper dir: what it changed in its rootfs (a checkpoint's rootfs diff). */
  upperDir?(id: string): string;
}

export interface OverlayRootfsDeps {
  /** Holds `<id>/upper` and `<id>/work`, e.g. `<root>/overlay-containers`. */
  layersDir: string;
}

const MOUNT_TIMEOUT_MS = 30_000;
/** mount(2) copies at most one page of option data. */
const MOUNT_DATA_MAX = 4096;

/** An overlay mount has its own device: a mount point differs from its parent dir in st_dev. */
async function isMountPoint(path: string): Promise<boolean> {
  const [self, parent] = await Promise.all([stat(path).catch(() => undefined), stat(dirname(path)).catch(() => undefined)]);
  return self !== undefined && parent !== undefined && self.dev !== parent.dev;
}

export class OverlayRootfs implements RootfsMounter {
  readonly #deps: OverlayRootfsDeps;

  constructor(deps: OverlayRootfsDeps) {
    this.#deps = deps;
  }

  async mount(op: Op, id: string, lowerDirs: readonly string[], target: string, idmap?: RootfsIdmap): Promise<void> {
    if (await isMountPoint(target)) return;
    const dir = join(this.#deps.layersDir, id);
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    await Promise.all([
      mkdir(upper, { recursive: true, mode: 0o755 }), mkdir(work, { recursive: true, mode: 0o700 }), mkdir(target, { recursive: true, mode: 0o755 }),
    ]);
    const rest = `,upperdir=${upper},workdir=${work}`;
    if (!idmap) {
      await overlay(op, lowerDirs, rest, target);
      return;
    }
    // The root of the overlay is the upper dir's: the pod's root must own it.
    await chown(upper, idmap.uid, idmap.gid);
    await withUserns(idmap.usernsPath, async (fd) => {
      // `<staging>/l/<n>`: the same shape as the store's short links, for overlay()'s long-option fallback.
      const staged: string[] = [];
      try {
        for (const [i, lower] of lowerDirs.entries()) {
          const place = join(idmap.stagingDir, 'l', String(i));
          await stageIdmapped(lower, place, fd, false);
          staged.push(place);
        }
        await overlay(op, staged, rest, target);
      } finally {
        for (const place of staged) await releaseStaged(place);
        await releaseStaged(join(idmap.stagingDir, 'l')).catch(() => undefined);
        await releaseStaged(idmap.stagingDir).catch(() => undefined);
      }
    });
  }

  async mountReadOnly(op: Op, lowerDirs: readonly string[], target: string): Promise<void> {
    if (await isMountPoint(target)) return;
    await mkdir(target, { recursive: true, mode: 0o755 });
    // Without an upper dir overlayfs wants at least two lower dirs: a one-layer image
    // gets an empty one beneath it (beside the mount point, so it goes with it).
    const lowers = [...lowerDirs];
    if (lowers.length === 1) {
      const empty = `${target}-empty`;
      await mkdir(empty, { recursive: true, mode: 0o755 });
      lowers.push(empty);
    }
    await overlay(op, lowers, '', target);
  }

  async unmount(_op: Op, target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    try {
      umountSyscall(target, opts.lazy ? MNT_DETACH : 0);
    } catch (err) {
      // EINVAL: not a mount point (umount2 with no flags has no other EINVAL case).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
    }
  }

  upperDir(id: string): string {
    return join(this.#deps.layersDir, id, 'upper');
  }

  async layerIds(): Promise<string[]> {
    return readdir(this.#deps.layersDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
  }

  async removeLayer(_op: Op, id: string): Promise<void> {
    await rm(join(this.#deps.layersDir, id), { recursive: true, force: true });
  }
}

/** mount -t overlay with `lowerDirs` (top first) and `rest` of the options (",upperdir=…,workdir=…" or ""). */
async function overlay(op: Op, lowerDirs: readonly string[], rest: string, target: string): Promise<void> {
  const options = `lowerdir=${lowerDirs.join(':')}${rest}`;
  if (options.length < MOUNT_DATA_MAX) {
    mountSyscall('overlay', target, 'overlay', options);
    return;
  }
  // Too long for the kernel's one page of mount data: every lower dir is
  // `<overlay dir>/l/<short>`, so relative to the overlay dir they are short, and mount(8)
  // can be run there (a syscall cannot: the daemon's cwd is shared by every request).
  const base = dirname(dirname(lowerDirs[0] ?? '/'));
  const lowers = lowerDirs.map((l) => relative(base, l)).join(':');
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers}${rest}`, target], {
    signal: op.signal, timeoutMs: MOUNT_TIMEOUT_MS, cwd: base,
  });
}
