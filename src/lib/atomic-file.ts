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
   * fsynced, so a power loss may lose it: for state a power loss makes moot anyway.
   */
  durable?: boolean;
}

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeTmp(tmp, data, opts.mode ?? 0o600, durable);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable) await syncDir(dir);
}

async function writeTmp(tmp: string, data: string | Uint8Array, mode: number, durable: boolean): Promise<void> {
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Fills a directory the caller has just created and that nothing reads yet, in a single
 * round of fsyncs: the files are created in place (no tmp + rename, there is no old content
 * to protect), then the files, the directory and its parent (the new entry) are synced at
 * once. ~1.4 ms here against ~2.9 ms for the tmp + rename way. A crash before this
 * resolves may leave empty or torn files: the caller must treat a directory whose files do
 * not parse as never written.
 */
export async function fillNewDirDurably(dir: string, files: ReadonlyMap<string, string | Uint8Array>, mode = 0o600): Promise<void> {
  // Every entry exists before the directory's fsync starts, so that fsync covers them.
  const handles = await Promise.all([...files.keys()].map((name) => open(join(dir, name), 'wx', mode)));
  try {
    await Promise.all([
      ...[...files.values()].map(async (data, i) => {
        await handles[i]!.writeFile(data);
        await handles[i]!.sync();
      }),
      syncDir(dir),
      syncDir(dirname(dir)),
    ]);
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

/** Writes JSON (two-space indented) atomically. */
export async function writeJsonAtomic(path: string, value: unknown, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, jsonText(value), opts);
}

/** The JSON text the writers here store: two-space indented, newline-terminated. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
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
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
