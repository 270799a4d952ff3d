/**
 * Image records (containers/storage `overlay-images/images.json`, atomic writes) with
 * each image's manifest and config kept byte for byte in `overlay-images/<id>/`, so
 * ImageStatus can show the config and anyone can re-verify its digest. A tag (name)
 * belongs to one image at a time: tagging another image moves it.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../lib/atomic-file.ts';
import { NotFoundError } from '../lib/errors.ts';

export interface ImageRecord {
  /** Config digest hex (no "sha256:"). */
  id: string;
  /** Repo tags, e.g. "docker.io/library/busybox:latest". */
  names: string[];
  /** Repo digests, e.g. "docker.io/library/busybox@sha256:…". */
  digests: string[];
  /** Chain ID of the top layer. */
  topLayer: string;
  /** Sum of the uncompressed layer sizes. */
  size: number;
  /** RFC 3339, when first stored. */
  created: string;
}

export type ImageBlob = 'manifest' | 'config';

interface ImagesFile {
  version: 1;
  images: ImageRecord[];
}

export class ImageStore {
  readonly dir: string;
  readonly #indexPath: string;
  readonly #log: Logger;
  #records = new Map<string, ImageRecord>();

  private constructor(deps: { root: string; log: Logger }) {
    this.dir = join(deps.root, 'overlay-images');
    this.#indexPath = join(this.dir, 'images.json');
    this.#log = deps.log;
  }

  /** Loads the index; blob dirs of images not in it (a crash mid-put) are removed. */
  static async open(deps: { root: string; log: Logger }): Promise<ImageStore> {
    const store = new ImageStore(deps);
    await mkdir(store.dir, { recursive: true, mode: 0o700 });
    const file = await readJsonIfExists<ImagesFile>(store.#indexPath);
    for (const r of file?.images ?? []) store.#records.set(r.id, r);
    for (const name of await readdir(store.dir)) {
      if (name === 'images.json' || store.#records.has(name)) continue;
      store.#log.warn({ entry: name }, 'Removing unregistered image data');
      await rm(join(store.dir, name), { recursive: true, force: true });
    }
    return store;
  }

  get(id: string): ImageRecord | undefined {
    return this.#records.get(id);
  }

  list(): ImageRecord[] {
    return [...this.#records.values()];
  }

  findByName(name: string): ImageRecord | undefined {
    for (const r of this.#records.values()) if (r.names.includes(name)) return r;
    return undefined;
  }

  findByDigest(repoDigest: string): ImageRecord | undefined {
    for (const r of this.#records.values()) if (r.digests.includes(repoDigest)) return r;
    return undefined;
  }

  /** The stored blob. @throws NotFoundError */
  async blob(id: string, which: ImageBlob): Promise<Buffer> {
    if (!this.#records.has(id)) throw new NotFoundError(`image ${id} not found`);
    return readFile(join(this.dir, id, which));
  }

  /**
   * Adds or updates an image (names and digests are merged into an existing record),
   * moving its names away from other images. Blobs are written before the index.
   * Callers serialise mutations.
   */
  async put(rec: Omit<ImageRecord, 'created'>, blobs: Record<ImageBlob, Buffer>): Promise<ImageRecord> {
    const old = this.#records.get(rec.id);
    const record: ImageRecord = {
      id: rec.id,
      names: unique([...(old?.names ?? []), ...rec.names]),
      digests: unique([...(old?.digests ?? []), ...rec.digests]),
      topLayer: rec.topLayer,
      size: rec.size,
      created: old?.created ?? new Date().toISOString(),
    };
    const dir = join(this.dir, rec.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(dir, 'manifest'), blobs.manifest);
    await writeFileAtomic(join(dir, 'config'), blobs.config);
    const next = new Map<string, ImageRecord>();
    for (const [id, r] of this.#records) {
      if (id === rec.id) continue;
      const names = r.names.filter((n) => !record.names.includes(n));
      next.set(id, names.length === r.names.length ? r : { ...r, names });
    }
    next.set(record.id, record);
    await this.#persist(next);
    this.#records = next;
    return record;
  }

  /** Removes the record, then its blobs. False when there was none. Callers serialise mutations. */
  async remove(id: string): Promise<boolean> {
    if (!this.#records.has(id)) return false;
    const next = new Map(this.#records);
    next.delete(id);
    await this.#persist(next);
    this.#records = next;
    await rm(join(this.dir, id), { recursive: true, force: true });
    return true;
  }

  async #persist(records: Map<string, ImageRecord>): Promise<void> {
    const file: ImagesFile = { version: 1, images: [...records.values()] };
    await writeJsonAtomic(this.#indexPath, file);
  }
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
