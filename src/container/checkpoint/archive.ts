/**
 * The checkpoint archive (issue 14), laid out as CRI-O writes it so that checkpointctl and
 * CRI-O read ours and we read theirs (checkpointctl lib/metadata.go): an uncompressed tar
 * holding `checkpoint/` (CRIU's images), `config.dump`, `spec.dump`, `stats-dump`,
 * `dump.log`, `rootfs-diff.tar` (files the container added or changed), `deleted.files`
 * (files it deleted, a JSON list) and the container log under CRI-O's log annotation name.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export const CHECKPOINT_DIR = 'checkpoint';
export const CONFIG_DUMP = 'config.dump';
export const SPEC_DUMP = 'spec.dump';
export const STATS_DUMP = 'stats-dump';
export const ROOTFS_DIFF_TAR = 'rootfs-diff.tar';
export const DELETED_FILES = 'deleted.files';
/** CRI-O stores the log under its LogPath annotation's name, and restores it from there. */
export const CONTAINER_LOG = 'io.kubernetes.cri-o.LogPath';
/** CRI-O's restore reads the original CRI annotations and labels from these spec.dump annotations. */
export const CRIO_ANNOTATIONS = 'io.kubernetes.cri-o.Annotations';
export const CRIO_LABELS = 'io.kubernetes.cri-o.Labels';
/** Marks an image built from an archive (CRI-O internal/annotations/checkpoint.go). */
export const CHECKPOINT_NAME_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';

/** checkpointctl's ContainerConfig ("a reduced copy of what Podman uses"): config.dump. */
export interface ConfigDump {
  id: string;
  name: string;
  rootfsImage?: string;
  rootfsImageRef?: string;
  rootfsImageName?: string;
  runtime?: string;
  /** RFC 3339, as Go's time.Time marshals. */
  createdTime: string;
  checkpointedTime: string;
  restoredTime: string;
  restored: boolean;
}

/** Go's zero time.Time in JSON: what "never" looks like in config.dump. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export function nsToRfc3339(ns: string | bigint): string {
  const n = BigInt(ns);
  return n <= 0n ? GO_ZERO_TIME : new Date(Number(n / 1_000_000n)).toISOString();
}

export interface ConfigDumpInput {
  id: string;
  name: string;
  imageRequested: string;
  imageId: string;
  imageName: string;
  runtimeHandler: string;
  createdAtNs: string;
  checkpointedAt: Date;
  restored: boolean;
}

export function buildConfigDump(i: ConfigDumpInput): ConfigDump {
  return {
    id: i.id, name: i.name, rootfsImage: i.imageRequested, rootfsImageRef: i.imageId, rootfsImageName: i.imageName, runtime: i.runtimeHandler,
    createdTime: nsToRfc3339(i.createdAtNs), checkpointedTime: i.checkpointedAt.toISOString(), restoredTime: GO_ZERO_TIME, restored: i.restored,
  };
}

/** Parses config.dump, refusing one without what a restore needs. */
export function parseConfigDump(text: string): ConfigDump {
  const parsed = JSON.parse(text) as Partial<ConfigDump>;
  if (typeof parsed.id !== 'string' || typeof parsed.name !== 'string') throw new Error('config.dump has no container id and name');
  return {
    id: parsed.id, name: parsed.name, createdTime: parsed.createdTime ?? GO_ZERO_TIME, checkpointedTime: parsed.checkpointedTime ?? GO_ZERO_TIME,
    restoredTime: parsed.restoredTime ?? GO_ZERO_TIME, restored: parsed.restored ?? false,
    ...(parsed.rootfsImage ? { rootfsImage: parsed.rootfsImage } : {}),
    ...(parsed.rootfsImageRef ? { rootfsImageRef: parsed.rootfsImageRef } : {}),
    ...(parsed.rootfsImageName ? { rootfsImageName: parsed.rootfsImageName } : {}),
    ...(parsed.runtime ? { runtime: parsed.runtime } : {}),
  };
}

/**
 * spec.dump: the container's config.json, with the annotations CRI-O's restore reads the
 * original CRI annotations and labels from (it fails on an archive without them).
 */
export function buildSpecDump(spec: Record<string, unknown>, criAnnotations: Record<string, string>, criLabels: Record<string, string>): Record<string, unknown> {
  const annotations = { ...(spec['annotations'] as Record<string, string> | undefined), [CRIO_ANNOTATIONS]: JSON.stringify(criAnnotations), [CRIO_LABELS]: JSON.stringify(criLabels) };
  return { ...spec, annotations };
}

/** The CRI annotations recorded in spec.dump; {} when absent or unreadable. */
export function originalAnnotations(specDump: { annotations?: Record<string, string> }): Record<string, string> {
  try {
    const parsed = JSON.parse(specDump.annotations?.[CRIO_ANNOTATIONS] ?? '{}') as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/**
 * Paths that are never part of the diff (CRI-O internal/lib/checkpoint.go containerMounts,
 * from libpod/diff.go): the runtime's own mount points, recreated by every start.
 */
const RUNTIME_MOUNTS: ReadonlySet<string> = new Set(['/dev', '/dev/shm', '/proc', '/run', '/run/.containerenv', '/run/secrets', '/sys']);

export interface RootfsDiff {
  /** Paths relative to the upper dir, parents before children, for `tar --no-recursion`. */
  files: string[];
  /** Absolute in-container paths the container deleted (overlay whiteouts). */
  deleted: string[];
}

/** An overlay whiteout: a character device 0:0 in the upper dir (overlayfs.rst "whiteouts"). */
function isWhiteout(st: { isCharacterDevice(): boolean; rdev: number }): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * What the container changed, read from its overlay upper dir (rootfs.ts): every entry
 * is a file it added or changed, every whiteout a file it deleted. The mount points of its
 * bind mounts and of the runtime (`skip`, in-container absolute paths) are left out, as
 * CRI-O skips them: the restore's own mounts bring them back.
 */
export async function rootfsDiff(upperDir: string, skip: ReadonlySet<string>): Promise<RootfsDiff> {
  const out: RootfsDiff = { files: [], deleted: [] };
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(upperDir, rel))).sort();
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const inContainer = `/${relPath}`;
      const st = await lstat(join(upperDir, relPath));
      if (isWhiteout(st)) {
        out.deleted.push(inContainer);
        continue;
      }
      const skipped = skip.has(inContainer) || RUNTIME_MOUNTS.has(inContainer);
      if (!skipped) out.files.push(relPath);
      // A skipped mount point's dir is empty in the upper dir unless the container wrote beneath it before the mount.
      if (st.isDirectory() && !skipped) await walk(relPath);
    }
  };
  await walk('');
  return out;
}

/** The archive's top-level entries, in the order CRI-O lists them; those absent are left out by the caller. */
export const ARCHIVE_ENTRIES: readonly string[] = [STATS_DUMP, 'dump.log', CHECKPOINT_DIR, CONFIG_DUMP, SPEC_DUMP, ROOTFS_DIFF_TAR, DELETED_FILES, CONTAINER_LOG];

/** An archive path names a checkpoint when it is a local file (CRI-O checkIfCheckpointOCIImage stats it). */
export function looksLikeArchivePath(image: string): boolean {
  return image.startsWith('/') && !image.includes('\0');
}
