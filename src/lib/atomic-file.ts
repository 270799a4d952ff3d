/**
 * Crash-safe file writes: tmp file in the same directory, fsync, rename, fsync of the
 * directory. A reader sees the old content or the new one, never a torn file
 * (containerd continuity.AtomicWriteFile, CRI-O NewAtomicFileWriter).
 */
import { open, rename, rm, mkdir, readFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode of a new file (default 0600). */
  mode?: number;
  /**
   * false: still atomic (tmp + rename) for readers and for a crash of this process, but not
   * fsynced, so a power loss may lose it. For state nobody was told about yet, whose later
   * durable write follows (see RecordStore.create).
   */
  durable?: boolean;
}

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', opts.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable) await syncDir(dir);
}

/** Writes JSON (two-space indented) atomically. */
export async function writeJsonAtomic(path: string, value: unknown, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts);
}

/** fsyncs a file written earlier without it (or a directory). */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** fsyncs a directory so a rename inside it survives a crash. */
export function syncDir(dir: string): Promise<void> {
  return syncFile(dir);
}
