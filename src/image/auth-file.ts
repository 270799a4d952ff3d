/**
 * Docker-style auth file (`config.json` / containers-auth.json):
 * `{"auths": {"<key>": {"auth": base64(user:pass), "identitytoken": …}}}`. Keys may be a
 * bare host, a host with a repository namespace (containers-auth.json), or a legacy URL
 * such as `https://index.docker.io/v1/`. The file is read on every lookup so edits (for
 * example by the kubelet) apply without a restart.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../lib/errors.ts';
import { decodeBasicAuth, type RegistryCredentials } from './auth.ts';

/** Hosts that all mean Docker Hub in auth files (docker/cli registry.IndexServer). */
const DOCKER_HUB_ALIASES: readonly string[] = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

/** `https://host/v1/` → `host` (containers/image normalizeAuthFileKey for legacy keys). */
function normaliseKey(key: string): string {
  const schemeless = key.replace(/^https?:\/\//, '');
  return schemeless === key ? key.replace(/\/+$/, '') : (schemeless.split('/')[0] ?? '');
}

function hostKeys(host: string): string[] {
  return DOCKER_HUB_ALIASES.includes(host) ? [...DOCKER_HUB_ALIASES] : [host];
}

function entryToCredentials(file: string, key: string, entry: AuthEntry): RegistryCredentials | undefined {
  const what = `auth file ${file}: auths[${JSON.stringify(key)}]`;
  const creds: RegistryCredentials = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    Object.assign(creds, decodeBasicAuth(entry.auth, what));
  } else if (typeof entry.username === 'string' && entry.username !== '') {
    creds.username = entry.username;
    creds.password = typeof entry.password === 'string' ? entry.password : '';
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') creds.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') creds.registryToken = entry.registrytoken;
  if (creds.username === undefined && creds.identityToken === undefined && creds.registryToken === undefined) return undefined;
  creds.serverAddress = key;
  return creds;
}

/** Reads credentials for a registry from a docker-style auth file. */
export class AuthFile {
  readonly path: string;

  constructor(deps: { path: string }) {
    this.path = deps.path;
  }

  /**
   * Credentials for `host` (and optionally the repository `path` below it): the most
   * specific key wins (`host/ns/repo`, then `host/ns`, then `host`). A missing file
   * means no credentials.
   * @throws InvalidArgumentError naming the file (never its secrets) when it is malformed.
   */
  async lookup(host: string, path?: string): Promise<RegistryCredentials | undefined> {
    const auths = await this.readAuths();
    if (auths === undefined) return undefined;
    const byKey = new Map<string, [string, AuthEntry]>();
    for (const [key, entry] of Object.entries(auths)) {
      if (typeof entry !== 'object' || entry === null) {
        throw new InvalidArgumentError(`auth file ${this.path}: auths[${JSON.stringify(key)}] must be an object`);
      }
      // An exact key beats a legacy URL key normalising to the same host.
      const normalised = normaliseKey(key);
      if (!byKey.has(normalised) || normalised === key) byKey.set(normalised, [key, entry]);
    }
    const wanted: string[] = [];
    const components = path === undefined ? [] : path.split('/');
    for (let n = components.length; n > 0; n--) wanted.push(`${host}/${components.slice(0, n).join('/')}`);
    wanted.push(...hostKeys(host));
    for (const key of wanted) {
      const found = byKey.get(key);
      if (found === undefined) continue;
      const creds = entryToCredentials(this.path, found[0], found[1]);
      if (creds !== undefined) return creds;
    }
    return undefined;
  }

  private async readAuths(): Promise<Record<string, unknown> | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // NOTE: JSON.parse messages quote file content, which may be a secret; drop them.
      throw new InvalidArgumentError(`auth file ${this.path}: not valid JSON`);
    }
    if (typeof doc !== 'object' || doc === null) throw new InvalidArgumentError(`auth file ${this.path}: must be a JSON object`);
    const auths = (doc as { auths?: unknown }).auths;
    if (auths === undefined) return undefined;
    if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
      throw new InvalidArgumentError(`auth file ${this.path}: "auths" must be an object`);
    }
    return auths as Record<string, unknown>;
  }
}
