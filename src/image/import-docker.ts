/**
 * Images of a `docker save` archive: `manifest.json` is a list of { Config, RepoTags,
 * Layers } naming files in the archive (moby image/tarexport). Layers are tars as docker
 * stores them — uncompressed, so a layer's digest is its diff ID — and the config's
 * digest is the image id. A docker archive carries no registry manifest, so critter
 * records a Docker schema 2 manifest describing the layers as stored, and no repo digest.
 */
import { createHash } from 'node:crypto';
import type { Op } from '../lib/op.ts';
import { sniffCompression } from '../storage/decompress.ts';
import { formatTagged, parseNormalisedReference, repositoryName } from './reference.ts';
import { digestOf } from './registry/manifest.ts';
import { DOCKER_CONFIG, DOCKER_MANIFEST } from './registry/media-types.ts';
import { ImageArchiveError, type ArchiveFiles } from './import-archive.ts';
import { configDiffIds, type ArchiveImage, type ArchiveLayer } from './import-ingest.ts';

const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

interface DockerSaveEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

export function isDockerSave(files: ArchiveFiles): boolean {
  return files.has('manifest.json');
}

export async function dockerImages(op: Op, files: ArchiveFiles): Promise<ArchiveImage[]> {
  const archive = files.archive;
  const doc = await files.json<unknown>('manifest.json');
  if (!Array.isArray(doc) || doc.length === 0) throw new ImageArchiveError(`archive ${archive}: manifest.json is not a non-empty list of images`);
  const out: ArchiveImage[] = [];
  for (const [i, raw] of (doc as DockerSaveEntry[]).entries()) {
    const what = `archive ${archive}: manifest.json[${i}]`;
    if (typeof raw?.Config !== 'string') throw new ImageArchiveError(`${what}: "Config" is not a file name`);
    if (!Array.isArray(raw.Layers) || !raw.Layers.every((l): l is string => typeof l === 'string')) {
      throw new ImageArchiveError(`${what}: "Layers" is not a list of file names`);
    }
    const tags = raw.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) throw new ImageArchiveError(`${what}: "RepoTags" is not a list of names`);
    const config = await files.bytes(raw.Config);
    const configDigest = digestOf(config, 'sha256:');
    const diffIds = configDiffIds(config, raw.Layers.length, what);
    const layers: ArchiveLayer[] = [];
    for (const [j, file] of raw.Layers.entries()) layers.push(await dockerLayer(files, file, diffIds[j]!));
    const names = tags.map((t) => {
      try {
        const ref = parseNormalisedReference(t);
        if (ref.tag === undefined) throw new Error('no tag');
        return formatTagged(repositoryName(ref), ref.tag);
      } catch (err) {
        throw new ImageArchiveError(`${what}: RepoTag ${JSON.stringify(t)} is not a valid name:tag: ${(err as Error).message}`);
      }
    });
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }));
    op.log.debug({ archive, image: configDigest, names }, 'docker-save image found');
    out.push({ what, config, configDigest, manifest, layers, names, digests: [] });
  }
  return out;
}

/**
 * A layer file: a plain tar has digest = diff ID (checked while it is ingested); a
 * compressed one (not what docker writes, but a hand-made archive may have it) is hashed
 * first so its blob digest is known.
 */
async function dockerLayer(files: ArchiveFiles, file: string, diffId: string): Promise<ArchiveLayer> {
  const size = await files.size(file);
  const head = await firstBytes(files, file);
  if (sniffCompression(head) === undefined) return { file, digest: diffId, diffId, mediaType: DOCKER_LAYER_TAR, size };
  const hash = createHash('sha256');
  for await (const chunk of files.open(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return { file, digest: `sha256:${hash.digest('hex')}`, diffId, mediaType: DOCKER_LAYER_GZIP, size };
}

async function firstBytes(files: ArchiveFiles, file: string): Promise<Buffer> {
  const stream = files.open(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) return chunk.subarray(0, 4);
    return Buffer.alloc(0);
  } finally {
    stream.destroy();
  }
}
