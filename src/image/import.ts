/**
 * `critter images import`: loads an image archive into the store for nodes without a
 * registry. Both formats people carry around are read — an OCI image layout tar
 * (skopeo/umoci/buildah `oci-archive`, `docker save` ≥ 25) and the classic `docker save`
 * tar. The archive is unpacked into a staging dir under the storage root (same
 * filesystem, removed afterwards); each layer is then ingested like a pulled one.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import type { Store, ImageRecord } from '../storage/store.ts';
import { ImageArchiveError, unpackArchive } from './import-archive.ts';
import { ingestArchiveImage } from './import-ingest.ts';
import { isOciLayout, ociImages } from './import-oci.ts';
import { isDockerSave, dockerImages } from './import-docker.ts';


export interface ImportDeps {
  store: Store;
  /** Where archives are unpacked while they are imported. */
  stagingDir: string;
}

/**
 * Imports every image of the archive at `path` and returns their records.
 * @throws NotFoundError (no such file), ImageArchiveError (malformed), DigestMismatchError
 */
export async function importImageArchive(op: Op, deps: ImportDeps, path: string): Promise<ImageRecord[]> {
  const dir = join(deps.stagingDir, `import-${randomBytes(6).toString('hex')}`);
  const started = Date.now();
  try {
    const files = await unpackArchive(op, path, dir);
    // docker save ≥ 25 writes both an OCI layout and manifest.json; the layout says more.
    const images = isOciLayout(files) ? await ociImages(op, files)
      : isDockerSave(files) ? await dockerImages(op, files)
      : refuse(path);
    const out: ImageRecord[] = [];
    for (const img of images) out.push(await ingestArchiveImage(op, deps.store, files, img));
    op.log.info({ archive: path, images: out.map((r) => ({ id: r.id, names: r.names })), ms: Date.now() - started }, 'Image archive imported');
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function refuse(path: string): never {
  throw new ImageArchiveError(`${path} is neither an OCI image layout archive (no index.json and oci-layout) nor a docker-save archive (no manifest.json)`);
}
