/**
 * Reads containers-registries.conf version 2 (containers/image `sysregistriesv2`): the
 * main file plus `registries.conf.d/*.conf` drop-ins in lexical order. Each file is
 * checked on its own so that an error names the file, the key and the bad value.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { InvalidArgumentError } from '../lib/errors.ts';

/** When a mirror may serve a pull (containers-registries.conf `pull-from-mirror`). */
type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
/** How short names are handled (`short-name-mode`); without a TTY "enforcing" refuses ambiguity. */
type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

interface MirrorEndpoint {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  /** What references this entry applies to; `*.example.com` matches any subdomain. */
  prefix: string;
  /** Where to pull from instead of `prefix`; empty only for wildcard prefixes (= unchanged). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorEndpoint[];
  /** The file that defined this entry, for error messages. */
  file: string;
}

interface ShortNameAlias {
  /** Fully-qualified repository, no tag or digest. */
  value: string;
  file: string;
}

/** The merged configuration of the main file and its drop-ins. */
export interface RegistriesConfData {
  /** Undefined when no file sets the key (then Docker-style normalisation applies). */
  unqualifiedSearchRegistries: string[] | undefined;
  shortNameMode: ShortNameMode;
  aliases: Map<string, ShortNameAlias>;
  registries: RegistryEntry[];
}

const SHORT_NAME_MODES: readonly string[] = ['enforcing', 'permissive', 'disabled'];
const PULL_FROM_MIRROR: readonly string[] = ['all', 'digest-only', 'tag-only'];

/** What one file contributed; undefined keys were not set in it. */
interface FileConfig {
  unqualifiedSearchRegistries: string[] | undefined;
  shortNameMode: ShortNameMode | undefined;
  aliases: Map<string, ShortNameAlias | undefined>;
  registries: RegistryEntry[];
}

function configError(file: string, key: string, value: unknown, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`registries configuration ${file}: ${key} = ${JSON.stringify(value)}: ${why}`);
}

function optionalString(file: string, key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw configError(file, key, value, 'must be a string');
  return value;
}

function optionalBool(file: string, key: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw configError(file, key, value, 'must be true or false');
  return value;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A location is host[:port][/namespace…], never a URL (sysregistriesv2 parseLocation). */
function checkLocation(file: string, key: string, location: string): string {
  if (location.includes('://')) throw configError(file, key, location, 'must not contain a URI scheme');
  return location.replace(/\/+$/, '');
}

function checkPrefix(file: string, key: string, prefix: string): void {
  if (prefix.includes('://')) throw configError(file, key, prefix, 'must not contain a URI scheme');
  if (prefix.startsWith('*.') && (prefix.includes('/') || prefix.length < 3)) {
    throw configError(file, key, prefix, 'a wildcard prefix must be of the form *.example.com');
  }
  if (prefix.includes('*') && !prefix.startsWith('*.')) throw configError(file, key, prefix, 'wildcards are only allowed as a leading "*."');
}

function parseMirror(file: string, key: string, raw: unknown, mirrorByDigestOnly: boolean): MirrorEndpoint {
  if (!isTable(raw)) throw configError(file, key, raw, 'must be a table');
  const location = checkLocation(file, `${key}.location`, optionalString(file, `${key}.location`, raw['location']) ?? '');
  if (location === '') throw configError(file, `${key}.location`, '', 'a mirror needs a location');
  const pull = optionalString(file, `${key}.pull-from-mirror`, raw['pull-from-mirror']);
  if (pull !== undefined && !PULL_FROM_MIRROR.includes(pull)) {
    throw configError(file, `${key}.pull-from-mirror`, pull, `must be one of ${PULL_FROM_MIRROR.join(', ')}`);
  }
  if (mirrorByDigestOnly && pull !== undefined && pull !== 'digest-only') {
    throw configError(file, `${key}.pull-from-mirror`, pull, 'conflicts with mirror-by-digest-only = true');
  }
  return {
    location,
    insecure: optionalBool(file, `${key}.insecure`, raw['insecure']) ?? false,
    pullFromMirror: (pull as PullFromMirror | undefined) ?? (mirrorByDigestOnly ? 'digest-only' : 'all'),
  };
}

function parseRegistry(file: string, key: string, raw: unknown): RegistryEntry {
  if (!isTable(raw)) throw configError(file, key, raw, 'must be a table');
  const location = checkLocation(file, `${key}.location`, optionalString(file, `${key}.location`, raw['location']) ?? '');
  const prefix = optionalString(file, `${key}.prefix`, raw['prefix']) || location;
  if (prefix === '') throw configError(file, `${key}.location`, '', 'needs a location or a prefix');
  checkPrefix(file, `${key}.prefix`, prefix);
  if (location === '' && !prefix.startsWith('*.')) {
    throw configError(file, `${key}.location`, '', 'may be empty only with a wildcard prefix');
  }
  const mirrorByDigestOnly = optionalBool(file, `${key}.mirror-by-digest-only`, raw['mirror-by-digest-only']) ?? false;
  const rawMirrors = raw['mirror'] ?? [];
  if (!Array.isArray(rawMirrors)) throw configError(file, `${key}.mirror`, rawMirrors, 'must be an array of tables ([[registry.mirror]])');
  return {
    prefix,
    location,
    insecure: optionalBool(file, `${key}.insecure`, raw['insecure']) ?? false,
    blocked: optionalBool(file, `${key}.blocked`, raw['blocked']) ?? false,
    mirrors: rawMirrors.map((m, i) => parseMirror(file, `${key}.mirror[${i}]`, m, mirrorByDigestOnly)),
    file,
  };
}

/**
 * Validates one parsed TOML document.
 * @throws InvalidArgumentError naming the file, key and value.
 */
function parseRegistriesConfText(file: string, text: string): FileConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new InvalidArgumentError(`registries configuration ${file}: invalid TOML: ${(err as Error).message}`, { cause: err });
  }

  let unqualifiedSearchRegistries: string[] | undefined;
  const search = doc['unqualified-search-registries'];
  if (search !== undefined) {
    if (!Array.isArray(search) || !search.every((s): s is string => typeof s === 'string' && s !== '')) {
      throw configError(file, 'unqualified-search-registries', search, 'must be an array of registry hosts');
    }
    for (const host of search) {
      if (host.includes('/')) throw configError(file, 'unqualified-search-registries', host, 'must be a registry host, not a repository');
    }
    unqualifiedSearchRegistries = search;
  }

  const mode = optionalString(file, 'short-name-mode', doc['short-name-mode']);
  if (mode !== undefined && !SHORT_NAME_MODES.includes(mode)) {
    throw configError(file, 'short-name-mode', mode, `must be one of ${SHORT_NAME_MODES.join(', ')}`);
  }

  const aliases = new Map<string, ShortNameAlias | undefined>();
  const rawAliases = doc['aliases'] ?? {};
  if (!isTable(rawAliases)) throw configError(file, 'aliases', rawAliases, 'must be a table');
  for (const [name, value] of Object.entries(rawAliases)) {
    const key = `aliases.${JSON.stringify(name)}`;
    if (typeof value !== 'string') throw configError(file, key, value, 'must be a string');
    // NOTE: an empty value removes an alias set by an earlier file (containers/image shortnames).
    aliases.set(name, value === '' ? undefined : { value, file });
  }

  if (doc['registries'] !== undefined) {
    throw configError(file, 'registries', doc['registries'], 'the version 1 format ([registries.search] etc.) is not supported; use version 2 keys');
  }
  const rawRegistries = doc['registry'] ?? [];
  if (!Array.isArray(rawRegistries)) {
    throw configError(file, 'registry', rawRegistries, 'must be an array of tables ([[registry]])');
  }
  const registries = rawRegistries.map((r, i) => parseRegistry(file, `registry[${i}]`, r));
  const seen = new Set<string>();
  for (const [i, reg] of registries.entries()) {
    if (seen.has(reg.prefix)) throw configError(file, `registry[${i}].prefix`, reg.prefix, 'defined more than once');
    seen.add(reg.prefix);
  }
  return { unqualifiedSearchRegistries, shortNameMode: mode as ShortNameMode | undefined, aliases, registries };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function listDropIns(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names.filter((n) => n.endsWith('.conf')).sort().map((n) => join(dir, n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Loads and merges the main file and drop-ins. A missing file or directory means
 * defaults. Merge rules follow sysregistriesv2 updateWithConfigurationFrom: a later
 * `[[registry]]` with the same prefix replaces the earlier one, scalar keys set later
 * win, aliases merge key by key.
 * @throws InvalidArgumentError naming the file, key and value of a bad setting.
 */
export async function loadRegistriesConfData(path: string, dropInDir: string): Promise<RegistriesConfData> {
  const files = [path, ...(await listDropIns(dropInDir))];
  const merged: RegistriesConfData = {
    unqualifiedSearchRegistries: undefined,
    // NOTE: permissive when unset, as sysregistriesv2 defaultShortNameMode.
    shortNameMode: 'permissive',
    aliases: new Map(),
    registries: [],
  };
  const byPrefix = new Map<string, RegistryEntry>();
  for (const file of files) {
    const text = await readIfExists(file);
    if (text === undefined) continue;
    const conf = parseRegistriesConfText(file, text);
    if (conf.unqualifiedSearchRegistries !== undefined) merged.unqualifiedSearchRegistries = conf.unqualifiedSearchRegistries;
    if (conf.shortNameMode !== undefined) merged.shortNameMode = conf.shortNameMode;
    for (const [name, alias] of conf.aliases) {
      if (alias === undefined) merged.aliases.delete(name);
      else merged.aliases.set(name, alias);
    }
    for (const reg of conf.registries) byPrefix.set(reg.prefix, reg);
  }
  merged.registries = [...byPrefix.values()];
  return merged;
}
