/**
 * Images of an OCI image layout archive (image-spec image-layout.md): `oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`. Every manifest, index and config read is checked
 * against the digest that names it. Names come from the index entries' annotations:
 * `io.containerd.image.name` (a full reference, as containerd and docker ≥ 25 write) or
 * `org.opencontainers.image.ref.name` when it is a full reference; a bare tag names no
 * repository, so such an image is imported by id only.
 */
import type { Op } from '../lib/op.ts';
import { formatDigested, formatTagged, parseNormalisedReference, repositoryName } from './reference.ts';
import { digestOf, manifestMediaType, nodePlatform, parseImageManifest, parseIndex, selectPlatform, type IndexEntry } from './registry/manifest.ts';
import { isIndexMediaType } from './registry/media-types.ts';
import { ImageArchiveError, type ArchiveFiles } from './import-archive.ts';
import { configDiffIds, type ArchiveImage } from './import-ingest.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

export function isOciLayout(files: ArchiveFiles): boolean {
  return files.has('index.json') && files.has('oci-layout');
}

function blobName(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

/** A blob's bytes, verified against `digest`. */
async function verifiedBlob(files: ArchiveFiles, digest: string, what: string): Promise<Buffer> {
  const name = blobName(digest);
  if (!files.has(name)) throw new ImageArchiveError(`${what}: blob ${digest} is missing from the archive`);
  const data = await files.bytes(name);
  if (digestOf(data, digest) !== digest) throw new ImageArchiveError(`${what}: blob ${digest} does not match its digest`);
  return data;
}

/** The repository and tag an index entry's annotations name, if any. */
function entryName(entry: { annotations?: Record<string, unknown> }, op: Op, archive: string): { repo: string; tag?: string } | undefined {
  const raw = entry.annotations?.[CONTAINERD_NAME] ?? entry.annotations?.[REF_NAME];
  if (typeof raw !== 'string' || raw === '') return undefined;
  if (!raw.includes('/') && !raw.includes(':')) {
    op.log.warn({ archive, refName: raw }, 'OCI layout entry names only a tag, not a repository; importing it by id');
    return undefined;
  }
  try {
    const ref = parseNormalisedReference(raw);
    return { repo: repositoryName(ref), ...(ref.tag !== undefined ? { tag: ref.tag } : {}) };
  } catch (err) {
    throw new ImageArchiveError(`archive ${archive}: image name ${JSON.stringify(raw)} is not a valid reference: ${(err as Error).message}`);
  }
}

export async function ociImages(op: Op, files: ArchiveFiles): Promise<ArchiveImage[]> {
  const archive = files.archive;
  const layout = await files.json<{ imageLayoutVersion?: unknown }>('oci-layout');
  if (typeof layout.imageLayoutVersion !== 'string') throw new ImageArchiveError(`archive ${archive}: oci-layout has no imageLayoutVersion`);
  const indexBytes = await files.bytes('index.json');
  const entries = parseWrapped(() => parseIndex(indexBytes, `archive ${archive}`));
  const rawEntries = (JSON.parse(indexBytes.toString('utf8')) as { manifests: { annotations?: Record<string, unknown> }[] }).manifests;
  if (entries.length === 0) throw new ImageArchiveError(`archive ${archive}: index.json lists no images`);
  const out: ArchiveImage[] = [];
  for (const [i, top] of entries.entries()) {
    const what = `archive ${archive}: image ${i} (${top.digest})`;
    const name = entryName(rawEntries[i]!, op, archive);
    const manifestEntry = await platformManifest(files, top, what);
    const manifest = await verifiedBlob(files, manifestEntry.digest, what);
    parseWrapped(() => manifestMediaType(undefined, manifest, what));
    const parsed = parseWrapped(() => parseImageManifest(manifest, what));
    const config = await verifiedBlob(files, parsed.config.digest, what);
    const diffIds = configDiffIds(config, parsed.layers.length, what);
    out.push({
      what,
      config,
      configDigest: parsed.config.digest,
      manifest,
      layers: parsed.layers.map((l, j) => {
        if (!files.has(blobName(l.digest))) throw new ImageArchiveError(`${what}: layer blob ${l.digest} is missing from the archive`);
        return { file: blobName(l.digest), digest: l.digest, diffId: diffIds[j]!, mediaType: l.mediaType, size: l.size };
      }),
      names: name?.tag !== undefined ? [formatTagged(name.repo, name.tag)] : [],
      // The repo digest is the top entry's: what a registry holding this layout would serve.
      digests: name ? [formatDigested(name.repo, top.digest)] : [],
    });
  }
  return out;
}

/** The image manifest entry for this node: the entry itself, or its platform's child of a nested index. */
async function platformManifest(files: ArchiveFiles, entry: IndexEntry, what: string): Promise<IndexEntry> {
  let cur = entry;
  for (let depth = 0; isIndexMediaType(cur.mediaType); depth++) {
    if (depth > 2) throw new ImageArchiveError(`${what}: indexes nested too deep`);
    const body = await verifiedBlob(files, cur.digest, what);
    cur = parseWrapped(() => selectPlatform(parseIndex(body, what), nodePlatform(), what));
  }
  return cur;
}

/** Manifest decoding errors describe remote-style content: report them as archive errors. */
function parseWrapped<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ImageArchiveError) throw err;
    throw new ImageArchiveError((err as Error).message, { cause: err });
  }
}
