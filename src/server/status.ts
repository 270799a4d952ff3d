/**
 * The one place domain errors become gRPC statuses (DESIGN convention 2). The details
 * carry the whole cause chain, so the kubelet sees what failed and why, as Go's `%w`
 * would show it.
 */
import { status as Code, type ServiceError, Metadata } from '@grpc/grpc-js';
import { CritterError, describeError } from '../lib/errors.ts';
import { capMessage, shown } from '../lib/shown.ts';

/**
 * The most a status's details may hold (UTF-8 bytes). They travel as the `grpc-message`
 * trailer, a header: one beyond the peer's header-list limit fails the whole connection's
 * stream handling, and the kubelet shares one connection for every call (issue 12 class 3).
 */
export const MAX_DETAILS_BYTES = 4096;

const BY_CODE: Record<string, Code> = {
  CRI_ERR_NOT_FOUND: Code.NOT_FOUND,
  CRI_ERR_ALREADY_EXISTS: Code.ALREADY_EXISTS,
  CRI_ERR_INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  CRI_ERR_FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
  CRI_ERR_UNAVAILABLE: Code.UNAVAILABLE,
  CRI_ERR_UNIMPLEMENTED: Code.UNIMPLEMENTED,
  CRI_ERR_PERMISSION_DENIED: Code.PERMISSION_DENIED,
  CRI_ERR_DEADLINE_EXCEEDED: Code.DEADLINE_EXCEEDED,
  CRI_ERR_RESOURCE_EXHAUSTED: Code.RESOURCE_EXHAUSTED,
  // A blob that does not match its digest is corrupt data, whoever sent it.
  CRI_ERR_DIGEST_MISMATCH: Code.DATA_LOSS,
  // The image itself is unusable (a hostile or broken layer): retrying cannot help.
  CRI_ERR_UNSAFE_LAYER_ENTRY: Code.FAILED_PRECONDITION,
  CRI_ERR_LAYER_FORMAT: Code.FAILED_PRECONDITION,
  // A path from the image loops or crosses a non-directory inside its rootfs: the image is unusable as it is.
  CRI_ERR_PATH_IN_ROOT: Code.FAILED_PRECONDITION,
  CRI_ERR_INVALID_MANIFEST: Code.FAILED_PRECONDITION,
  // The OCI runtime or conmon refused (bad spec, missing binary in the image, a host limit):
  // the runtime's words are in the details. Not critter's own fault, so not UNKNOWN (issue 12 class 4).
  CRI_ERR_OCI_RUNTIME: Code.FAILED_PRECONDITION,
  // A CNI plugin failed in a way that is not "retry" or "pool exhausted" (those carry their own codes).
  CRI_ERR_CNI_PLUGIN: Code.FAILED_PRECONDITION,
  // A host tool (iptables, nsenter, unshare…) failed: its stderr is in the details.
  CRI_ERR_EXEC: Code.FAILED_PRECONDITION,
  // The host refused a pod user namespace (mappings, id-mapped mounts).
  CRI_ERR_USERNS: Code.FAILED_PRECONDITION,
};

/**
 * Host conditions met by a system call anywhere in the cause chain, with what the caller can
 * do about them: out of a resource (retry later, free some) or a read-only filesystem.
 */
const HOST_ERRNO: Record<string, { code: Code; what: string }> = {
  ENOSPC: { code: Code.RESOURCE_EXHAUSTED, what: 'no space left on device' },
  EDQUOT: { code: Code.RESOURCE_EXHAUSTED, what: 'disk quota exceeded' },
  EMFILE: { code: Code.RESOURCE_EXHAUSTED, what: 'too many open files in the daemon' },
  ENFILE: { code: Code.RESOURCE_EXHAUSTED, what: 'too many open files on the host' },
  ENOMEM: { code: Code.RESOURCE_EXHAUSTED, what: 'out of memory' },
  EROFS: { code: Code.FAILED_PRECONDITION, what: 'read-only file system' },
};

/** A status ready to hand to a grpc-js callback or stream. */
export interface RpcStatus {
  code: Code;
  details: string;
  /** True when the error is ours and expected; false means a bug worth a stack trace. */
  known: boolean;
}

/**
 * Maps any thrown value to a gRPC status. An abort caused by the caller's cancellation or
 * deadline keeps that meaning; anything unrecognised is UNKNOWN and flagged for the log.
 */
export function toStatus(err: unknown, signal?: AbortSignal): RpcStatus {
  const details = capMessage(describeError(err) || 'unknown error', MAX_DETAILS_BYTES);
  const host = hostCondition(err);
  if (host !== undefined) return { code: host.code, details: capMessage(`${host.what}: ${details}`, MAX_DETAILS_BYTES), known: true };
  const domain = domainCode(err);
  if (domain !== undefined) return { code: domain, details, known: true };
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    const isDeadline = reason instanceof Error && reason.name === 'TimeoutError';
    return { code: isDeadline ? Code.DEADLINE_EXCEEDED : Code.CANCELLED, details, known: true };
  }
  if (err instanceof Error && (err.name === 'TimeoutError')) return { code: Code.DEADLINE_EXCEEDED, details, known: true };
  if (err instanceof Error && (err.name === 'AbortError')) return { code: Code.CANCELLED, details, known: true };
  return { code: Code.UNKNOWN, details, known: false };
}

/** The errors of a cause chain, outermost first (a cycle ends it). */
function* causeChain(err: unknown): Generator<Error> {
  const seen = new Set<unknown>();
  for (let cur: unknown = err; cur instanceof Error && !seen.has(cur); cur = cur.cause) {
    seen.add(cur);
    yield cur;
  }
}

/** The code of the outermost domain error in the chain that has one: a wrapper keeps its cause's meaning. */
function domainCode(err: unknown): Code | undefined {
  for (const e of causeChain(err)) {
    if (e instanceof CritterError && BY_CODE[e.code] !== undefined) return BY_CODE[e.code];
  }
  return undefined;
}

/**
 * A host condition anywhere in the cause chain (issue 12 class 4), whatever wrapped it, named
 * with its path and operation where Node has them. The runtime's own words count too for a
 * full disk (runc writes the errno as text).
 */
function hostCondition(err: unknown): { code: Code; what: string } | undefined {
  for (const e of causeChain(err) as Iterable<NodeJS.ErrnoException>) {
    const known = e.code === undefined ? undefined : HOST_ERRNO[e.code];
    if (known) {
      const where = [e.syscall, e.path === undefined ? undefined : shown(e.path)].filter(Boolean).join(' ');
      return { code: known.code, what: `${known.what}${where ? ` (${where})` : ''}` };
    }
    if (/no space left on device|disk quota exceeded/i.test(e.message)) return { code: Code.RESOURCE_EXHAUSTED, what: 'no space left on device' };
  }
  return undefined;
}

/** The status as the object grpc-js expects from a handler. */
export function toServiceError(s: RpcStatus): Partial<ServiceError> {
  return { code: s.code, details: capMessage(s.details, MAX_DETAILS_BYTES), metadata: new Metadata() };
}

/** The readable name of a gRPC code, for logs and metrics labels. */
export function codeName(code: Code): string {
  return Code[code] ?? String(code);
}
