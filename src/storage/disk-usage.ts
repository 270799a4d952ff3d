/**
 * du-style walk for ImageFsInfo and a container's writable layer: bytes allocated
 * (st_blocks × 512) and inodes, each inode counted once however many hard links it has.
 * Entries that vanish during the walk (a layer being removed) are skipped.
 *
 * A writable layer belongs to a running container, which can swap any directory in it for
 * a symlink to a host path while the walk is under way (issue 12 class 1). So the walk
 * never resolves a path twice: each directory is opened with O_NOFOLLOW and checked to be
 * the inode lstat counted, and its entries are named through /proc/self/fd/<fd>/, which
 * resolves to that open directory and nothing else.
 */
import { constants as fsc, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';

export interface DiskUsage {
  bytes: number;
  inodes: number;
}

/**
 * Directories open at once, one per level: deeper entries are not counted. Image layers are
 * tens of levels deep; a container that nests deeper only hides its own usage.
 */
const MAX_DEPTH = 256;

interface Frame { fh: FileHandle; names: string[] }

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  return lstat(path, { bigint: true }).catch(() => undefined);
}

/** The directory `st` describes, opened without following a symlink, with its entries. */
async function openDir(path: string, st: BigIntStats): Promise<Frame | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const now = await fh.stat({ bigint: true });
    if (now.dev !== st.dev || now.ino !== st.ino) throw new Error('replaced since lstat');
    return { fh, names: await readdir(`/proc/self/fd/${fh.fd}`) };
  } catch {
    await fh.close();
    return undefined;
  }
}

/** Walks `dirs` (missing ones count as empty). */
export async function diskUsage(dirs: readonly string[]): Promise<DiskUsage> {
  const seen = new Set<string>();
  const total: DiskUsage = { bytes: 0, inodes: 0 };
  /** Counts `st` once; true when it is a directory to descend into. */
  const count = (st: BigIntStats): boolean => {
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    total.inodes++;
    total.bytes += Number(st.blocks) * 512;
    return st.isDirectory();
  };
  for (const dir of dirs) {
    const st = await lstatOrUndefined(dir);
    if (st === undefined || !count(st)) continue;
    const top = await openDir(dir, st);
    if (top === undefined) continue;
    const stack: Frame[] = [top];
    try {
      while (stack.length > 0) {
        const frame = stack[stack.length - 1] as Frame;
        const name = frame.names.pop();
        if (name === undefined) {
          stack.pop();
          await frame.fh.close();
          continue;
        }
        const child = `/proc/self/fd/${frame.fh.fd}/${name}`;
        const cst = await lstatOrUndefined(child);
        if (cst === undefined || !count(cst) || stack.length >= MAX_DEPTH) continue;
        const next = await openDir(child, cst);
        if (next !== undefined) stack.push(next);
      }
    } finally {
      for (const frame of stack) await frame.fh.close().catch(() => undefined);
    }
  }
  return total;
}
