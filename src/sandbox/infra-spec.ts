/**
 * The OCI config of a pod's infra process (DESIGN "Pod sandboxes"): when the pod shares one
 * PID namespace (pid = POD, cri-api.md item 9) something must be PID 1 of it for the pod's
 * lifetime. Like podman's rootfs-less infra, it is `catatonit -P` (pause mode: sleeps and
 * reaps) bind-mounted read-only into an empty read-only rootfs, joined to the pod's pinned
 * net/ipc/uts namespaces, with no capabilities and no_new_privs. With a configured pause
 * image the rootfs is the image's overlay and the process the image config's, with the
 * same namespaces, capabilities and cgroup. Pure: unit-tested without root.
 */
import { posix } from 'node:path';
import type { InfraImageProcess } from './infra-image.ts';
import { ociIdMappings, type IdMap } from '../network/userns.ts';

/** Where the infra binary appears inside its (otherwise empty) rootfs. */
const INFRA_BINARY_PATH = '/catatonit';
/** `-P`: catatonit's pause mode, it runs no child (catatonit usage). */
export const INFRA_ARGS: readonly string[] = [INFRA_BINARY_PATH, '-P'];
/** Mount points created in the empty rootfs so the runtime never writes into it. */
export const INFRA_ROOTFS_DIRS: readonly string[] = ['proc', 'dev'];
export const INFRA_ROOTFS_FILES: readonly string[] = [INFRA_BINARY_PATH.slice(1)];

const CGROUP_PREFIX = 'crt';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** runc's and containerd's defaults (oci.DefaultSpec), so /proc leaks nothing about the host. */
const MASKED_PATHS = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

interface InfraSpecCommon {
  podId: string;
  /** The pod's pinned namespace files; an absent one means the host's (NODE mode). */
  namespaces: { net?: string; ipc?: string; uts?: string; user?: string };
  /** The pod user namespace's mappings (with `namespaces.user`): runc 1.1 wants them in the spec even to join one. */
  userns?: { uids: readonly IdMap[]; gids: readonly IdMap[] };
  /** The pod's cgroup parent in the driver's syntax ('' = none). */
  cgroupParent: string;
  cgroupDriver: 'cgroupfs' | 'systemd';
}

/** Either catatonit from the host (`hostBinary`, its absolute path) or a pause image's process. */
export type InfraSpecInputs = InfraSpecCommon & ({ hostBinary: string } | { image: InfraImageProcess });

/**
 * cgroupsPath of the infra process, shaped like the containers' (`<parent>/crt-<id>`, or
 * runc's `slice:prefix:name` for systemd), so it sits in the pod's cgroup beside them.
 */
export function infraCgroupsPath(parent: string, podId: string, driver: 'cgroupfs' | 'systemd'): string {
  if (driver === 'systemd') {
    const slice = parent === '' ? 'system.slice' : posix.basename(parent);
    return `${slice}:${CGROUP_PREFIX}:${podId}`;
  }
  return posix.join('/', parent, `${CGROUP_PREFIX}-${podId}`);
}

export function buildInfraSpec(inputs: InfraSpecInputs): Record<string, unknown> {
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'mount' }];
  if (inputs.namespaces.user !== undefined) namespaces.push({ type: 'user', path: inputs.namespaces.user });
  if (inputs.namespaces.net !== undefined) namespaces.push({ type: 'network', path: inputs.namespaces.net });
  if (inputs.namespaces.ipc !== undefined) namespaces.push({ type: 'ipc', path: inputs.namespaces.ipc });
  if (inputs.namespaces.uts !== undefined) namespaces.push({ type: 'uts', path: inputs.namespaces.uts });
  const image = 'image' in inputs ? inputs.image : undefined;
  const mounts: unknown[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
  if ('hostBinary' in inputs) mounts.push({ destination: INFRA_BINARY_PATH, type: 'bind', source: inputs.hostBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  const linuxUserns = inputs.namespaces.user !== undefined && inputs.userns
    ? { uidMappings: ociIdMappings(inputs.userns.uids), gidMappings: ociIdMappings(inputs.userns.gids) }
    : {};
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: image ? { uid: image.uid, gid: image.gid } : { uid: 0, gid: 0 },
      args: image ? [...image.args] : [...INFRA_ARGS],
      env: image ? [...image.env] : [DEFAULT_PATH],
      cwd: image?.cwd ?? '/',
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    mounts,
    linux: {
      namespaces,
      ...linuxUserns,
      cgroupsPath: infraCgroupsPath(inputs.cgroupParent, inputs.podId, inputs.cgroupDriver),
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
