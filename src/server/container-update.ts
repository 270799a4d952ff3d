/** UpdateContainerResources (applied, persisted, shown in status) and ReopenContainerLog. */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { UpdateContainerResourcesRequest__Output } from '../generated/cri/runtime/v1/UpdateContainerResourcesRequest.ts';
import type { UpdateContainerResourcesResponse } from '../generated/cri/runtime/v1/UpdateContainerResourcesResponse.ts';
import type { ReopenContainerLogRequest__Output } from '../generated/cri/runtime/v1/ReopenContainerLogRequest.ts';
import type { ReopenContainerLogResponse } from '../generated/cri/runtime/v1/ReopenContainerLogResponse.ts';
import { checkId, checkUpdateResources } from './validate/requests.ts';

export function updateContainerResourcesHandler(containers: ContainerService): UnaryHandler<UpdateContainerResourcesRequest__Output, UpdateContainerResourcesResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    checkUpdateResources(req);
    await containers.updateResources(op, req.container_id, req.linux);
    return {};
  };
}

export function reopenContainerLogHandler(containers: ContainerService): UnaryHandler<ReopenContainerLogRequest__Output, ReopenContainerLogResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    await containers.reopenLog(op, req.container_id);
    return {};
  };
}
