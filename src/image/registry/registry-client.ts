/**
 * The registry side of a pull: turns a normalised reference into a resolved image
 * (manifest for this node's platform + verified config) by trying the pull sources of
 * registries.conf in order, and opens layer blobs as streams from the source that served
 * the manifest. Layer digests are verified by the consumer (the pull pipeline) while it
 * unpacks.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Op } from '../../lib/op.ts';
import { CritterError, InvalidArgumentError } from '../../lib/errors.ts';
import { AuthFile } from '../auth-file.ts';
import { describeCredentials, type RegistryCredentials } from '../auth.ts';
import { DOCKER_DOMAIN, formatReference, parseNormalisedReference, repositoryName, type NormalisedReference } from '../reference.ts';
import type { PullSource, RegistriesConf } from '../registries-conf.ts';
import { guardStall } from './blob-stream.ts';
import { digestOf, manifestMediaType, nodePlatform, parseImageManifest, parseIndex, selectPlatform, type Descriptor, type Platform } from './manifest.ts';
import { MANIFEST_ACCEPT, isIndexMediaType } from './media-types.ts';
import { DigestMismatchError, responseError } from './registry-errors.ts';
import { RegistryHttp, type RegistryEndpoint, type RegistryResponse } from './registry-http.ts';
import { RegistryTransport } from './transport.ts';

/** OCI distribution spec: registries should accept manifests up to 4 MiB; refuse more. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Docker Hub's API is not served at docker.io itself. */
const DOCKER_API_HOST = 'registry-1.docker.io';
/** An index may point at another index once (nested indexes are legal but rare). */
const MAX_INDEX_DEPTH = 2;

/** Where a resolved image came from; pass it back to openBlob(). */
export interface ResolvedSource {
  /** The reference as rewritten for this mirror or location. */
  reference: NormalisedReference;
  endpoint: RegistryEndpoint;
  mirror: boolean;
  /** The credentials the manifest was fetched with (reused for its blobs). */
  creds: RegistryCredentials | undefined;
}

export interface ResolvedImage {
  source: ResolvedSource;
  /** Repository name as asked for (before mirror rewriting), e.g. `docker.io/library/busybox`. */
  canonicalName: string;
  tag: string | undefined;
  /** Digest the reference resolved to (index or manifest): the image's RepoDigest. */
  referenceDigest: string;
  /** Digest of the platform image manifest below. */
  manifestDigest: string;
  manifest: Buffer;
  mediaType: string;
  config: Buffer;
  configDigest: string;
  layers: Descriptor[];
}

export interface RegistryClientDeps {
  /** Accepted for the composition root; per-pull logging goes to `op.log`. */
  log: Logger;
  registriesConf: RegistriesConf;
  /** Docker-style auth file consulted when the caller gives no credentials. */
  authFile?: string;
  /** The docker `certs.d` root (per-host CA and client certificates). */
  certsDir: string;
  /** Milliseconds without blob bytes before a read fails; 0 disables. */
  stallTimeoutMs: number;
  userAgent: string;
  /** The platform to select from indexes; defaults to this node's. */
  platform?: Platform;
}

function apiHost(domain: string): string {
  return domain === DOCKER_DOMAIN ? DOCKER_API_HOST : domain;
}

async function readLimited(body: RegistryResponse['body'], limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new CritterError(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** OCI distribution client over undici. */
export class RegistryClient {
  readonly #conf: RegistriesConf;
  readonly #authFile: AuthFile | undefined;
  readonly #transport: RegistryTransport;
  readonly #http: RegistryHttp;
  readonly #stallTimeoutMs: number;
  readonly #platform: Platform;

  constructor(deps: RegistryClientDeps) {
    this.#conf = deps.registriesConf;
    this.#authFile = deps.authFile === undefined ? undefined : new AuthFile({ path: deps.authFile });
    this.#transport = new RegistryTransport({ certsDir: deps.certsDir });
    this.#http = new RegistryHttp({ transport: this.#transport, userAgent: deps.userAgent });
    this.#stallTimeoutMs = deps.stallTimeoutMs;
    this.#platform = deps.platform ?? nodePlatform();
  }

  /**
   * Resolves a normalised reference (`host/repo:tag`, `host/repo@digest`) through the
   * pull sources of registries.conf, mirrors first. Any failure moves on to the next
   * source except a digest mismatch or cancellation; when all fail, the primary
   * location's error is thrown with the mirrors' errors appended.
   * @throws InvalidArgumentError (bad reference), FailedPreconditionError (blocked),
   *   NotFoundError, PermissionDeniedError, UnavailableError, UnimplementedError
   *   (schema 1), DigestMismatchError.
   */
  async resolve(op: Op, ref: string, creds?: RegistryCredentials): Promise<ResolvedImage> {
    const wanted = parseNormalisedReference(ref);
    if (formatReference(wanted) !== ref) throw new InvalidArgumentError(`image reference "${ref}" is not normalised (expected "${formatReference(wanted)}")`);
    const sources = this.#conf.pullSources(wanted);
    const failures: string[] = [];
    let lastError: unknown;
    for (const source of sources) {
      try {
        const resolved = await this.#resolveFrom(op, wanted, source, creds);
        op.log.debug({ image: ref, source: formatReference(source.reference), mirror: source.mirror }, 'resolved image manifest');
        return resolved;
      } catch (err) {
        if (err instanceof DigestMismatchError || op.signal.aborted) throw err;
        lastError = err;
        const message = err instanceof Error ? err.message : String(err);
        failures.push(message);
        op.log.info({ image: ref, source: formatReference(source.reference), err: message }, 'pull source failed, trying the next one');
      }
    }
    if (sources.length > 1 && lastError instanceof CritterError) {
      const Cls = lastError.constructor as new (message: string, options?: { cause?: unknown }) => CritterError;
      throw new Cls(`${lastError.message} (mirrors also failed: ${failures.slice(0, -1).join('; ')})`, { cause: lastError.cause });
    }
    throw lastError;
  }

  /**
   * Opens a blob (a layer) from the source that served the manifest, following
   * redirects. The stream fails with DeadlineExceededError when no bytes arrive for
   * `stallTimeoutMs` while it is being read, and is destroyed when `op.signal` aborts.
   * @throws NotFoundError, PermissionDeniedError, UnavailableError.
   */
  async openBlob(op: Op, source: ResolvedSource, descriptor: Descriptor): Promise<Readable> {
    const what = `blob ${descriptor.digest} of "${repositoryName(source.reference)}"`;
    const res = await this.#get(op, source, `blobs/${descriptor.digest}`, undefined, what, 0);
    return guardStall(res.body, { stallTimeoutMs: this.#stallTimeoutMs, signal: op.signal, what: `${what} from ${source.endpoint.host}` });
  }

  /** Ends the connection pools. */
  async close(): Promise<void> {
    await this.#transport.close();
  }

  async #resolveFrom(op: Op, wanted: NormalisedReference, pull: PullSource, callerCreds: RegistryCredentials | undefined): Promise<ResolvedImage> {
    const reference = pull.reference;
    const host = apiHost(reference.domain);
    const creds = callerCreds ?? (await this.#authFile?.lookup(reference.domain, reference.path));
    const source: ResolvedSource = { reference, endpoint: { host, insecure: pull.insecure }, mirror: pull.mirror, creds };
    const what = `image "${formatReference(reference)}"`;

    let manifestRef = reference.digest ?? reference.tag ?? 'latest';
    let expectDigest = reference.digest;
    let referenceDigest: string | undefined;
    for (let depth = 0; ; depth++) {
      const res = await this.#get(op, source, `manifests/${manifestRef}`, MANIFEST_ACCEPT, what);
      const body = await readLimited(res.body, MAX_MANIFEST_BYTES, `manifest of ${what}`);
      const header = res.headers['docker-content-digest'];
      const digest = digestOf(body, expectDigest ?? (typeof header === 'string' ? header : 'sha256:'));
      if (expectDigest !== undefined && digest !== expectDigest) {
        throw new DigestMismatchError(`manifest of ${what} from ${host}`, expectDigest, digest);
      }
      if (expectDigest === undefined && typeof header === 'string' && header.startsWith(digest.split(':')[0] ?? '') && header !== digest) {
        throw new DigestMismatchError(`manifest of ${what} from ${host} (as announced by the registry)`, header, digest);
      }
      referenceDigest ??= digest;
      const contentType = res.headers['content-type'];
      const mediaType = manifestMediaType(typeof contentType === 'string' ? contentType : undefined, body, what);
      if (isIndexMediaType(mediaType)) {
        if (depth >= MAX_INDEX_DEPTH) throw new CritterError(`${what}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
        const entry = selectPlatform(parseIndex(body, what), this.#platform, what);
        manifestRef = entry.digest;
        expectDigest = entry.digest;
        continue;
      }
      const manifest = parseImageManifest(body, what);
      const config = await this.#fetchConfig(op, source, manifest.config, what);
      return {
        source,
        canonicalName: repositoryName(wanted),
        tag: wanted.tag,
        referenceDigest,
        manifestDigest: digest,
        manifest: body,
        mediaType,
        config,
        configDigest: manifest.config.digest,
        layers: manifest.layers,
      };
    }
  }

  async #fetchConfig(op: Op, source: ResolvedSource, config: Descriptor, what: string): Promise<Buffer> {
    const configWhat = `config ${config.digest} of ${what}`;
    const res = await this.#get(op, source, `blobs/${config.digest}`, undefined, configWhat);
    const body = await readLimited(res.body, Math.min(MAX_CONFIG_BYTES, config.size), configWhat);
    const digest = digestOf(body, config.digest);
    if (digest !== config.digest || body.length !== config.size) {
      throw new DigestMismatchError(`${configWhat} from ${source.endpoint.host}`, `${config.digest} (${config.size} bytes)`, `${digest} (${body.length} bytes)`);
    }
    return body;
  }

  /** One authenticated GET below /v2/<repo>/; non-2xx becomes an error naming `what`. */
  async #get(op: Op, source: ResolvedSource, subPath: string, accept: string | undefined, what: string, bodyTimeoutMs?: number): Promise<RegistryResponse> {
    const repository = source.reference.path;
    const res = await this.#http.get(op, {
      endpoint: source.endpoint,
      repository,
      path: `${repository}/${subPath}`,
      ...(accept === undefined ? {} : { accept }),
      ...(bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs }),
      creds: source.creds,
    });
    if (res.status >= 200 && res.status < 300) return res;
    const body = await readLimited(res.body, 64 * 1024, `error body from ${source.endpoint.host}`).catch(() => Buffer.alloc(0));
    throw responseError({
      what,
      host: source.endpoint.host,
      status: res.status,
      body: body.toString('utf8'),
      credentialKind: describeCredentials(source.creds),
      authenticated: res.authenticated,
    });
  }
}
