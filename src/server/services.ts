/**
 * The services the gRPC handlers call. Built once by compose.ts; handlers receive only
 * the service they need.
 */
import type { RuntimeInfoService } from '../runtime/info-service.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { ImageService } from '../image/image-service.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { PodCheckpointService } from '../container/checkpoint/pod-checkpoint.ts';
import type { ContainerStreamingService } from '../container/stream/service.ts';
import type { RecordStats } from '../stats/record-stats.ts';
import type { Broadcaster } from '../events/broadcaster.ts';
import type { ContainerEventResponse } from '../generated/cri/runtime/v1/ContainerEventResponse.ts';

export interface Services {
  runtimeInfo: RuntimeInfoService;
  sandboxes: SandboxService;
  images: ImageService;
  containers: ContainerService;
  /** CheckpointPod, RestorePod. */
  podCheckpoints: PodCheckpointService;
  streaming: ContainerStreamingService;
  stats: RecordStats;
  containerEvents: Broadcaster<ContainerEventResponse>;
}
