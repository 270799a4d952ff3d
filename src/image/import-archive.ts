/**
 * Unpacks an image archive (a tar of an OCI image layout, or a `docker save` tar) into a
 * private staging dir so its blobs can be read in any order. Only regular files,
 * directories and symlinks between files of the archive are accepted; a name that is
 * absolute or climbs out with `..` refuses the archive (the archive is input from
 * elsewhere, like a registry's layers).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type Header } from 'tar-stream';
import type { Op } from '../lib/op.ts';
import { CritterError, InvalidArgumentError, NotFoundError } from '../lib/errors.ts';
import { quoteBounded, spaceExhausted } from '../storage/errors.ts';

/** A malformed or unsupported image archive. */
export class ImageArchiveError extends CritterError {
  override readonly code = 'CRI_ERR_INVALID_ARGUMENT';
}

/** JSON documents (index, manifests, configs) are small; a bigger one is not what it claims. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

/** The files of an unpacked archive, by their name inside it. */
export class ArchiveFiles {
  readonly archive: string;
  readonly #dir: string;
  readonly #files: Map<string, string>;

  constructor(deps: { archive: string; dir: string; files: Map<string, string> }) {
    this.archive = deps.archive;
    this.#dir = deps.dir;
    this.#files = deps.files;
  }

  has(name: string): boolean {
    return this.#files.has(normalise(name));
  }

  /** The on-disk path of `name`. @throws ImageArchiveError when the archive lacks it */
  path(name: string): string {
    const stored = this.#files.get(normalise(name));
    if (stored === undefined) throw new ImageArchiveError(`archive ${this.archive} has no file ${JSON.stringify(name)}`);
    return join(this.#dir, stored);
  }

  async size(name: string): Promise<number> {
    return (await stat(this.path(name))).size;
  }

  async bytes(name: string): Promise<Buffer> {
    if ((await this.size(name)) > MAX_JSON_BYTES) throw new ImageArchiveError(`archive ${this.archive}: ${name} is larger than ${MAX_JSON_BYTES} bytes`);
    return readFile(this.path(name));
  }

  async json<T>(name: string): Promise<T> {
    const data = await this.bytes(name);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (err) {
      throw new ImageArchiveError(`archive ${this.archive}: ${name} is not valid JSON`, { cause: err });
    }
  }

  open(name: string): ReturnType<typeof createReadStream> {
    return createReadStream(this.path(name), { highWaterMark: 1024 * 1024 });
  }
}

/** `./a//b` → `a/b`; refuses absolute names and `..`. */
function normalise(name: string): string {
  if (name.startsWith('/') || name.split('/').includes('..')) throw new ImageArchiveError(`archive entry ${JSON.stringify(name)} points outside the archive`);
  return posix.normalize(name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/**
 * Unpacks `archive` into `dir` (created; the caller removes it).
 * @throws NotFoundError when the archive does not exist; ImageArchiveError when it is not a usable tar
 */
export async function unpackArchive(op: Op, archive: string, dir: string): Promise<ArchiveFiles> {
  const st = await stat(archive).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError(`image archive ${archive} does not exist`);
    throw err;
  });
  if (!st.isFile()) throw new InvalidArgumentError(`image archive ${archive} is not a regular file`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = new Map<string, string>();
  const links = new Map<string, string>();
  let counter = 0;
  const ex = tarExtract();
  // An entry's own error, classified, wins over the raw one the pipeline may see first.
  let entryError: unknown;
  ex.on('entry', (header: Header, stream, next) => {
    const done = (err?: unknown): void => {
      if (err === undefined) return next();
      entryError ??= err;
      ex.destroy(err as Error);
    };
    const onEntry = async (): Promise<void> => {
      const name = normalise(header.name);
      if (header.type === 'directory' || name === '' || name === '.') {
        stream.resume();
        return;
      }
      if (header.type === 'symlink') {
        links.set(name, normalise(posix.join(posix.dirname(name), header.linkname ?? '')));
        stream.resume();
        return;
      }
      if (header.type === 'link') {
        links.set(name, normalise(header.linkname ?? ''));
        stream.resume();
        return;
      }
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        stream.resume();
        throw new ImageArchiveError(`archive ${archive}: entry ${JSON.stringify(header.name)} is a ${header.type}, not a file`);
      }
      // Stored under a counter, not the archive's name: names stay data, never paths.
      const stored = String(counter++);
      files.set(name, stored);
      await pipeline(stream, createWriteStream(join(dir, stored), { mode: 0o600 }), { signal: op.signal }).catch((err: unknown) => {
        // A full disk is the host's condition, not a broken archive.
        throw spaceExhausted(err, `unpacking image archive ${archive} entry ${quoteBounded(header.name)}`, join(dir, stored)) ?? err;
      });
    };
    onEntry().then(() => done(), done);
  });
  try {
    await pipeline(createReadStream(archive, { highWaterMark: 1024 * 1024 }), ex, { signal: op.signal });
  } catch (caught) {
    const err = entryError ?? caught;
    if (err instanceof CritterError || op.signal.aborted) throw err;
    const full = spaceExhausted(err, `unpacking image archive ${archive}`, dir);
    if (full) throw full;
    throw new ImageArchiveError(`${archive} is not a readable tar archive: ${(err as Error).message}`, { cause: err });
  }
  for (const [name, first] of links) {
    let target = first;
    // A link may point at another link; a loop ends at the bound and is refused below.
    for (let hops = 0; hops < 8 && links.has(target) && !files.has(target); hops++) target = links.get(target)!;
    const stored = files.get(target);
    if (stored === undefined) throw new ImageArchiveError(`archive ${archive}: link ${JSON.stringify(name)} points to ${JSON.stringify(target)}, which is not a file in it`);
    files.set(name, stored);
  }
  if (files.size === 0) throw new ImageArchiveError(`${archive} is empty or not a tar archive`);
  return new ArchiveFiles({ archive, dir: join(dir), files });
}
