/**
 * Image volumes (KEP-4639, issue 13 item 2): a CRI mount of an image rather than of a host
 * path. CreateContainer mounts the image's layers read-only (an overlay with lower dirs
 * only) at `<bundle>/image-volumes/<n>`, and the spec binds that, or the image_sub_path
 * resolved inside it, at the container path. The container counts as a user of the image
 * and of its layers through its metadata (imageVolumes); the mount points live under the
 * bundle, so teardown and the crash-time sweep find them without reading a record.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig.ts';
import type { Mount__Output } from '../generated/cri/runtime/v1/Mount.ts';
import type { CleanupStack } from '../lib/cleanup-stack.ts';
import { InvalidArgumentError, NotFoundError } from '../lib/errors.ts';
import type { Op } from '../lib/op.ts';
import { PathInRootError } from '../storage/errors.ts';
import { resolveInRoot } from '../storage/rootfs-path.ts';
import type { ImageRecord } from '../storage/store.ts';
import type { ImageLookup, LayerLookup } from './container-deps.ts';
import type { ContainerMetadata, ImageVolumeRecord } from './container-record.ts';
import type { RootfsMounter } from '../storage/overlay-rootfs.ts';
import { imageSubPath, isImageMount } from './spec/mounts.ts';

const VOLUMES_DIR = 'image-volumes';
const MOUNT_POINT = /^[0-9]+$/;

function imageMounts(config: ContainerConfig__Output): Mount__Output[] {
  return config.mounts.filter(isImageMount);
}

/**
 * The images the config's image volumes name, in order, with their sub-paths checked.
 * Synchronous: create() resolves them before it registers the create in flight, so that
 * from then on a RemoveImage of them is refused.
 * @throws NotFoundError naming an image that is not stored, InvalidArgumentError for a bad sub-path
 */
export function imageVolumeImages(config: ContainerConfig__Output, images: Pick<ImageLookup, 'require'>): ImageRecord[] {
  return imageMounts(config).map((m) => {
    imageSubPath(m);
    return images.require(m.image!.image);
  });
}

export interface MountedImageVolumes {
  /** Host path to bind, by container path (SpecInputs.imageVolumes). */
  hostPaths: Map<string, string>;
  records: ImageVolumeRecord[];
}

/** Mounts each image volume, registering its unmount on `stack`. `images` is imageVolumeImages() of the same config. */
export async function mountImageVolumes(
  deps: { rootfs: RootfsMounter; layers: LayerLookup }, op: Op, stack: CleanupStack, bundle: string,
  config: ContainerConfig__Output, images: readonly ImageRecord[],
): Promise<MountedImageVolumes> {
  const out: MountedImageVolumes = { hostPaths: new Map(), records: [] };
  const mounts = imageMounts(config);
  for (const [i, m] of mounts.entries()) {
    const image = images[i];
    if (!image) throw new InvalidArgumentError(`image volume ${JSON.stringify(m.container_path)}: image ${JSON.stringify(m.image!.image)} was not resolved`);
    const target = join(bundle, VOLUMES_DIR, String(i));
    stack.push(`unmount image volume ${target}`, (signal) => deps.rootfs.unmount({ log: op.log, signal }, target));
    await deps.rootfs.mountReadOnly(op, deps.layers.lowerDirs(image.topLayer), target);
    const sub = imageSubPath(m);
    out.hostPaths.set(m.container_path, sub === '' ? target : await resolveSubPath(target, sub, m));
    out.records.push({ containerPath: m.container_path, imageId: image.id, topLayer: image.topLayer });
  }
  return out;
}

/** The sub-path's host path inside the mounted image; symlinks in the image stay inside it. */
async function resolveSubPath(root: string, sub: string, m: Mount__Output): Promise<string> {
  const what = `image volume ${JSON.stringify(m.container_path)}: image_sub_path ${JSON.stringify(sub)}`;
  let host: string;
  try {
    host = await resolveInRoot(root, sub);
  } catch (err) {
    if (err instanceof PathInRootError) throw new InvalidArgumentError(`${what} cannot be resolved in image ${JSON.stringify(m.image!.image)}`, { cause: err });
    throw err;
  }
  try {
    await lstat(host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new NotFoundError(`${what} does not exist in image ${JSON.stringify(m.image!.image)}`, { cause: err });
    }
    throw err;
  }
  return host;
}

/** Image volume mount points under a bundle, whether or not they are still mounted (none when the bundle is gone). */
export async function imageVolumeMountPoints(bundle: string): Promise<string[]> {
  const dir = join(bundle, VOLUMES_DIR);
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => MOUNT_POINT.test(n)).map((n) => join(dir, n));
}

/** Ids of the images a container's volumes are of. */
export function volumeImageIds(md: ContainerMetadata): string[] {
  return (md.imageVolumes ?? []).map((v) => v.imageId);
}

/** Chain ids a container's volumes sit on. */
export function volumeLayers(md: ContainerMetadata): string[] {
  return (md.imageVolumes ?? []).map((v) => v.topLayer);
}
