/**
 * Image reference grammar of distribution/reference (the one Docker, containerd and
 * containers/image share): `[domain/]path[:tag][@digest]`. Parsing is split in two so
 * that short-name resolution (registries.conf) can see what the user actually wrote:
 * `parseReference()` keeps the domain absent, `normaliseReference()` applies Docker's
 * defaults (`docker.io`, `library/`, `:latest`).
 */
import { InvalidArgumentError } from '../lib/errors.ts';
import { shown } from '../lib/shown.ts';

/** The default registry of Docker-style normalisation. */
export const DOCKER_DOMAIN = 'docker.io';
const LEGACY_DOCKER_DOMAIN = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';
/** distribution/reference NameTotalLengthMax. */
const NAME_MAX_LENGTH = 255;

// Grammar from distribution/reference regexp.go.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
/** A bare image ID is not a repository name (distribution: "cannot specify 64-byte hexadecimal strings"). */
const IMAGE_ID_HEX = /^[a-f0-9]{64}$/;
/** Digest algorithms we can verify, with their hex length (OCI image-spec descriptor.md). */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/** A parsed reference; `domain` is undefined when the user wrote a short name. */
export interface ImageReference {
  domain: string | undefined;
  /** Repository path below the domain, e.g. `library/busybox`. */
  path: string;
  tag: string | undefined;
  digest: string | undefined;
}

/** A reference after Docker-style normalisation: the domain is always known. */
export interface NormalisedReference extends ImageReference {
  domain: string;
}

/**
 * Validates an OCI digest string (`sha256:<64 lowercase hex>`).
 * @throws InvalidArgumentError naming the digest when malformed or of an unknown algorithm.
 */
export function validateDigest(digest: string): string {
  const match = DIGEST.exec(digest);
  const algorithm = match?.[1];
  const hex = match?.[2];
  if (algorithm === undefined || hex === undefined) {
    throw new InvalidArgumentError(`invalid digest ${shown(digest)}: want <algorithm>:<hex>`);
  }
  const want = DIGEST_HEX_LENGTH[algorithm];
  if (want === undefined) throw new InvalidArgumentError(`invalid digest ${shown(digest)}: unsupported algorithm ${shown(algorithm)}`);
  if (hex.length !== want || hex !== hex.toLowerCase()) {
    throw new InvalidArgumentError(`invalid digest ${shown(digest)}: ${algorithm} needs ${want} lowercase hex characters`);
  }
  return digest;
}

/**
 * Splits a reference string into domain, path, tag and digest without applying defaults.
 * The first component is a domain only if it contains `.` or `:`, is `localhost`, or has
 * uppercase letters (distribution splitDockerDomain); otherwise the name is short.
 * @throws InvalidArgumentError quoting the reference when it is malformed.
 */
export function parseReference(input: string): ImageReference {
  const bad = (why: string): InvalidArgumentError => new InvalidArgumentError(`invalid image reference ${shown(input)}: ${why}`);
  if (input === '') throw bad('empty');
  // Checked first so a huge reference costs no regex work; a tag (128) and a digest (sha512) add to the name.
  if (input.length > NAME_MAX_LENGTH + 300) throw bad(`longer than ${NAME_MAX_LENGTH + 300} characters`);
  if (IMAGE_ID_HEX.test(input)) throw bad('a 64-character hex string is an image ID, not a repository name');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      validateDigest(digest);
    } catch (err) {
      throw bad((err as Error).message);
    }
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad(`invalid tag ${shown(tag)}`);
  }
  if (rest === '') throw bad('missing repository name');

  let domain: string | undefined;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain !== undefined) checkDomain(domain, bad);
  for (const component of path.split('/')) {
    if (component !== component.toLowerCase()) throw bad('repository name must be lowercase');
    if (!PATH_COMPONENT.test(component)) throw bad(`invalid repository path component ${shown(component)}`);
  }
  if (rest.length > NAME_MAX_LENGTH) throw bad(`repository name longer than ${NAME_MAX_LENGTH} characters`);
  return { domain, path, tag, digest };
}

/**
 * A registry host must also make a URL: a port in 1..65535 (`host:99999` is no address),
 * and a single-label name counts as a host only by its `:port` or being `localhost`, so
 * `UPPER/x` is an uppercase repository name, not a registry called UPPER.
 */
function checkDomain(domain: string, bad: (why: string) => InvalidArgumentError): void {
  if (!DOMAIN.test(domain)) throw bad(`invalid registry host ${shown(domain)}`);
  const port = /:([0-9]+)$/.exec(domain)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(`registry port ${port} is not in 1..65535`);
  if (!domain.includes('.') && !domain.includes(':') && domain !== 'localhost') throw bad('repository name must be lowercase');
}

/**
 * Applies Docker's defaults to a parsed reference: `docker.io` for short names,
 * `library/` for single-component Docker Hub names, `latest` when neither tag nor digest
 * is given. `index.docker.io` becomes `docker.io`.
 */
export function normaliseReference(ref: ImageReference): NormalisedReference {
  let domain = ref.domain ?? DOCKER_DOMAIN;
  if (domain === LEGACY_DOCKER_DOMAIN) domain = DOCKER_DOMAIN;
  const path = domain === DOCKER_DOMAIN && !ref.path.includes('/') ? `${OFFICIAL_NAMESPACE}/${ref.path}` : ref.path;
  const tag = ref.tag === undefined && ref.digest === undefined ? DEFAULT_TAG : ref.tag;
  return { domain, path, tag, digest: ref.digest };
}

/**
 * Parses and normalises in one step: `busybox` → `docker.io/library/busybox:latest`.
 * @throws InvalidArgumentError quoting the reference when it is malformed.
 */
export function parseNormalisedReference(input: string): NormalisedReference {
  return normaliseReference(parseReference(input));
}

/** True when the reference names no registry (a short name subject to registries.conf). */
export function isShortName(ref: ImageReference): boolean {
  return ref.domain === undefined;
}

/** `domain/path`, the repository name without tag or digest. */
export function repositoryName(ref: NormalisedReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string form: `domain/path[:tag][@digest]`. */
export function formatReference(ref: NormalisedReference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** `repo:tag`, the form recorded as an image's RepoTag. */
export function formatTagged(repository: string, tag: string): string {
  return `${repository}:${tag}`;
}

/** `repo@digest`, the form recorded as an image's RepoDigest. */
export function formatDigested(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}
