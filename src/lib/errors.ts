/**
 * Domain error classes. Each carries a stable `code` string (as undici does) and an
 * optional `cause`; `server/status.ts` is the only place that turns them into gRPC codes.
 * Messages say what failed and name the value, e.g. `image "busybox:nope" not found`.
 */

/** Base class: a stable code plus the cause chain. */
export class CritterError extends Error {
  readonly code: string = 'CRI_ERR_UNKNOWN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The named object (pod, container, image, blob, …) does not exist. */
export class NotFoundError extends CritterError {
  override readonly code = 'CRI_ERR_NOT_FOUND';
}

/** An object with that identity already exists and is not the one asked for. */
export class AlreadyExistsError extends CritterError {
  override readonly code = 'CRI_ERR_ALREADY_EXISTS';
}

/** The request itself is wrong: a missing field, a malformed value. */
export class InvalidArgumentError extends CritterError {
  override readonly code = 'CRI_ERR_INVALID_ARGUMENT';
}

/** The request is well-formed but the object is in the wrong state for it. */
export class FailedPreconditionError extends CritterError {
  override readonly code = 'CRI_ERR_FAILED_PRECONDITION';
}

/** A dependency (the daemon's own start-up, a registry, a plugin) is not reachable now. */
export class UnavailableError extends CritterError {
  override readonly code = 'CRI_ERR_UNAVAILABLE';
}

/** The RPC or the option is not built (yet). */
export class UnimplementedError extends CritterError {
  override readonly code = 'CRI_ERR_UNIMPLEMENTED';
}

/** Credentials were refused by a registry. */
export class PermissionDeniedError extends CritterError {
  override readonly code = 'CRI_ERR_PERMISSION_DENIED';
}

/** A deadline of our own (not the caller's) passed. */
export class DeadlineExceededError extends CritterError {
  override readonly code = 'CRI_ERR_DEADLINE_EXCEEDED';
}

/** A resource limit (token cache, output cap) was hit. */
export class ResourceExhaustedError extends CritterError {
  override readonly code = 'CRI_ERR_RESOURCE_EXHAUSTED';
}

/**
 * A thrown or received value that is not an Error, as text: a plain object (a registry's
 * JSON error field, a rejection with `{code, details}`) as JSON rather than "[object Object]".
 */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v) ?? Object.prototype.toString.call(v);
    } catch {
      return Object.prototype.toString.call(v); // a cycle or a BigInt inside
    }
  }
  return String(v);
}

/** Joins an error's message with those of its causes, as Go's `%w` chains read. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && !seen.has(cur) && parts.length < 8) {
    seen.add(cur);
    if (cur instanceof Error) {
      if (cur.message && !parts.some((p) => p.endsWith(cur instanceof Error ? cur.message : ''))) parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(textOf(cur));
      break;
    }
  }
  return parts.join(': ');
}
