/**
 * Decoding of image manifests and indexes (OCI image-spec manifest.md / image-index.md,
 * Docker schema 2) and platform selection for the node, after containerd's
 * platforms.Only matcher: os and architecture must match, the variant is matched
 * exactly, then by compatible lower variants (arm v7 runs v6 and v5), then unset.
 */
import { createHash } from 'node:crypto';
import { CritterError, NotFoundError, UnimplementedError } from '../../lib/errors.ts';
import { validateDigest } from '../reference.ts';
import { isImageManifestMediaType, isIndexMediaType, isSchema1MediaType } from './media-types.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface IndexEntry extends Descriptor {
  platform?: Platform;
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

/** A malformed manifest from a registry: remote content we cannot use. */
class InvalidManifestError extends CritterError {
  override readonly code = 'CRI_ERR_INVALID_MANIFEST';
}

/** Node's process.arch → GOARCH as used in OCI platforms (image-spec config.md). */
const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform this process runs on, as OCI names it. */
export function nodePlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
    return { os: 'linux', architecture, variant: `v${typeof armVersion === 'string' ? armVersion : '7'}` };
  }
  return { os: 'linux', architecture };
}

/** sha256 or sha512 of `data`, in the algorithm of `like`. */
export function digestOf(data: Buffer, like: string): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** The media type of a manifest body: the Content-Type if specific, else its mediaType field. */
export function manifestMediaType(contentType: string | undefined, body: Buffer, what: string): string {
  let doc: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw new InvalidManifestError(`manifest of ${what} is not valid JSON`);
  }
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const mediaType = header !== undefined && header !== '' && header !== 'application/json' && header !== 'application/octet-stream' ? header : declared ?? (Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
  if (isSchema1MediaType(mediaType) || doc.schemaVersion === 1) {
    throw new UnimplementedError(`${what} has a Docker schema 1 manifest, which is not supported (deprecated by Docker, removed from containerd 2.1); rebuild and push it with a current tool`);
  }
  if (!isIndexMediaType(mediaType) && !isImageManifestMediaType(mediaType)) {
    throw new InvalidManifestError(`${what}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
  }
  return mediaType;
}

function descriptor(raw: unknown, where: string): Descriptor {
  const d = raw as { mediaType?: unknown; digest?: unknown; size?: unknown } | null;
  if (typeof d !== 'object' || d === null) throw new InvalidManifestError(`${where}: not a descriptor`);
  if (typeof d.digest !== 'string') throw new InvalidManifestError(`${where}: missing digest`);
  try {
    validateDigest(d.digest);
  } catch (err) {
    throw new InvalidManifestError(`${where}: ${(err as Error).message}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new InvalidManifestError(`${where}: invalid size ${JSON.stringify(d.size)}`);
  }
  return { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size };
}

/** Decodes an image manifest's config and layers. */
export function parseImageManifest(body: Buffer, what: string): ImageManifest {
  const doc = JSON.parse(body.toString('utf8')) as { config?: unknown; layers?: unknown };
  if (!Array.isArray(doc.layers)) throw new InvalidManifestError(`manifest of ${what}: "layers" is not an array`);
  return {
    config: descriptor(doc.config, `manifest of ${what}: config`),
    layers: doc.layers.map((l, i) => descriptor(l, `manifest of ${what}: layers[${i}]`)),
  };
}

/** Decodes the entries of an index / manifest list. */
export function parseIndex(body: Buffer, what: string): IndexEntry[] {
  const doc = JSON.parse(body.toString('utf8')) as { manifests?: unknown };
  if (!Array.isArray(doc.manifests)) throw new InvalidManifestError(`index of ${what}: "manifests" is not an array`);
  return doc.manifests.map((m, i) => {
    const entry: IndexEntry = descriptor(m, `index of ${what}: manifests[${i}]`);
    const p = (m as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }).platform;
    if (p !== undefined && typeof p.os === 'string' && typeof p.architecture === 'string') {
      entry.platform = { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' && p.variant !== '' ? { variant: p.variant } : {}) };
    }
    return entry;
  });
}

/** Variants acceptable for `want`, best first; arm64 v8 is the same as no variant. */
function acceptableVariants(want: Platform): (string | undefined)[] {
  if (want.architecture === 'arm64') return [want.variant ?? 'v8', want.variant === undefined ? undefined : 'v8', undefined];
  if (want.architecture === 'arm') {
    const n = Number((want.variant ?? 'v7').slice(1));
    const lower: string[] = [];
    for (let v = n; v >= 5; v--) lower.push(`v${v}`);
    return [...lower, undefined];
  }
  return [want.variant, undefined];
}

/**
 * Picks the index entry for `want`.
 * @throws NotFoundError listing the platforms on offer when none fits.
 */
export function selectPlatform(entries: IndexEntry[], want: Platform, what: string): IndexEntry {
  const candidates = entries.filter((e) => isImageManifestMediaType(e.mediaType) || e.mediaType === '');
  const sameArch = candidates.filter((e) => e.platform?.os === want.os && e.platform.architecture === want.architecture);
  for (const variant of acceptableVariants(want)) {
    const hit = sameArch.find((e) => e.platform?.variant === variant);
    if (hit !== undefined) return hit;
  }
  const offered = entries.map((e) => (e.platform === undefined ? 'unknown' : [e.platform.os, e.platform.architecture, e.platform.variant].filter(Boolean).join('/')));
  const wanted = [want.os, want.architecture, want.variant].filter(Boolean).join('/');
  throw new NotFoundError(`${what} has no manifest for platform ${wanted} (index offers: ${offered.join(', ') || 'none'})`);
}
