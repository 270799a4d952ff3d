/**
 * Registry policy from containers-registries.conf: which endpoints to pull a reference
 * from (mirrors, then the primary location), whether they are insecure or blocked, and
 * how a short name becomes fully-qualified candidates.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../lib/errors.ts';
import {
  DOCKER_DOMAIN,
  formatReference,
  normaliseReference,
  parseNormalisedReference,
  parseReference,
  type ImageReference,
  type NormalisedReference,
} from './reference.ts';
import { loadRegistriesConfData, type RegistriesConfData, type RegistryEntry } from './registries-conf-parse.ts';

export type { RegistriesConfData, RegistryEntry } from './registries-conf-parse.ts';

/** The default main file (containers-registries.conf(5)). */
const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

/** One place to try pulling a reference from. */
export interface PullSource {
  /** The reference rewritten for this endpoint (mirror or `location`). */
  reference: NormalisedReference;
  /** Plain HTTP and unverified TLS are allowed for this endpoint. */
  insecure: boolean;
  /** True for a `[[registry.mirror]]`, false for the primary location. */
  mirror: boolean;
}

/** The fully-qualified references a short name may mean, in the order to try them. */
export interface ShortNameResolution {
  candidates: NormalisedReference[];
  /** `alias` ([aliases]), `search` (unqualified-search-registries) or `docker` (Docker defaults). */
  origin: 'alias' | 'search' | 'docker';
}

/**
 * Length of the match of `prefix` at the start of `ref`, or -1 (sysregistriesv2
 * refMatchingPrefix): a prefix matches only at a component boundary (`/`, `:`, `@`),
 * and `*.example.com` matches any subdomain of example.com in the host part.
 */
export function matchPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    const index = ref.indexOf(suffix);
    if (index === -1 || ref.slice(0, index).includes('/')) return -1;
    const end = index + suffix.length;
    return end === ref.length || ':/@'.includes(ref.charAt(end)) ? end : -1;
  }
  if (!ref.startsWith(prefix)) return -1;
  if (ref.length === prefix.length) return prefix.length;
  return ':/@'.includes(ref.charAt(prefix.length)) ? prefix.length : -1;
}

/** Replaces the matched prefix with `location` (sysregistriesv2 Endpoint.rewriteReference). */
function rewrite(ref: NormalisedReference, refString: string, matched: number, location: string, file: string): NormalisedReference {
  if (location === '') return ref;
  const rewritten = location + refString.slice(matched);
  try {
    return parseNormalisedReference(rewritten);
  } catch (err) {
    throw new InvalidArgumentError(`registries configuration ${file}: rewriting "${refString}" with location "${location}" gives an invalid reference`, { cause: err });
  }
}

/** Parsed registries configuration; immutable once loaded (reload = load a new one). */
export class RegistriesConf {
  readonly data: RegistriesConfData;

  constructor(data: RegistriesConfData) {
    this.data = data;
  }

  /**
   * Loads `path` and the `*.conf` files of `dropInDir` (default `<path>.d`).
   * @throws InvalidArgumentError naming the file, key and value of a bad setting.
   */
  static async load(path: string = DEFAULT_REGISTRIES_CONF, dropInDir: string = `${path}.d`): Promise<RegistriesConf> {
    return new RegistriesConf(await loadRegistriesConfData(path, dropInDir));
  }

  /** An empty configuration: no rewrites, Docker-style short names. */
  static empty(): RegistriesConf {
    return new RegistriesConf({ unqualifiedSearchRegistries: undefined, shortNameMode: 'permissive', aliases: new Map(), registries: [] });
  }

  /** The `[[registry]]` with the longest prefix matching `ref`, if any. */
  findRegistry(ref: NormalisedReference): { entry: RegistryEntry; matched: number } | undefined {
    const refString = formatReference(ref);
    let best: { entry: RegistryEntry; matched: number } | undefined;
    for (const entry of this.data.registries) {
      const matched = matchPrefix(refString, entry.prefix);
      if (matched !== -1 && (best === undefined || entry.prefix.length > best.entry.prefix.length)) best = { entry, matched };
    }
    return best;
  }

  /**
   * The ordered endpoints to pull `ref` from: eligible mirrors in file order, then the
   * primary location. `pull-from-mirror` limits a mirror to digest or tag pulls.
   * @throws FailedPreconditionError when the matching registry is blocked.
   */
  pullSources(ref: NormalisedReference): PullSource[] {
    const found = this.findRegistry(ref);
    if (found === undefined) return [{ reference: ref, insecure: false, mirror: false }];
    const { entry, matched } = found;
    const refString = formatReference(ref);
    if (entry.blocked) {
      // NOTE: FailedPrecondition, not PermissionDenied: the node's policy forbids this pull,
      // no credential could change that (containers/image returns a plain error here).
      throw new FailedPreconditionError(`pulling image "${refString}" is not allowed: registry "${entry.prefix}" is blocked in ${entry.file}`);
    }
    const byDigest = ref.digest !== undefined;
    const sources: PullSource[] = [];
    for (const mirror of entry.mirrors) {
      if (mirror.pullFromMirror === 'digest-only' && !byDigest) continue;
      if (mirror.pullFromMirror === 'tag-only' && byDigest) continue;
      sources.push({ reference: rewrite(ref, refString, matched, mirror.location, entry.file), insecure: mirror.insecure, mirror: true });
    }
    sources.push({ reference: rewrite(ref, refString, matched, entry.location, entry.file), insecure: entry.insecure, mirror: false });
    return sources;
  }

  /**
   * Turns a reference into fully-qualified candidates. A qualified reference is its own
   * only candidate. A short name uses an alias first, then unqualified-search-registries
   * (in order), and with neither Docker's `docker.io/library` defaults.
   * @throws InvalidArgumentError when short-name-mode is enforcing and the name is ambiguous
   *   (a CRI server has no TTY to prompt, like containers/image without one).
   */
  resolveShortName(ref: ImageReference): ShortNameResolution {
    if (ref.domain !== undefined) return { candidates: [normaliseReference(ref)], origin: 'docker' };
    const suffix = (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
    const alias = this.data.aliases.get(ref.path);
    if (alias !== undefined) {
      const target = parseReference(alias.value);
      if (target.domain === undefined || target.tag !== undefined || target.digest !== undefined) {
        throw new InvalidArgumentError(
          `registries configuration ${alias.file}: aliases.${JSON.stringify(ref.path)} = ${JSON.stringify(alias.value)}: must be a fully-qualified repository without tag or digest`,
        );
      }
      return { candidates: [parseNormalisedReference(alias.value + suffix)], origin: 'alias' };
    }
    const search = this.data.unqualifiedSearchRegistries;
    if (search === undefined) return { candidates: [normaliseReference({ ...ref, domain: DOCKER_DOMAIN })], origin: 'docker' };
    const shown = ref.path + suffix;
    if (search.length === 0) {
      throw new InvalidArgumentError(`short name "${shown}" cannot be resolved: unqualified-search-registries is empty and there is no alias`);
    }
    if (search.length > 1 && this.data.shortNameMode === 'enforcing') {
      throw new InvalidArgumentError(
        `short name "${shown}" is ambiguous: short-name-mode is "enforcing" and unqualified-search-registries lists ${search.join(', ')}; use a fully-qualified name or add an alias`,
      );
    }
    return { candidates: search.map((host) => parseNormalisedReference(`${host}/${shown}`)), origin: 'search' };
  }
}
