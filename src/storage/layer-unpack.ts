/**
 * Extracts an uncompressed layer tar into an empty directory, converting OCI whiteouts to
 * overlayfs ones (OCI image-spec layer.md "Whiteouts"; kernel overlayfs.rst). Facts and
 * timings behind the choices here: derisk §5 (tar-stream + koffi, small files through one fd).
 * The event loop parses the tar and resolves every path (LayerTree); the filesystem calls
 * run in order on a thread of their own (unpack-writer.ts), beside the hashing and parsing
 * of the next entries instead of after them.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { S_IFBLK, S_IFCHR, S_IFIFO } from './libc.ts';
import { LayerTree, entryComponents } from './layer-tree.ts';
import { PaxXattrScanner, type RawXattrs } from './pax-xattrs.ts';
import { LayerFormatError, UnsafeLayerEntryError, quoteBounded, spaceExhausted } from './errors.ts';
import { EntryFsError, FsOpWriter } from './unpack-writer.ts';

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
const OPAQUE_VALUE = Buffer.from('y');
/** Files up to this size go to the filesystem thread whole, in one operation (most files). */
const SMALL_FILE_MAX = 1024 * 1024;

export interface UnpackStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  whiteouts: number;
  opaqueDirs: number;
  skipped: number;
}

type Header = tar.Header & { pax?: Record<string, string> | null };
type EntryStream = AsyncIterable<Buffer> & { resume(): unknown };

/**
 * Unpacks `input` (uncompressed tar bytes) into `dir`, which is created and must be empty.
 * @throws UnsafeLayerEntryError for an entry that would escape `dir`
 * @throws LayerFormatError for a tar that cannot be read
 */
export async function unpackLayer(input: Readable | AsyncIterable<Buffer>, dir: string, signal?: AbortSignal): Promise<UnpackStats> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if ((await readdir(dir)).length > 0) throw new LayerFormatError(`layer directory ${dir} is not empty`);
  const ops = new FsOpWriter();
  const tree = new LayerTree(dir, ops);
  const stats: UnpackStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, whiteouts: 0, opaqueDirs: 0, skipped: 0 };
  const dirTimes: Array<[string, Date]> = [];
  const scanner = new PaxXattrScanner();
  const extract = tar.extract();
  const feeding = pipeline(input, scanner, extract, signal ? { signal } : {});
  let feedError: unknown;
  feeding.catch((err: unknown) => { feedError = err; });
  try {
    for await (const entry of extract as AsyncIterable<EntryStream & { header: Header }>) {
      signal?.throwIfAborted();
      stats.entries++;
      ops.entry(entry.header.name);
      try {
        await unpackEntry(tree, ops, entry.header, entry, scanner.nextEntryXattrs(), stats, dirTimes);
        // Waits while the thread is behind; throws what an earlier entry's operation failed with.
        await ops.drain();
      } catch (err) {
        throw entryError(entry.header.name, err, tree);
      }
    }
    await feeding;
  } catch (err) {
    // The input's own error (digest, decompression) wins over the iterator's view of it;
    // read it before destroy() adds a "premature close" of our own making. A premature close
    // is never the cause: it is what our stopping to read (a failed entry) did to the input.
    const cause = [feedError, err].find((e) => e !== undefined && !isPrematureClose(e)) ?? err;
    extract.destroy();
    await feeding.catch(() => undefined);
    // Nothing may still be writing into `dir` once this rejects: the caller removes it.
    await ops.abandon();
    throw wrapTarError(cause);
  }
  // Directory mtimes last: creating their children changed them (GNU tar does the same).
  // Only where a directory still is, and never through a symlink: a later entry may have
  // replaced the directory with a symlink to a host path.
  for (const [key, mtime] of dirTimes) {
    if (tree.get(key)?.kind === 'dir') ops.add({ k: 'times', p: tree.abs(key), t: seconds(mtime), follow: false });
  }
  try {
    await ops.finish();
  } catch (err) {
    throw entryError('', err, tree);
  }
  return stats;
}

function isPrematureClose(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * What the filesystem refused for one entry, as the layer's fault or the host's (issue 12
 * class 4): a name, link or xattr it cannot hold is a LayerFormatError naming the entry; a
 * full disk or quota a ResourceExhaustedError naming the path and the operation. The raw
 * error is not chained: its message repeats the whole (unbounded) host path.
 */
function entryError(entry: string, failure: unknown, tree: LayerTree): unknown {
  // An operation runs on the filesystem thread after its entry was parsed: it names its own entry.
  const name = failure instanceof EntryFsError ? failure.entry : entry;
  const err = failure instanceof EntryFsError ? failure.fsError : failure;
  const e = err as NodeJS.ErrnoException;
  const full = spaceExhausted(err, `extracting layer entry ${quoteBounded(name)}`, tree.root);
  if (full) return full;
  if (typeof e?.code === 'string' && ENTRY_ERRNOS.has(e.code)) {
    return new LayerFormatError(`layer entry ${quoteBounded(name)} cannot be extracted: ${e.code} in ${e.syscall ?? 'a filesystem call'}`);
  }
  return err;
}

/** errnos that say an entry is not something a filesystem can hold, whatever the host. */
const ENTRY_ERRNOS: ReadonlySet<string> = new Set([
  'ENAMETOOLONG', 'EINVAL', 'ELOOP', 'EILSEQ', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EMLINK', 'E2BIG', 'ERANGE', 'EFBIG',
]);

function wrapTarError(err: unknown): unknown {
  if (err instanceof Error && /tar|header|Unexpected end/i.test(err.message) && !('code' in err && typeof err.code === 'string' && err.code.startsWith('CRI_'))) {
    return new LayerFormatError(`layer tar is invalid: ${err.message}`, { cause: err });
  }
  return err;
}

async function unpackEntry(tree: LayerTree, ops: FsOpWriter, h: Header, body: EntryStream, xattrs: RawXattrs, stats: UnpackStats, dirTimes: Array<[string, Date]>): Promise<void> {
  const parts = entryComponents(h.name);
  const base = parts[parts.length - 1] ?? '';
  if (base.startsWith(WHITEOUT_PREFIX)) {
    body.resume();
    const { dirKey } = tree.resolveParent(h.name, parts, true);
    if (base === WHITEOUT_OPAQUE) {
      // Opaque directory: lower layers' content of this dir is hidden.
      ops.add({ k: 'xattr', p: tree.abs(dirKey), x: ops.xattrs(new Map([['trusted.overlay.opaque', OPAQUE_VALUE]]))! });
      stats.opaqueDirs++;
      return;
    }
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..') throw new UnsafeLayerEntryError(h.name, 'whiteout names no file');
    const key = dirKey === '' ? victim : `${dirKey}/${victim}`;
    tree.clear(key);
    ops.add({ k: 'mknod', p: tree.abs(key), m: S_IFCHR, major: 0, minor: 0 });
    tree.set(key, { kind: 'file' });
    stats.whiteouts++;
    return;
  }
  const { key } = tree.resolveParent(h.name, parts, true);
  const p = tree.abs(key);
  const m = (h.mode ?? 0o644) & 0o7777;
  const u = paxNumber(h, 'uid') ?? h.uid ?? 0;
  const g = paxNumber(h, 'gid') ?? h.gid ?? 0;
  const t = seconds(paxDate(h) ?? h.mtime ?? new Date(0));
  switch (h.type) {
    case 'file':
    case 'contiguous-file':
      replace(tree, key);
      if ((h.size ?? 0) <= SMALL_FILE_MAX) {
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(chunk);
        ops.file({ p, u, g, m, t }, chunks, xattrs);
      } else {
        ops.add({ k: 'create', p, m });
        for await (const chunk of body) {
          ops.append(chunk);
          await ops.drain();
        }
        ops.add({ k: 'seal', p, u, g, m, t, x: ops.xattrs(xattrs) });
      }
      tree.set(key, { kind: 'file' });
      stats.files++;
      return;
    case 'directory':
      body.resume();
      if (tree.get(key)?.kind !== 'dir') {
        replace(tree, key);
        ops.add({ k: 'mkdir', p, m: 0o700 });
        tree.set(key, { kind: 'dir' });
      }
      stats.dirs++;
      ops.add({ k: 'meta', p, u, g, m, x: ops.xattrs(xattrs) });
      dirTimes.push([key, new Date(t * 1000)]);
      return;
    case 'symlink':
      body.resume();
      replace(tree, key);
      ops.add({ k: 'symlink', p, target: h.linkname ?? '' });
      tree.set(key, { kind: 'symlink', target: h.linkname ?? '' });
      stats.symlinks++;
      ops.add({ k: 'meta', p, u, g, m: -1, x: ops.xattrs(xattrs) });
      ops.add({ k: 'times', p, t, follow: false });
      return;
    case 'link': {
      body.resume();
      const linkName = h.linkname ?? '';
      let target: { key: string };
      try {
        target = tree.resolveParent(linkName, entryComponents(linkName), false);
      } catch (err) {
        throw new UnsafeLayerEntryError(h.name, `hard link target ${quoteBounded(linkName)} is not inside the layer`, { cause: err });
      }
      const node = tree.get(target.key);
      if (target.key === '' || node === undefined || node.kind === 'dir') {
        throw new UnsafeLayerEntryError(h.name, `hard link target ${quoteBounded(linkName)} is not a file earlier in the layer`);
      }
      if (target.key === key) return;
      replace(tree, key);
      // link(2) does not follow a symlink target, so this never reaches past the root.
      ops.add({ k: 'link', from: tree.abs(target.key), p });
      tree.set(key, node.kind === 'symlink' ? node : { kind: 'file' });
      stats.hardlinks++;
      return;
    }
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      body.resume();
      replace(tree, key);
      const typeBits = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
      ops.add({ k: 'mknod', p, m: typeBits | 0o600, major: h.devmajor ?? 0, minor: h.devminor ?? 0 });
      tree.set(key, { kind: 'file' });
      if (h.type === 'fifo') stats.fifos++;
      else stats.devices++;
      ops.add({ k: 'meta', p, u, g, m, x: ops.xattrs(xattrs) });
      ops.add({ k: 'times', p, t, follow: true });
      return;
    }
    default:
      // GNU sparse, volume headers and the like: not produced by image builders.
      body.resume();
      stats.skipped++;
  }
}

/** Clears `key` unless it is the layer root, which an entry may only update as a directory. */
function replace(tree: LayerTree, key: string): void {
  if (key === '') throw new UnsafeLayerEntryError('/', 'the layer root can only be a directory');
  tree.clear(key);
}

/** A time as the seconds the filesystem calls take (sub-second part kept). */
function seconds(d: Date): number {
  return d.getTime() / 1000;
}

/** PAX uid/gid override the ustar fields, which hold at most 2097151 (tar-stream ignores them). */
function paxNumber(h: Header, key: 'uid' | 'gid'): number | undefined {
  const v = h.pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** PAX mtime carries sub-second precision ("1700000000.123456789"). */
function paxDate(h: Header): Date | undefined {
  const v = h.pax?.mtime;
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? new Date(n * 1000) : undefined;
}
