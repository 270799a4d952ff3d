/**
 * du-style walk for ImageFsInfo: bytes allocated (st_blocks × 512) and inodes, each
 * inode counted once however many hard links it has. Entries that vanish during the
 * walk (a layer being removed) are skipped.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskUsage {
  bytes: number;
  inodes: number;
}

/** Walks `dirs` (missing ones count as empty). */
export async function diskUsage(dirs: readonly string[]): Promise<DiskUsage> {
  const seen = new Set<string>();
  const total: DiskUsage = { bytes: 0, inodes: 0 };
  const stack = [...dirs];
  while (stack.length > 0) {
    const path = stack.pop() as string;
    let st;
    try {
      st = await lstat(path, { bigint: true });
    } catch {
      continue;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    total.inodes++;
    total.bytes += Number(st.blocks) * 512;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(path);
      } catch {
        continue;
      }
      for (const name of names) stack.push(join(path, name));
    }
  }
  return total;
}
