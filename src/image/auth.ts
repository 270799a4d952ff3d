/**
 * Registry credentials as critter carries them internally. CRI `AuthConfig` fields are
 * `[debug_redact = true]` (cri-api api.proto): nothing here may reach a log line or an
 * error message. Use `describeCredentials()` to say *which kind* of credential was used.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../lib/errors.ts';

/** Credentials for one registry; every field optional (anonymous = all absent). */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, exchanged at the token realm (docker `identitytoken`). */
  identityToken?: string;
  /** A bearer token sent to the registry as is. */
  registryToken?: string;
  /** The registry these were issued for, when the caller said so. */
  serverAddress?: string;
}

/** The CRI AuthConfig fields, spelled as the proto does (snake_case, empty = unset). */
export interface AuthConfigFields {
  username?: string | null;
  password?: string | null;
  auth?: string | null;
  identity_token?: string | null;
  registry_token?: string | null;
  server_address?: string | null;
}

/**
 * Decodes a docker-style `auth` value: base64 of `username:password` (split at the first
 * colon, as docker/cli config/types decodeAuth does).
 * @throws InvalidArgumentError that names `what` but never the value.
 */
export function decodeBasicAuth(auth: string, what: string): { username: string; password: string } {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || !/^[A-Za-z0-9+/=_-]+$/.test(auth.trim())) {
    throw new InvalidArgumentError(`${what}: "auth" is not base64 of username:password`);
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Builds credentials from CRI AuthConfig fields; explicit username/password win over
 * `auth` (containerd ParseAuth). Returns undefined when nothing is set.
 * @throws InvalidArgumentError when `auth` is malformed (the message holds no secret).
 */
export function credentialsFromAuthConfig(fields: AuthConfigFields | null | undefined): RegistryCredentials | undefined {
  if (fields === null || fields === undefined) return undefined;
  const creds: RegistryCredentials = {};
  if (fields.username) {
    creds.username = fields.username;
    creds.password = fields.password ?? '';
  } else if (fields.auth) {
    Object.assign(creds, decodeBasicAuth(fields.auth, 'AuthConfig'));
  }
  if (fields.identity_token) creds.identityToken = fields.identity_token;
  if (fields.registry_token) creds.registryToken = fields.registry_token;
  if (fields.server_address) creds.serverAddress = fields.server_address;
  return hasCredentials(creds) ? creds : undefined;
}

/** True when any secret is present. */
function hasCredentials(creds: RegistryCredentials | undefined): creds is RegistryCredentials {
  return creds !== undefined && (creds.username !== undefined || creds.identityToken !== undefined || creds.registryToken !== undefined);
}

/** `Basic …` header value for username/password credentials, if any. */
export function basicAuthorization(creds: RegistryCredentials | undefined): string | undefined {
  if (creds?.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
}

/**
 * A stable, non-reversible key for caches (tokens must not be shared between callers
 * holding different credentials).
 */
export function credentialsFingerprint(creds: RegistryCredentials | undefined): string {
  if (!hasCredentials(creds)) return 'anonymous';
  const material = JSON.stringify([creds.username, creds.password, creds.identityToken, creds.registryToken]);
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}

/** Which kind of credential is in use, safe for logs and messages. */
export function describeCredentials(creds: RegistryCredentials | undefined): string {
  if (creds?.registryToken !== undefined) return 'a registry token';
  if (creds?.identityToken !== undefined) return 'an identity token';
  if (creds?.username !== undefined) return 'username and password';
  return 'no credentials';
}
