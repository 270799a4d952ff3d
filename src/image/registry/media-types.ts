/**
 * Media types of the OCI image-spec and of Docker's image manifest v2 schema 2, the
 * only ones critter pulls. Schema 1 is refused (removed in containerd 2.1, deprecated
 * by Docker since 2019).
 */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_SCHEMA1_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** The Accept header for manifest requests, most preferred first. */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}

export function isSchema1MediaType(mediaType: string): boolean {
  return mediaType === DOCKER_SCHEMA1_MANIFEST || mediaType === DOCKER_SCHEMA1_SIGNED_MANIFEST;
}
