/**
 * What is stored for a container (state/ RecordStore, DESIGN "State"): metadata.json is
 * the request as the kubelet sent it plus what CreateContainer decided; status.json is
 * what changes over the container's life.
 */
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig.ts';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import { RecordStore, type StoredRecord } from '../state/record-store.ts';
import type { EffectiveUser } from './spec/user.ts';
import type { RestoreInfo } from './checkpoint/restore.ts';

export interface ContainerMetadata {
  /** `<name>_<pod name>_<namespace>_<uid>_<attempt>`: the reserved name. */
  name: string;
  /** sha256 of the request: a retry carries the same one, a clash a different one. */
  requestDigest: string;
  podId: string;
  config: ContainerConfig__Output;
  runtimeHandler: string;
  /** The image as the request named it (ContainerStatus.image). */
  imageRequested: string;
  /** Config digest hex of the resolved image. */
  imageId: string;
  /** Repo digest (`repo@sha256:…`), or `sha256:<id>` when the image has none. */
  imageRef: string;
  /** Chain id of the image's top layer: the container's rootfs sits on it. */
  topLayer: string;
  /** ns since the epoch, decimal (int64 on the wire). */
  createdAt: string;
  /** Absolute CRI log path ('' when the pod and container asked for none). */
  logPath: string;
  /** The log file conmon writes (`logPath`, or one inside the bundle when none was asked for). */
  conmonLogPath: string;
  /** Bundle dir under the run root: config.json, the rootfs mount point, conmon's files. */
  bundle: string;
  /** Effective stop signal name (`SIGTERM`…): the config's, else the image's, else SIGTERM. */
  stopSignal: string;
  /** Image volumes (CRI mounts of an image, KEP-4639) mounted for it: absent when it has none. */
  imageVolumes?: ImageVolumeRecord[];
  /**
   * Bind sources id-mapped into the pod's user namespace: each `source` is attached at
   * `place` (the spec's bind source) for the runtime's create only (idmap-staging.ts).
   */
  idmapBinds?: Array<{ source: string; place: string; usernsPath: string }>;
  /** Set when created from a checkpoint archive: StartContainer restores instead of starting (issue 14). */
  restore?: RestoreInfo;
}

/** One image volume: the container uses that image and its layers while the record exists. */
export interface ImageVolumeRecord {
  containerPath: string;
  /** Config digest hex of the mounted image. */
  imageId: string;
  /** Chain id of its top layer: the volume's overlay sits on it. */
  topLayer: string;
}

/**
 * created / running / exited as in CRI (created with pid 0: not yet under
 * conmon, see container-launch.ts); removing: RemoveContainer answered, its files are
 * being deleted (finished at start-up after a crash); it is the record's tombstone, not a
 * status.json value (containerRecordStore). removing is invisible to clients.
 */
type ContainerPhase = 'created' | 'running' | 'exited' | 'removing';

export interface ContainerStatusRecord {
  phase: ContainerPhase;
  pid: number;
  pidStartTime: string;
  conmonPid: number;
  /** conmon's stat start time ('' in records of earlier versions): with conmonPid, its identity. */
  conmonPidStartTime?: string;
  /** The container's memory cgroup dir, read from /proc/<pid>/cgroup at launch (for OOM). */
  memoryCgroupDir: string;
  /**
   * When the init process began (ns, decimal; '' in records of earlier versions): the
   * runtime's record of the start that StartContainer reports as started_at.
   */
  launchedAt?: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  reason: string;
  message: string;
  /** Effective ids from the spec (ContainerStatus.user); set once the spec is built. */
  user: EffectiveUser | null;
  /** Resources as last applied (create, then UpdateContainerResources). */
  resources: LinuxContainerResources__Output | null;
}

export type ContainerRecord = StoredRecord<ContainerMetadata, ContainerStatusRecord>;

/** The status of a container whose record carries a tombstone (RemoveContainer answered). */
function removingStatus(status: ContainerStatusRecord): ContainerStatusRecord {
  return { ...status, phase: 'removing' };
}

/** The containers' record store: RemoveContainer's mark is a tombstone, one fsync round. */
export function containerRecordStore(dir: string): RecordStore<ContainerMetadata, ContainerStatusRecord> {
  return new RecordStore<ContainerMetadata, ContainerStatusRecord>({ dir, kind: 'container', tombstoned: removingStatus });
}

/** A new container's status: CREATED, not yet launched. */
export function initialStatus(resources: LinuxContainerResources__Output | null): ContainerStatusRecord {
  return {
    phase: 'created', pid: 0, pidStartTime: '', conmonPid: 0, memoryCgroupDir: '',
    startedAt: '0', finishedAt: '0', exitCode: 0, reason: '', message: '', user: null, resources,
  };
}
