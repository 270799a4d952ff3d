/** UpdatePodSandboxResources (in-place pod resize): the pod cgroup's limits, recorded for PodSandboxStatus. */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { UpdatePodSandboxResourcesRequest__Output } from '../generated/cri/runtime/v1/UpdatePodSandboxResourcesRequest.ts';
import type { UpdatePodSandboxResourcesResponse } from '../generated/cri/runtime/v1/UpdatePodSandboxResourcesResponse.ts';
import { checkUpdatePodResources } from './validate/requests.ts';

export function updatePodSandboxResourcesHandler(sandboxes: SandboxService): UnaryHandler<UpdatePodSandboxResourcesRequest__Output, UpdatePodSandboxResourcesResponse> {
  return async (req, op) => {
    checkUpdatePodResources(req);
    await sandboxes.updateResources(op, req.pod_sandbox_id, req.overhead, req.resources);
    return {};
  };
}
