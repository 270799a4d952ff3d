/**
 * config.json mounts: the runtime's defaults, the pod's shared files, and the CRI mounts with
 * their propagation and (recursive) read-only flags (cri-api.md §4 item 19; containerd
 * internal/cri/opts WithMounts). Host paths are used verbatim: the caller has resolved
 * symlinks and checked existence.
 */
import { posix } from 'node:path';
import type { Mount__Output } from '../../generated/cri/runtime/v1/Mount.ts';
import { MountPropagation } from '../../generated/cri/runtime/v1/MountPropagation.ts';
import { FailedPreconditionError, InvalidArgumentError, UnimplementedError } from '../../lib/errors.ts';
import type { MountPropagationMode, PodContext } from './inputs.ts';
import type { OciMount } from './oci-spec.ts';
import type { IDMapping__Output } from '../../generated/cri/runtime/v1/IDMapping.ts';
import type { IdMap } from '../../network/userns.ts';

/** A bind whose source is staged as an id-mapped mount at `place` just before the runtime creates the container. */
export interface IdmapBind {
  source: string;
  place: string;
}

/**
 * In a pod with a user namespace, host binds get id-mapped sources (KEP-127 "Handling of
 * volumes"): a file owned by host id 0 appears owned by the pod's 0, and what the pod's
 * root writes is owned by host 0 on disk, so volumes need no chown and stay shared with
 * pods of other mappings. The spec's source becomes a place under `stagingDir`. Image
 * volumes (an overlay) stay plain binds. Propagation other than private is refused: the
 * id-mapped copy is a new, private mount tree.
 */
export function idmapBinds(binds: readonly BindRequest[], stagingDir: string): { binds: BindRequest[]; staged: IdmapBind[] } {
  const staged: IdmapBind[] = [];
  const out = binds.map((b, i) => {
    if (b.imageVolume) return b;
    if (b.propagation !== MountPropagation.PROPAGATION_PRIVATE) {
      throw new UnimplementedError(`mount ${JSON.stringify(b.containerPath)}: propagation ${PROPAGATION_NAMES[b.propagation] ?? b.propagation} in a pod with a user namespace is not supported (its id-mapped mount is private)`);
    }
    const place = posix.join(stagingDir, `v${i}`);
    staged.push({ source: b.hostPath, place });
    return { ...b, hostPath: place };
  });
  return { binds: out, staged };
}

/** cri-api/pkg/errors ErrRROUnsupported: the kubelet recognises this text in the message. */
export const RRO_UNSUPPORTED = 'RROUnsupported';

export type RootfsPropagation = 'rprivate' | 'rslave' | 'rshared';

/** containerd pkg/oci defaultMounts, minus /run (WithoutRunMount), plus /sys/fs/cgroup. */
function defaultMounts(privileged: boolean): OciMount[] {
  const sysMode = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // Privileged containers get writable sysfs and cgroupfs (containerd WithPrivileged).
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sysMode] },
  ];
}

/** A bind mount request after validation: CRI mounts and the pod's own files alike. */
export interface BindRequest {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
  propagation: number;
  recursiveReadOnly: boolean;
  /** An image volume's overlay (KEP-4639), which cannot be id-mapped. */
  imageVolume?: boolean;
}

/**
 * The pod's /etc/hosts, /etc/resolv.conf, /etc/hostname (read-only when the rootfs is,
 * as containerd does) and /dev/shm (always writable), skipped where a CRI mount claims
 * the same destination.
 */
export function podMounts(pod: PodContext, readonlyRootfs: boolean): BindRequest[] {
  const out: BindRequest[] = [];
  const add = (hostPath: string | undefined, containerPath: string, readonly: boolean): void => {
    if (hostPath === undefined) return;
    out.push({ hostPath, containerPath, readonly, propagation: MountPropagation.PROPAGATION_PRIVATE, recursiveReadOnly: false });
  };
  add(pod.hostnamePath, '/etc/hostname', readonlyRootfs);
  add(pod.hostsPath, '/etc/hosts', readonlyRootfs);
  add(pod.resolvConfPath, '/etc/resolv.conf', readonlyRootfs);
  add(pod.shmPath, '/dev/shm', false);
  return out;
}

/** A CRI mount of an image (KEP-4639) rather than of a host path. */
export function isImageMount(m: Mount__Output): boolean {
  return m.image !== null && m.image.image !== '';
}

/**
 * An image volume's image_sub_path, checked before anything is mounted: relative and
 * without "..", as the kubelet's own validation of subPath (a ".." is clamped at the
 * image's root by resolveInRoot, so it could only name something other than what was
 * asked for). '' is the whole image.
 */
export function imageSubPath(m: Mount__Output): string {
  const sub = m.image_sub_path;
  if (sub === '') return '';
  if (sub.startsWith('/') || sub.includes('\0') || sub.split('/').includes('..')) {
    throw new InvalidArgumentError(`image volume ${JSON.stringify(m.container_path)}: image_sub_path ${JSON.stringify(sub)} must be a relative path inside the image, without ".."`);
  }
  return sub;
}

function sameMaps(a: readonly IDMapping__Output[], b: readonly IdMap[]): boolean {
  return a.length === b.length && a.every((m, i) => m.container_id === b[i]!.containerId && m.host_id === b[i]!.hostId && m.length === b[i]!.length);
}

/**
 * Validates CRI mounts. In a pod with a user namespace every host bind is id-mapped with
 * the pod's mappings (idmapBinds below), so a mount's own uid/gid mappings are accepted
 * when they are the pod's; other mappings would need a user namespace per mount, which is
 * not built. An image volume's host path is
 * the one CreateContainer mounted it at (image-volumes.ts), found by container path in
 * `imageVolumes`; it is always a read-only, private bind (KEP-4639: image volumes are
 * read-only, and an overlay of lower dirs has no submounts to propagate).
 */
export function criMounts(
  mounts: readonly Mount__Output[],
  imageVolumes: ReadonlyMap<string, string> = new Map(),
  podUserns?: { uids: readonly IdMap[]; gids: readonly IdMap[] },
): BindRequest[] {
  return mounts.map((m) => {
    if (!m.container_path.startsWith('/')) throw new InvalidArgumentError(`mount container_path ${JSON.stringify(m.container_path)} is not absolute`);
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0) {
      if (!podUserns) throw new UnimplementedError(`id-mapped mounts outside a pod user namespace are not supported (${JSON.stringify(m.container_path)})`);
      if (!sameMaps(m.uidMappings, podUserns.uids) || !sameMaps(m.gidMappings, podUserns.gids)) {
        throw new UnimplementedError(`id-mapped mount ${JSON.stringify(m.container_path)}: only the pod's own uid/gid mappings are supported`);
      }
    }
    if (isImageMount(m)) {
      const hostPath = imageVolumes.get(m.container_path);
      if (hostPath === undefined) throw new FailedPreconditionError(`image volume ${JSON.stringify(m.container_path)} (image ${JSON.stringify(m.image!.image)}) was not mounted`);
      return { hostPath, containerPath: m.container_path, readonly: true, propagation: MountPropagation.PROPAGATION_PRIVATE, recursiveReadOnly: false, imageVolume: true };
    }
    if (!m.host_path.startsWith('/')) throw new InvalidArgumentError(`mount host_path ${JSON.stringify(m.host_path)} for ${JSON.stringify(m.container_path)} is not absolute`);
    return {
      hostPath: m.host_path,
      containerPath: m.container_path,
      readonly: m.readonly,
      propagation: m.propagation,
      recursiveReadOnly: m.recursive_read_only,
    };
  });
}

export interface BindMountHost {
  rroSupported: boolean;
  hostMountPropagation: (path: string) => MountPropagationMode;
}

const PROPAGATION_NAMES: Record<number, string> = {
  [MountPropagation.PROPAGATION_PRIVATE]: 'PROPAGATION_PRIVATE',
  [MountPropagation.PROPAGATION_HOST_TO_CONTAINER]: 'PROPAGATION_HOST_TO_CONTAINER',
  [MountPropagation.PROPAGATION_BIDIRECTIONAL]: 'PROPAGATION_BIDIRECTIONAL',
};

/** One bind mount's options, checking the host side of propagation and RRO preconditions. */
export function bindOptions(req: BindRequest, host: BindMountHost): { options: string[]; rootfs: RootfsPropagation } {
  const options = ['rbind'];
  let rootfs: RootfsPropagation = 'rprivate';
  switch (req.propagation) {
    case MountPropagation.PROPAGATION_PRIVATE:
      options.push('rprivate');
      break;
    case MountPropagation.PROPAGATION_HOST_TO_CONTAINER: {
      const mode = host.hostMountPropagation(req.hostPath);
      if (mode === 'private') {
        throw new FailedPreconditionError(`mount ${JSON.stringify(req.hostPath)} asks for HOST_TO_CONTAINER propagation, but it is on a private host mount; it must be shared or slave (e.g. mount --make-rshared on its mount point)`);
      }
      options.push('rslave');
      rootfs = 'rslave';
      break;
    }
    case MountPropagation.PROPAGATION_BIDIRECTIONAL: {
      const mode = host.hostMountPropagation(req.hostPath);
      if (mode !== 'shared') {
        throw new FailedPreconditionError(`mount ${JSON.stringify(req.hostPath)} asks for BIDIRECTIONAL propagation, but it is on a ${mode} host mount; it must be shared (e.g. mount --make-rshared on its mount point)`);
      }
      options.push('rshared');
      rootfs = 'rshared';
      break;
    }
    default:
      throw new InvalidArgumentError(`mount ${JSON.stringify(req.containerPath)} has unknown propagation ${req.propagation}`);
  }
  if (req.recursiveReadOnly) {
    if (!req.readonly) throw new InvalidArgumentError(`recursive read-only mount ${JSON.stringify(req.containerPath)} conflicts with a read-write mount (readonly must be true)`);
    if (req.propagation !== MountPropagation.PROPAGATION_PRIVATE) {
      throw new InvalidArgumentError(`recursive read-only mount ${JSON.stringify(req.containerPath)} needs PROPAGATION_PRIVATE, got ${PROPAGATION_NAMES[req.propagation] ?? req.propagation}`);
    }
    if (!host.rroSupported) {
      throw new FailedPreconditionError(`${RRO_UNSUPPORTED}: the kernel or OCI runtime does not support recursive read-only mounts (hostPath=${JSON.stringify(req.hostPath)})`);
    }
    options.push('rro');
  } else {
    options.push(req.readonly ? 'ro' : 'rw');
  }
  return { options, rootfs };
}

/** Go's filepath.Clean for absolute paths: normalised, no trailing slash ("/a/b/" → "/a/b"). */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function depth(destination: string): number {
  return cleanPath(destination).split('/').filter((p) => p !== '').length;
}

const STRONGER: Record<RootfsPropagation, number> = { rprivate: 0, rslave: 1, rshared: 2 };

/**
 * Final mount list: defaults not overridden by a bind (and none under /dev if /dev itself is
 * bound), then the binds; CRI mounts win over the pod's files at the same destination.
 * Sorted stably by path depth so a parent is mounted before its children (moby/containerd
 * orderedMounts). rootfsPropagation is the strongest any bind needs.
 */
export function buildMounts(
  criBinds: readonly BindRequest[],
  podBinds: readonly BindRequest[],
  privileged: boolean,
  host: BindMountHost,
): { mounts: OciMount[]; rootfsPropagation: RootfsPropagation } {
  const criDests = new Set(criBinds.map((b) => cleanPath(b.containerPath)));
  const binds = [...criBinds, ...podBinds.filter((b) => !criDests.has(cleanPath(b.containerPath)))];
  const bindDests = new Set(binds.map((b) => cleanPath(b.containerPath)));
  const defaults = defaultMounts(privileged).filter((m) => {
    const dest = cleanPath(m.destination);
    if (bindDests.has(dest)) return false;
    return !(bindDests.has('/dev') && dest.startsWith('/dev/'));
  });
  let rootfsPropagation: RootfsPropagation = 'rprivate';
  const bindMounts: OciMount[] = binds.map((b) => {
    const { options, rootfs } = bindOptions(b, host);
    if (STRONGER[rootfs] > STRONGER[rootfsPropagation]) rootfsPropagation = rootfs;
    return { destination: b.containerPath, type: 'bind', source: b.hostPath, options };
  });
  const all = [...defaults, ...bindMounts];
  const mounts = all
    .map((m, i) => ({ m, i, d: depth(m.destination) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .map((x) => x.m);
  return { mounts, rootfsPropagation };
}

/**
 * The image's declared Volumes that no mount covers. CRI-O's default (`image_volumes =
 * mkdir`) is to create them as plain directories in the rootfs; the caller does the mkdir.
 */
export function uncoveredImageVolumes(volumes: Record<string, unknown> | null | undefined, mounts: readonly OciMount[]): string[] {
  const dests = new Set(mounts.map((m) => cleanPath(m.destination)));
  return Object.keys(volumes ?? {})
    .map((v) => cleanPath(v))
    .filter((v) => v.startsWith('/') && !dests.has(v))
    .sort();
}
