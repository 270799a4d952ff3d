/**
 * Everything the pure spec builder needs, gathered by the caller (the container service).
 * The builder does no I/O: files it depends on (the image's /etc/passwd and /etc/group, a
 * Localhost seccomp profile) are read by the caller and passed in as text or parsed JSON,
 * and facts about the host (cgroup version, mount propagation, device numbers) are looked
 * up by the caller too. That keeps every rule here unit-testable without root.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';
import type { ResolvedCdi } from './cdi.ts';
import type { IdMap } from '../../network/userns.ts';

/** The `config` object of an OCI image config (image-spec `config.json`), as stored. */
export interface ImageConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown> | null;
  Labels?: Record<string, string> | null;
}

/** What the pod sandbox prepared and its containers share (DESIGN "Pod sandboxes"). */
export interface PodContext {
  sandboxId: string;
  /** Pinned namespace files; absent when the pod shares the host's. */
  netnsPath?: string;
  ipcnsPath?: string;
  utsnsPath?: string;
  /** The pod's pinned user namespace and its mappings (userns_options mode POD); absent: the host's. */
  userns?: { path: string; uids: readonly IdMap[]; gids: readonly IdMap[] };
  /** PID of the infra process (catatonit or pause), required for pid = POD. */
  infraPid?: number;
  /** PID of the target container's init process, required for pid = TARGET. */
  targetPid?: number;
  /** Pod-level files, bind-mounted unless the CRI config mounts the same path. */
  hostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
  /** The pod's /dev/shm (a tmpfs the pod mounted), or `/dev/shm` for host IPC. */
  shmPath?: string;
  /** The pod's hostname, exported as $HOSTNAME. */
  hostname: string;
  /** The pod's cgroup parent, already in the driver's syntax (`/kubepods/...` or `...slice`). */
  cgroupParent: string;
}

export type MountPropagationMode = 'shared' | 'slave' | 'private';

/** A character or block device on the host, as the caller stat()ed it. */
export interface HostDevice {
  /** Path on the host (for privileged containers also the path inside the container). */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits of the node (st_mode & 0o7777). */
  fileMode: number;
  uid: number;
  gid: number;
}

export interface HostFacts {
  cgroupVersion: 1 | 2;
  cgroupDriver: 'cgroupfs' | 'systemd';
  /**
   * The lowest oom_score_adj the daemon may give a container: its own value when it lacks
   * CAP_SYS_RESOURCE (containerd `restrict_oom_score_adj`). Requests below it are raised.
   */
  minOomScoreAdj: number;
  /** Kernel (mount_setattr, 5.12+) and OCI runtime support the `rro` mount option. */
  rroSupported: boolean;
  /** The kernel enforces AppArmor and securityfs is mounted (host/apparmor.ts detectAppArmor). */
  apparmorEnabled: boolean;
  /** Names of the loaded AppArmor profiles, read per CreateContainer where AppArmor is enabled. */
  apparmorProfiles?: ReadonlySet<string>;
  /** cgroup controllers the runtime can use; absent means all (resources.ts ResourceHost). */
  cgroupControllers?: readonly string[];
  /** memory.memsw (v1) or memory.swap.max (v2) exists; otherwise swap limits are skipped. */
  swapControllerAvailable: boolean;
  /** Propagation of the mount that holds `path` on the host (from /proc/self/mountinfo). */
  hostMountPropagation: (path: string) => MountPropagationMode;
  /** Devices a privileged container gets (the host's /dev, minus pts, shm, mqueue, console). */
  hostDevices: readonly HostDevice[];
  /** Node's `process.arch`; picks the seccomp architectures. */
  arch: string;
  /** The daemon's own bounding set (CAP_ names): what privileged and `add: [ALL]` grant; absent = every capability. */
  boundingCapabilities?: readonly string[];
}

export interface RuntimeDefaults {
  /** Capability names without or with the CAP_ prefix. */
  defaultCapabilities: readonly string[];
  /** containers-common seccomp.json (parsed), or a profile already in OCI form. */
  seccompDefaultProfile: unknown;
  /**
   * AppArmor profile for RuntimeDefault and an unset profile (`runtime.apparmor_profile`);
   * undefined or "unconfined" mean none.
   */
  apparmorDefaultProfile?: string;
}

export interface SpecInputs {
  containerId: string;
  config: ContainerConfig__Output;
  sandboxConfig: PodSandboxConfig__Output;
  /** Image name as the container was created with it (annotation only). */
  imageName: string;
  image: ImageConfig;
  /** Contents of the image's /etc/passwd and /etc/group; undefined when the file is absent. */
  etcPasswd: string | undefined;
  etcGroup: string | undefined;
  pod: PodContext;
  host: HostFacts;
  defaults: RuntimeDefaults;
  /** Absolute rootfs path (the overlay mount point). */
  rootfsPath: string;
  /**
   * Host paths of CRI mounts and devices are used verbatim: the caller has already resolved
   * symlinks (realpath) and checked existence, as CRI requires (cri-api.md §4 item 19).
   * Device nodes are looked up here by their resolved host path.
   */
  devicesByHostPath: ReadonlyMap<string, HostDevice>;
  /** Parsed Localhost seccomp profile, read by the caller from `seccompLocalhostPath()`. */
  localhostSeccompProfile?: unknown;
  /** The CDI devices the config asks for (cdi.ts requestedCdiDevices), resolved by the caller. */
  cdi?: ResolvedCdi;
  /**
   * Where this container's id-mapped bind mounts are staged (idmap-staging.ts), used when
   * the pod has a user namespace: the spec's bind sources are places under it.
   */
  idmapStagingDir?: string;
  /** Host paths of the image volumes (CRI mounts with `image`) by container path, mounted by the caller. */
  imageVolumes?: ReadonlyMap<string, string>;
}

/** Containerd's 14 default capabilities (pkg/oci/spec.go defaultUnixCaps). */
export const CONTAINERD_DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
