/**
 * Finds a local image from what a CRI client may write: a full image id (with or
 * without `sha256:`), a unique id prefix (as crictl passes), a repo tag, a repo digest,
 * or a short name normalised the way a pull of it would be.
 */
import type { Store, ImageRecord } from '../storage/store.ts';
import { formatReference, parseReference, formatDigested, repositoryName, type NormalisedReference } from './reference.ts';
import type { RegistriesConf } from './registries-conf.ts';

const HEX_PREFIX = /^(sha256:)?[a-f0-9]{1,64}$/;

export function findLocalImage(store: Store, conf: RegistriesConf, spec: string): ImageRecord | undefined {
  if (HEX_PREFIX.test(spec)) {
    const hex = spec.replace(/^sha256:/, '');
    const exact = store.getImage(hex);
    if (exact) return exact;
    // crictl passes truncated ids; only an unambiguous prefix of at least 4 chars counts.
    if (hex.length >= 4) {
      const matches = store.listImages().filter((i) => i.id.startsWith(hex));
      if (matches.length === 1) return matches[0];
    }
  }
  let candidates: NormalisedReference[];
  try {
    candidates = conf.resolveShortName(parseReference(spec)).candidates;
  } catch {
    return undefined;
  }
  for (const ref of candidates) {
    const found = ref.digest !== undefined
      ? store.findImageByDigest(formatDigested(repositoryName(ref), ref.digest))
      : store.findImageByName(formatReference(ref));
    if (found) return found;
  }
  return undefined;
}
