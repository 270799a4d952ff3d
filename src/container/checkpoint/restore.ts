/**
 * Restore (issue 14 item 2), as CRI-O does it: a CreateContainer whose image is the path of
 * a checkpoint archive creates the container on the image the checkpoint was taken from,
 * with the original CRI annotations; the archive is unpacked into the bundle, its rootfs
 * diff applied on the new rootfs and its log copied; StartContainer then has conmon run
 * `<runtime> restore` instead of create + start (container-service.ts, container-launch.ts).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { Op } from '../../lib/op.ts';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../lib/errors.ts';
import { shown } from '../../lib/shown.ts';
import type { ImageRecord } from '../../storage/store.ts';
import { resolveInRoot } from '../../storage/rootfs-path.ts';
import type { ImageLookup } from '../container-deps.ts';
import {
  CHECKPOINT_DIR, CONFIG_DUMP, CONTAINER_LOG, DELETED_FILES, ROOTFS_DIFF_TAR, SPEC_DUMP, looksLikeArchivePath, originalAnnotations, parseConfigDump,
  type ConfigDump,
} from './archive.ts';
import { extractTar, listTar } from './tar.ts';

/** What a restored container's record keeps (ContainerMetadata.restore). */
export interface RestoreInfo {
  /** The archive it was created from. */
  archive: string;
  /** The original container's id and when it was checkpointed (RFC 3339), from config.dump. */
  checkpointedId: string;
  checkpointedAt: string;
}

/** The unpacked images of a restored container, inside its bundle, until StartContainer restores it. */
export function restoreDirOf(bundle: string): string {
  return join(bundle, 'restore');
}

export function restoreImagePath(bundle: string): string {
  return join(restoreDirOf(bundle), CHECKPOINT_DIR);
}

/** True when `image` names a local checkpoint archive (a regular file), not an image reference. */
export async function isCheckpointArchive(image: string): Promise<boolean> {
  if (!looksLikeArchivePath(image)) return false;
  return (await stat(image).catch(() => undefined))?.isFile() ?? false;
}

/** What planRestore reads of spec.dump (the OCI spec the container ran with). */
interface CheckpointedSpec {
  annotations?: Record<string, string>;
  mounts?: { destination?: string; source?: string; type?: string; options?: string[] }[];
}

/** Binds every container gets from its pod (spec/mounts.ts podMounts): the new pod's own are used, as CRI-O does. */
const POD_OWN_DESTINATIONS = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm']);

/**
 * The checkpointed container's bind mounts that `config` does not mount itself. CRIU
 * restores the mount namespace as it was dumped and fails ("No mapping for … mountpoint")
 * when a bind mount of the dump is missing, so, as CRI-O does, each one the restore
 * request leaves out is carried over with its original host path (a kubelet's
 * /dev/termination-log, say); one whose host path is gone is refused before anything is
 * made, naming it.
 */
export async function carriedMounts(spec: CheckpointedSpec, config: ContainerConfig__Output, archive: string): Promise<ContainerConfig__Output['mounts']> {
  const claimed = new Set(config.mounts.map((m) => m.container_path));
  const out: ContainerConfig__Output['mounts'] = [];
  for (const m of spec.mounts ?? []) {
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (!bind || !m.destination || !m.source || POD_OWN_DESTINATIONS.has(m.destination) || claimed.has(m.destination)) continue;
    if (!(await stat(m.source).then(() => true, () => false))) {
      throw new FailedPreconditionError(`checkpoint archive ${shown(archive)}: the container had ${shown(m.source)} mounted at ${shown(m.destination)}, which no longer exists; mount something there in the restore config`);
    }
    out.push({
      container_path: m.destination, host_path: m.source, readonly: (m.options ?? []).includes('ro'), selinux_relabel: false,
      propagation: 0, uidMappings: [], gidMappings: [], recursive_read_only: false, image: null, image_sub_path: '', mount_options: [],
    });
  }
  return out;
}

export interface RestorePlan {
  config: ContainerConfig__Output;
  image: ImageRecord;
  info: RestoreInfo;
}

/**
 * Reads config.dump and spec.dump from the archive and rewrites the request: the image is
 * the checkpoint's own (which must be present, as CRI-O requires), the annotations the
 * original container's, with the kubelet's container hash from this request.
 */
export async function planRestore(op: Op, scratchRoot: string, archive: string, config: ContainerConfig__Output, images: ImageLookup, opts: { requestAnnotationsWin?: boolean } = {}): Promise<RestorePlan> {
  const members = await listTar(op, archive).catch((err: unknown) => {
    throw new InvalidArgumentError(`${JSON.stringify(archive)} is not a readable checkpoint archive (tar)`, { cause: err });
  });
  const has = (name: string): boolean => members.some((m) => m.replace(/^\.\//, '').replace(/\/$/, '') === name);
  for (const need of [CONFIG_DUMP, SPEC_DUMP, CHECKPOINT_DIR]) {
    if (!has(need)) throw new InvalidArgumentError(`checkpoint archive ${JSON.stringify(archive)} has no ${need}`);
  }
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(join(scratchRoot, 'restore-'));
  let dump: ConfigDump;
  let spec: CheckpointedSpec;
  try {
    await extractTar(op, archive, tmp, members.filter((m) => [CONFIG_DUMP, SPEC_DUMP].includes(m.replace(/^\.\//, ''))));
    dump = parseConfigDump(await readFile(join(tmp, CONFIG_DUMP), 'utf8'));
    spec = JSON.parse(await readFile(join(tmp, SPEC_DUMP), 'utf8')) as typeof spec;
  } catch (err) {
    throw new InvalidArgumentError(`checkpoint archive ${JSON.stringify(archive)}: unreadable ${CONFIG_DUMP} or ${SPEC_DUMP}`, { cause: err });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const candidates = [dump.rootfsImageRef, dump.rootfsImageName, dump.rootfsImage].filter((c): c is string => c !== undefined && c !== '');
  let image: ImageRecord | undefined;
  for (const c of candidates) {
    try {
      image = images.require(c);
      break;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  if (!image) throw new NotFoundError(`image ${JSON.stringify(dump.rootfsImageName ?? dump.rootfsImage ?? '')} of checkpoint ${JSON.stringify(archive)} is not present; pull it before restoring`);
  const annotations = { ...originalAnnotations(spec) };
  const hash = config.annotations['io.kubernetes.container.hash'];
  if (hash !== undefined) annotations['io.kubernetes.container.hash'] = hash;
  const imageName = dump.rootfsImageName ?? dump.rootfsImage ?? image.id;
  return {
    // RestorePod: the restore-time config's annotations are authoritative (KEP-5823); CreateContainer of an archive: the original's, as CRI-O.
    config: {
      ...config, image: { ...(config.image ?? { annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' }), image: imageName },
      annotations: opts.requestAnnotationsWin ? { ...annotations, ...config.annotations } : { ...config.annotations, ...annotations },
      mounts: [...config.mounts, ...(await carriedMounts(spec, config, archive))],
    },
    image,
    info: { archive, checkpointedId: dump.id, checkpointedAt: dump.checkpointedTime },
  };
}

/**
 * Called by CreateContainer once the new rootfs is mounted: the archive goes into the
 * bundle, the container's file changes onto the rootfs (through the overlay mount, so they
 * land in its upper dir), its deletions are replayed, and its log becomes the new log's start.
 */
export async function unpackForRestore(op: Op, archive: string, bundle: string, rootfs: string, logPath: string): Promise<void> {
  const dir = restoreDirOf(bundle);
  await mkdir(dir, { mode: 0o700 });
  await extractTar(op, archive, dir);
  if (await stat(join(dir, ROOTFS_DIFF_TAR)).then(() => true, () => false)) await extractTar(op, join(dir, ROOTFS_DIFF_TAR), rootfs);
  const deleted = await readFile(join(dir, DELETED_FILES), 'utf8').then((t) => JSON.parse(t) as unknown, () => []);
  for (const path of Array.isArray(deleted) ? deleted : []) {
    if (typeof path !== 'string') continue;
    // Resolved inside the rootfs: a symlink in the diff must not turn a deletion into one on the host.
    const target = await resolveInRoot(rootfs, path, { followLast: false }).catch(() => undefined);
    if (target !== undefined && target !== rootfs) await rm(target, { recursive: true, force: true });
  }
  if (logPath !== '') await copyFile(join(dir, CONTAINER_LOG), logPath).catch(() => undefined);
  await rm(join(dir, ROOTFS_DIFF_TAR), { force: true });
}
