/**
 * The narrow interfaces the container service is built on (DESIGN convention 5): the
 * composition root passes the real pod, image, storage, runtime and host objects; unit
 * tests pass fakes.
 */
import type { Logger } from 'pino';
import type { Schedule } from '../lib/periodic.ts';
import type { Op } from '../lib/op.ts';
import type { OciRuntime } from '../oci/runtime.ts';
import type { RecordStore } from '../state/record-store.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import type { ImageRecord } from '../storage/store.ts';
import type { ContainerMetadata, ContainerRecord, ContainerStatusRecord } from './container-record.ts';
import type { RootfsMounter } from '../storage/overlay-rootfs.ts';
import type { OomDetector } from './oom.ts';
import type { HostFacts, RuntimeDefaults } from './spec/inputs.ts';
import type { CdiResolver } from './cdi/cdi-registry.ts';

interface PodLookup {
  /** The pod by id or unique prefix. @throws NotFoundError */
  get(idOrPrefix: string): SandboxRecord;
}

export interface ImageLookup {
  /** @throws NotFoundError naming `spec` */
  require(spec: string): ImageRecord;
  /** The image config JSON as stored. */
  config(id: string): Promise<Record<string, unknown>>;
}

export interface LayerLookup {
  /** Overlay lower dirs of `topChainId`, top first. */
  lowerDirs(topChainId: string): string[];
}

interface SpecEnvironment {
  hostFacts(privileged: boolean): Promise<HostFacts>;
  defaults(): Promise<RuntimeDefaults>;
}

interface ExitFiles {
  /** Deletes the container's exit file once its exit is recorded. */
  remove(id: string): Promise<void>;
}

/** The lifecycle points GetContainerEvents reports (cri-api.md item 30). */
export type ContainerLifecycleEvent = 'created' | 'started' | 'stopped' | 'deleted';

/** Told about lifecycle points and OOM kills (events, metrics); must not throw or block. */
export interface ContainerObserver {
  lifecycle(event: ContainerLifecycleEvent, rec: ContainerRecord): void;
  oomKilled(rec: ContainerRecord): void;
  /** A checkpoint or restore finished (metrics), with how long it took. */
  checkpointOp?(kind: 'checkpoint' | 'restore', outcome: 'success' | 'failure', seconds: number): void;
}

interface Clock {
  nowNs(): bigint;
}

export { realSchedule, type Schedule } from '../lib/periodic.ts';

export interface ContainerServiceDeps {
  /** Bundles go to `<runRoot>/containers/<id>`. */
  runRoot: string;
  log: Logger;
  runtimes: ReadonlyMap<string, OciRuntime>;
  pods: PodLookup;
  images: ImageLookup;
  layers: LayerLookup;
  rootfs: RootfsMounter;
  env: SpecEnvironment;
  records: RecordStore<ContainerMetadata, ContainerStatusRecord>;
  exitFiles: ExitFiles;
  oom: OomDetector;
  clock: Clock;
  observer?: ContainerObserver;
  /** CDI device names → edits; absent, a container asking for a CDI device is refused. */
  cdi?: CdiResolver;
  /** Own timeout of an unwind (DESIGN convention 4). */
  cleanupTimeoutMs?: number;
  /** Own timeout of a CreateContainer, whoever waits for it (config runtime.create_timeout_seconds). */
  createTimeoutMs?: number;
  /** How long Stop/Remove wait for an exit after SIGKILL before asking the runtime. */
  killWaitMs?: number;
  /** Removed containers' files go once no removal came for this long (default 200 ms)… */
  removalQuietMs?: number;
  /** …or this long after the oldest pending removal (default 2 s); see removal-queue.ts. */
  removalMaxDelayMs?: number;
  /** A failed removal is retried after this (default 1 s), doubling up to removalRetryMaxMs (default 5 min). */
  removalRetryMs?: number;
  removalRetryMaxMs?: number;
  /** First wait before retrying an unmount that answered EBUSY (default 100 ms, growing). */
  busyRetryMs?: number;
  /** SIGKILLs what is left in a container's cgroup dir (cgroup-kill.ts); default: cgroup.procs. */
  killCgroup?: (cgroupDir: string) => Promise<number>;
  /** Whether the process `pid` that started at `startTime` still runs (not a zombie); default: /proc. */
  processAlive?: (pid: number, startTime: string) => Promise<boolean>;
  /** Timers of retries and the reconcile loop; default realSchedule. */
  schedule?: Schedule;
  /** The criu binary for checkpoint and restore. @throws FailedPreconditionError naming criu when the host has none */
  criuPath?: (op: Op) => Promise<string>;
}
