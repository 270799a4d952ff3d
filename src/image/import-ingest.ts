/**
 * The step both archive formats end in: stream each layer file into the store (verified
 * against its digest and diff ID by Store.ingestLayer, exactly as a pulled layer is),
 * then record the image. Layers already stored are skipped.
 */
import type { Op } from '../lib/op.ts';
import { describeError } from '../lib/errors.ts';
import type { Store, ImageRecord } from '../storage/store.ts';
import type { ArchiveFiles } from './import-archive.ts';
import { ImageArchiveError } from './import-archive.ts';
import { chainIdsOf } from './pull.ts';

export interface ArchiveLayer {
  /** File name inside the archive. */
  file: string;
  /** Digest of the file's bytes as stored (compressed or not). */
  digest: string;
  diffId: string;
  mediaType: string;
  size: number;
}

export interface ArchiveImage {
  /** What the archive calls it, for messages. */
  what: string;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  layers: ArchiveLayer[];
  names: string[];
  digests: string[];
}

/** The config's rootfs.diff_ids, checked against the layer count. */
export function configDiffIds(config: Buffer, expectedLayers: number, what: string): string[] {
  let doc: { rootfs?: { diff_ids?: unknown } };
  try {
    doc = JSON.parse(config.toString('utf8')) as typeof doc;
  } catch (err) {
    throw new ImageArchiveError(`${what}: the image config is not JSON`, { cause: err });
  }
  const ids = doc.rootfs?.diff_ids;
  if (!Array.isArray(ids) || !ids.every((d): d is string => typeof d === 'string')) {
    throw new ImageArchiveError(`${what}: the image config has no rootfs.diff_ids list`);
  }
  if (ids.length !== expectedLayers) {
    throw new ImageArchiveError(`${what}: the config lists ${ids.length} diff IDs but there are ${expectedLayers} layers`);
  }
  if (ids.length === 0) throw new ImageArchiveError(`${what} has no layers`);
  return ids;
}

export async function ingestArchiveImage(op: Op, store: Store, files: ArchiveFiles, img: ArchiveImage): Promise<ImageRecord> {
  const chain = chainIdsOf(img.layers.map((l) => l.diffId));
  for (const [i, layer] of img.layers.entries()) {
    if (store.hasLayer(chain[i]!)) continue;
    op.signal.throwIfAborted();
    try {
      await store.ingestLayer(op, {
        parentChainId: i === 0 ? null : chain[i - 1]!,
        diffId: layer.diffId,
        digest: layer.digest,
        mediaType: layer.mediaType,
        size: layer.size,
        body: files.open(layer.file),
      });
    } catch (err) {
      if (op.signal.aborted) throw err;
      // A layer that fails to verify or unpack makes the archive unusable: say which one.
      throw new ImageArchiveError(`${img.what}: layer ${layer.digest} (${layer.file}): ${describeError(err)}`, { cause: err });
    }
  }
  return store.putImage(op, {
    id: img.configDigest,
    names: img.names,
    digests: img.digests,
    topLayer: chain[chain.length - 1]!,
    manifest: img.manifest,
    config: img.config,
  });
}
