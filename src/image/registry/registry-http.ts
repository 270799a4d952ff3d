/**
 * Authenticated GETs against one registry (distribution spec + docker token spec):
 * a `/v2/` ping finds the scheme and the auth challenge, Bearer tokens are fetched for
 * `repository:<name>:pull` and cached per (host, scope, credentials) until they expire,
 * Basic challenges get the username/password, and redirects are followed by hand so a
 * token never leaves for another origin.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Op } from '../../lib/op.ts';
import { PermissionDeniedError, UnavailableError } from '../../lib/errors.ts';
import { basicAuthorization, credentialsFingerprint, describeCredentials, type RegistryCredentials } from '../auth.ts';
import { networkError } from './registry-errors.ts';
import type { RegistryTransport } from './transport.ts';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.ts';

/** A registry API host and whether it may be reached insecurely. */
export interface RegistryEndpoint {
  /** `name[:port]` of the API server (docker.io is served by registry-1.docker.io). */
  host: string;
  insecure: boolean;
}

export interface RegistryGet {
  endpoint: RegistryEndpoint;
  /** Repository path on that host, for the token scope. */
  repository: string;
  /** Path below `/v2/`, e.g. `library/busybox/manifests/latest`. */
  path: string;
  accept?: string;
  creds: RegistryCredentials | undefined;
  /** 0 turns undici's own body timeout off (the caller watches progress itself). */
  bodyTimeoutMs?: number;
}

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  /** Whether an Authorization header was sent on the final attempt. */
  authenticated: boolean;
}

interface PingResult {
  baseUrl: string;
  challenges: AuthChallenge[];
  skipVerify: boolean;
  expiresAt: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

const PING_TTL_MS = 5 * 60_000;
/** Docker token spec: expires_in defaults to 60 seconds. */
const DEFAULT_TOKEN_TTL_S = 60;
/** Refresh a little early so a token does not expire in flight. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;
const MAX_CACHED_TOKENS = 1000;
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Registry HTTP with auth; one per RegistryClient. */
export class RegistryHttp {
  readonly #transport: RegistryTransport;
  readonly #userAgent: string;
  readonly #now: () => number;
  readonly #pings = new Map<string, PingResult>();
  readonly #tokens = new Map<string, CachedToken>();

  constructor(deps: { transport: RegistryTransport; userAgent: string; now?: () => number }) {
    this.#transport = deps.transport;
    this.#userAgent = deps.userAgent;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * GET with authentication and redirects. Non-2xx responses are returned for the caller
   * to map (it knows the reference); only transport failures throw here.
   * @throws UnavailableError when the host cannot be reached; PermissionDeniedError when
   *   the token server refuses the credentials.
   */
  async get(op: Op, req: RegistryGet): Promise<RegistryResponse> {
    const ping = await this.#ping(op, req.endpoint);
    let challenges = ping.challenges;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#authorization(op, req, ping, challenges, attempt > 0);
      const res = await this.#followRedirects(op, req, ping, `${ping.baseUrl}/v2/${req.path}`, authorization);
      // A 401 may come with a fresh challenge (token expired early, or a registry that
      // pings without auth but protects the repository): retry once with it.
      const renewed = parseWwwAuthenticate(res.headers['www-authenticate']);
      if (res.statusCode === 401 && attempt === 0 && renewed.length > 0) {
        await res.body.dump();
        challenges = renewed;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, authenticated: authorization !== undefined };
    }
  }

  /** Drops cached pings so the next request re-detects scheme and challenge. */
  forgetHost(endpoint: RegistryEndpoint): void {
    this.#pings.delete(`${endpoint.host}|${endpoint.insecure}`);
  }

  async #send(op: Op, url: string, skipVerifyHost: string | undefined, headers: Record<string, string>, bodyTimeoutMs?: number): Promise<Dispatcher.ResponseData> {
    const target = new URL(url);
    const dispatcher = await this.#transport.agentFor(target.host, skipVerifyHost === target.host);
    try {
      // The agent's own request(): importing undici's top-level one would load undici at start-up.
      return await dispatcher.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers: { 'user-agent': this.#userAgent, ...headers },
        signal: op.signal,
        ...(bodyTimeoutMs === undefined ? {} : { bodyTimeout: bodyTimeoutMs }),
      });
    } catch (err) {
      if (op.signal.aborted) throw op.signal.reason ?? err;
      throw networkError(target.host, err);
    }
  }

  async #followRedirects(op: Op, req: RegistryGet, ping: PingResult, start: string, authorization: string | undefined): Promise<Dispatcher.ResponseData> {
    const origin = new URL(start).origin;
    let url = start;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = {};
      if (req.accept !== undefined) headers['accept'] = req.accept;
      // NOTE: the registry's token must not reach a blob store on another origin
      // (pre-signed URLs reject it, and it would leak the credential).
      if (authorization !== undefined && new URL(url).origin === origin) headers['authorization'] = authorization;
      const res = await this.#send(op, url, ping.skipVerify ? req.endpoint.host : undefined, headers, req.bodyTimeoutMs);
      const location = headerValue(res.headers, 'location');
      if (!REDIRECT_STATUSES.includes(res.statusCode) || location === undefined) return res;
      await res.body.dump();
      url = new URL(location, url).href;
    }
    throw new UnavailableError(`registry ${req.endpoint.host}: more than ${MAX_REDIRECTS} redirects for /v2/${req.path}`);
  }

  /** GET /v2/: decides https or (insecure only) http, and records the auth challenge. */
  async #ping(op: Op, endpoint: RegistryEndpoint): Promise<PingResult> {
    const key = `${endpoint.host}|${endpoint.insecure}`;
    const cached = this.#pings.get(key);
    if (cached !== undefined && cached.expiresAt > this.#now()) return cached;
    // containers/image docker_client detectProperties: https first; an insecure registry
    // may then be tried over plain http.
    const schemes = endpoint.insecure ? ['https', 'http'] : ['https'];
    let lastError: Error | undefined;
    for (const scheme of schemes) {
      const baseUrl = `${scheme}://${endpoint.host}`;
      try {
        const res = await this.#send(op, `${baseUrl}/v2/`, endpoint.insecure ? endpoint.host : undefined, {});
        await res.body.dump();
        if (res.statusCode === 200 || res.statusCode === 401) {
          const result: PingResult = {
            baseUrl,
            challenges: res.statusCode === 401 ? parseWwwAuthenticate(res.headers['www-authenticate']) : [],
            skipVerify: endpoint.insecure,
            expiresAt: this.#now() + PING_TTL_MS,
          };
          this.#pings.set(key, result);
          return result;
        }
        lastError = new UnavailableError(`registry ${endpoint.host}: GET ${baseUrl}/v2/ answered HTTP ${res.statusCode}, not a container registry API`);
      } catch (err) {
        if (op.signal.aborted) throw err;
        lastError = err as Error;
      }
    }
    throw lastError ?? new UnavailableError(`registry ${endpoint.host} unreachable`);
  }

  async #authorization(op: Op, req: RegistryGet, ping: PingResult, challenges: AuthChallenge[], refresh: boolean): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined) {
      if (req.creds?.registryToken !== undefined) return `Bearer ${req.creds.registryToken}`;
      const scope = `repository:${req.repository}:pull`;
      return `Bearer ${await this.#token(op, req, ping, bearer, scope, refresh)}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) return basicAuthorization(req.creds);
    return undefined;
  }

  async #token(op: Op, req: RegistryGet, ping: PingResult, challenge: AuthChallenge, scope: string, refresh: boolean): Promise<string> {
    const host = req.endpoint.host;
    const realm = challenge.params['realm'];
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm ?? '');
      if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new UnavailableError(`registry ${host}: Bearer challenge has an invalid realm ${JSON.stringify(realm ?? '')}`);
    }
    const service = challenge.params['service'];
    const key = [host, realmUrl.href, service ?? '', scope, credentialsFingerprint(req.creds)].join('|');
    const cached = this.#tokens.get(key);
    if (!refresh && cached !== undefined && cached.expiresAt > this.#now()) return cached.token;

    const skipVerifyHost = ping.skipVerify && realmUrl.host === host ? host : undefined;
    const res = req.creds?.identityToken !== undefined
      ? await this.#refreshTokenGrant(op, realmUrl, skipVerifyHost, service, scope, req.creds.identityToken)
      : await this.#tokenGet(op, realmUrl, skipVerifyHost, service, scope, req.creds);
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      const why = req.creds === undefined ? 'anonymous access denied' : `bad credentials (sent ${describeCredentials(req.creds)})`;
      throw new PermissionDeniedError(`registry ${host}: token server ${realmUrl.host} refused scope ${scope}: ${why} (HTTP ${res.statusCode})`);
    }
    if (res.statusCode !== 200) throw new UnavailableError(`registry ${host}: token server ${realmUrl.host} answered HTTP ${res.statusCode}`);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new UnavailableError(`registry ${host}: token server ${realmUrl.host} sent a response that is not JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') throw new UnavailableError(`registry ${host}: token server ${realmUrl.host} sent no token`);
    const ttlS = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_TTL_S;
    if (this.#tokens.size >= MAX_CACHED_TOKENS) {
      const oldest = this.#tokens.keys().next().value;
      if (oldest !== undefined) this.#tokens.delete(oldest);
    }
    this.#tokens.set(key, { token, expiresAt: this.#now() + Math.max(0, ttlS * 1000 - TOKEN_EXPIRY_MARGIN_MS) });
    return token;
  }

  /** Docker token spec GET, with Basic credentials when we have a username. */
  async #tokenGet(op: Op, realm: URL, skipVerifyHost: string | undefined, service: string | undefined, scope: string, creds: RegistryCredentials | undefined): Promise<Dispatcher.ResponseData> {
    const url = new URL(realm);
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const basic = basicAuthorization(creds);
    return this.#send(op, url.href, skipVerifyHost, basic === undefined ? {} : { authorization: basic });
  }

  /** OAuth2 refresh-token grant (docker token spec oauth.md), as containerd and docker do for identity tokens. */
  async #refreshTokenGrant(op: Op, realm: URL, skipVerifyHost: string | undefined, service: string | undefined, scope: string, refreshToken: string): Promise<Dispatcher.ResponseData> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, scope, client_id: 'critter' });
    if (service !== undefined) form.set('service', service);
    const dispatcher = await this.#transport.agentFor(realm.host, skipVerifyHost === realm.host);
    try {
      return await dispatcher.request({
        origin: realm.origin,
        path: `${realm.pathname}${realm.search}`,
        method: 'POST',
        headers: { 'user-agent': this.#userAgent, 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: op.signal,
      });
    } catch (err) {
      if (op.signal.aborted) throw op.signal.reason ?? err;
      throw networkError(realm.host, err);
    }
  }
}
