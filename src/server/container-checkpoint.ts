/**
 * CheckpointContainer (issue 14): the kubelet's checkpoint API (`POST /checkpoint/{ns}/{pod}/{container}`)
 * names the archive to write and a timeout in seconds; 0 means the runtime's default.
 */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { CheckpointContainerRequest__Output } from '../generated/cri/runtime/v1/CheckpointContainerRequest.ts';
import type { CheckpointContainerResponse } from '../generated/cri/runtime/v1/CheckpointContainerResponse.ts';
import { DEFAULT_CHECKPOINT_TIMEOUT_MS } from '../container/checkpoint/checkpoint-container.ts';
import { checkCheckpointContainer } from './validate/requests.ts';

export function checkpointContainerHandler(containers: ContainerService): UnaryHandler<CheckpointContainerRequest__Output, CheckpointContainerResponse> {
  return async (req, op) => {
    checkCheckpointContainer(req);
    const timeout = Number(req.timeout);
    await containers.checkpoint(op, req.container_id, req.location, timeout === 0 ? DEFAULT_CHECKPOINT_TIMEOUT_MS : timeout * 1000);
    return {};
  };
}
