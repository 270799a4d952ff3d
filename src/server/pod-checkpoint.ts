/**
 * CheckpointPod and RestorePod (KEP-5823, alpha): the pod's selected containers
 * checkpointed as one consistency group into the caller's directory, and a new pod
 * restored from one (container/checkpoint/pod-checkpoint.ts).
 */
import type { UnaryHandler } from './adapt.ts';
import type { PodCheckpointService } from '../container/checkpoint/pod-checkpoint.ts';
import type { CheckpointPodRequest__Output } from '../generated/cri/runtime/v1/CheckpointPodRequest.ts';
import type { CheckpointPodResponse } from '../generated/cri/runtime/v1/CheckpointPodResponse.ts';
import type { RestorePodRequest__Output } from '../generated/cri/runtime/v1/RestorePodRequest.ts';
import type { RestorePodResponse } from '../generated/cri/runtime/v1/RestorePodResponse.ts';
import { checkCheckpointPod, checkRestorePod } from './validate/requests.ts';

export function checkpointPodHandler(pods: PodCheckpointService): UnaryHandler<CheckpointPodRequest__Output, CheckpointPodResponse> {
  return async (req, op) => {
    checkCheckpointPod(req);
    await pods.checkpoint(op, req.pod_sandbox_id, req.output_path, req.container_ids);
    return {};
  };
}

export function restorePodHandler(pods: PodCheckpointService): UnaryHandler<RestorePodRequest__Output, RestorePodResponse> {
  return async (req, op) => {
    checkRestorePod(req);
    const r = await pods.restore(op, req.checkpoint_path, req.config!, req.runtime_handler, req.container_configs);
    return { pod_sandbox_id: r.podId, restored_containers: r.containers.map((c) => ({ name: c.name, container_id: c.id })) };
  };
}
