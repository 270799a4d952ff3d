/**
 * Turns registry HTTP outcomes into critter's error classes. Messages name the image
 * reference and the registry host, and never carry credentials or tokens.
 */
import { CritterError, NotFoundError, PermissionDeniedError, UnavailableError, textOf } from '../../lib/errors.ts';

/**
 * Content did not match its digest: the storage layer's class, so one `instanceof` covers
 * manifests, configs and layers. Never retried on another mirror: the reference pins the
 * content, so a mismatch means corruption or tampering, not an unreachable source.
 */
export { DigestMismatchError } from '../../storage/errors.ts';

/** Error codes of the distribution spec (spec.md "Error Codes") that mean "no such thing". */
const NOT_FOUND_CODES: readonly string[] = ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UNKNOWN'];
const DENIED_CODES: readonly string[] = ['DENIED'];
const UNAUTHORIZED_CODES: readonly string[] = ['UNAUTHORIZED'];
/** Registry messages are shown to the user but capped: they are remote input. */
const MAX_REMOTE_MESSAGE = 200;

interface RegistryErrorBody {
  codes: string[];
  message: string;
}

/** Extracts `{"errors":[{"code","message"}]}` from a response body, if it has that shape. */
function parseErrorBody(body: string): RegistryErrorBody {
  try {
    const doc = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    if (!Array.isArray(doc.errors)) return { codes: [], message: '' };
    const codes = doc.errors.map((e) => textOf(e.code ?? ''));
    const message = doc.errors.map((e) => `${textOf(e.code ?? '')}: ${textOf(e.message ?? '')}`).join('; ');
    return { codes, message: message.slice(0, MAX_REMOTE_MESSAGE) };
  } catch {
    return { codes: [], message: '' };
  }
}

export interface FailedRequest {
  /** What was asked for, e.g. `image "example.com/a:1"` or `blob sha256:… of "example.com/a"`. */
  what: string;
  host: string;
  status: number;
  body: string;
  /** Which kind of credential was sent (from describeCredentials), never the secret. */
  credentialKind: string;
  authenticated: boolean;
}

/** Maps a non-2xx registry response to an error class. */
export function responseError(req: FailedRequest): CritterError {
  const parsed = parseErrorBody(req.body);
  const detail = parsed.message === '' ? `HTTP ${req.status}` : `HTTP ${req.status}: ${parsed.message}`;
  const has = (codes: readonly string[]): boolean => parsed.codes.some((c) => codes.includes(c));
  if (req.status === 404 || has(NOT_FOUND_CODES)) return new NotFoundError(`${req.what} not found on registry ${req.host} (${detail})`);
  if (req.status === 401 || has(UNAUTHORIZED_CODES)) {
    const why = req.authenticated ? `bad credentials (sent ${req.credentialKind})` : 'authentication required';
    return new PermissionDeniedError(`pulling ${req.what} from registry ${req.host}: ${why} (${detail})`);
  }
  if (req.status === 403 || has(DENIED_CODES)) {
    return new PermissionDeniedError(`pulling ${req.what} from registry ${req.host}: access denied with ${req.credentialKind} (${detail})`);
  }
  if (req.status === 429 || req.status >= 500) return new UnavailableError(`registry ${req.host} failed serving ${req.what} (${detail})`);
  return new CritterError(`registry ${req.host} refused ${req.what} (${detail})`);
}

const NETWORK_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed by the registry',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
};

/** The errno-like code of an error or of its first cause that has one. */
function errorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    if (code === 'UND_ERR_SOCKET' && !(cur.cause instanceof Error)) return code;
    cur = cur.cause;
  }
  return undefined;
}

/** Maps a connection, DNS or TLS failure to UnavailableError naming the host and cause. */
export function networkError(host: string, err: unknown): UnavailableError {
  const code = errorCode(err);
  const known = code === undefined ? undefined : NETWORK_CAUSES[code];
  const message = err instanceof Error ? err.message : String(err);
  const tls = code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|ERR_SSL/.test(code);
  const cause = known ?? (tls ? `TLS failure: ${message}` : message);
  return new UnavailableError(`registry ${host} unreachable: ${cause}${code !== undefined && known !== undefined ? ` (${code})` : ''}`, { cause: err });
}
