/** UpdatePodSandboxResources (in-place pod resize): the pod cgroup's limits, recorded for PodSandboxStatus. */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { UpdatePodSandboxResourcesRequest__Output } from '../generated/cri/runtime/v1/UpdatePodSandboxResourcesRequest.ts';
import type { UpdatePodSandboxResourcesResponse } from '../generated/cri/runtime/v1/UpdatePodSandboxResourcesResponse.ts';
import { InvalidArgumentError } from '../lib/errors.ts';

export function updatePodSandboxResourcesHandler(sandboxes: SandboxService): UnaryHandler<UpdatePodSandboxResourcesRequest__Output, UpdatePodSandboxResourcesResponse> {
  return async (req, op) => {
    if (!req.pod_sandbox_id) throw new InvalidArgumentError('pod_sandbox_id is required');
    await sandboxes.updateResources(op, req.pod_sandbox_id, req.overhead, req.resources);
    return {};
  };
}
