/**
 * Storage error classes. Each has a stable `code` of its own so the pull pipeline and
 * `server/status.ts` can tell a hostile layer from a corrupt download.
 */
import { CritterError, ResourceExhaustedError } from '../lib/errors.ts';
import { shown } from '../lib/shown.ts';

/** A name or path from an image, quoted and bounded (issue 12 class 3): the one formatter, lib/shown.ts. */
export const quoteBounded = (name: string): string => shown(name);

/**
 * A full disk or quota while storing image data, as ResourceExhaustedError naming the
 * operation and the path (the kubelet backs off and the operator sees which filesystem);
 * undefined for any other error.
 */
export function spaceExhausted(err: unknown, what: string, path?: string): ResourceExhaustedError | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code !== 'ENOSPC' && e?.code !== 'EDQUOT') return undefined;
  const why = e.code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded';
  // write(2) errors carry no path: the caller knows which file it was writing.
  const p = e.path ?? path;
  const where = p === undefined ? '' : ` of ${quoteBounded(p)}`;
  return new ResourceExhaustedError(`${what}: ${why} (${e.code}) in ${e.syscall ?? 'a write'}${where}`);
}

/**
 * A layer tar entry would write outside the layer directory (a `..` component, a parent
 * symlink that is absolute or climbs out of the root, a hard link to such a place) or is
 * otherwise refused. The message names the entry.
 */
export class UnsafeLayerEntryError extends CritterError {
  override readonly code = 'CRI_ERR_UNSAFE_LAYER_ENTRY';
  readonly entry: string;
  constructor(entry: string, reason: string, options?: { cause?: unknown }) {
    super(`layer entry ${quoteBounded(entry)} refused: ${reason}`, options);
    this.entry = entry;
  }
}

/** Downloaded bytes do not hash to the digest the manifest (or config) promised. */
export class DigestMismatchError extends CritterError {
  override readonly code = 'CRI_ERR_DIGEST_MISMATCH';
  readonly expected: string;
  readonly actual: string;
  constructor(what: string, expected: string, actual: string) {
    super(`${what} digest mismatch: expected ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** A layer blob cannot be decoded: unknown media type, corrupt compression or tar. */
export class LayerFormatError extends CritterError {
  override readonly code = 'CRI_ERR_LAYER_FORMAT';
}

/**
 * A path taken from an image cannot be resolved inside its root: a symlink loop (ELOOP), a
 * component that is not a directory where one is expected (ENOTDIR), a NUL byte (EINVAL) or
 * a name too long for the filesystem, a file that is not a regular file or is too big to read. The image is unusable as it is: retrying cannot help.
 */
export class PathInRootError extends CritterError {
  override readonly code = 'CRI_ERR_PATH_IN_ROOT';
  /** The path as asked for, relative to the root. */
  readonly path: string;
  readonly reason: 'ELOOP' | 'ENOTDIR' | 'ENOTREG' | 'EFBIG' | 'EINVAL' | 'ENAMETOOLONG';
  constructor(path: string, reason: PathInRootError['reason'], detail: string) {
    super(`${quoteBounded(path)} inside the container root: ${detail}`);
    this.path = path;
    this.reason = reason;
  }
}
