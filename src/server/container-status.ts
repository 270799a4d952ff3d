/** ContainerStatus: every field (cri-api.md §4 items 16–18), verbose info with pid and spec. */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import { containerStatusResponse } from '../container/container-view.ts';
import type { ContainerStatusRequest__Output } from '../generated/cri/runtime/v1/ContainerStatusRequest.ts';
import type { ContainerStatusResponse } from '../generated/cri/runtime/v1/ContainerStatusResponse.ts';
import { checkId } from './validate/requests.ts';

export function containerStatusHandler(containers: ContainerService): UnaryHandler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (req) => {
    checkId('container_id', req.container_id);
    const rec = containers.get(req.container_id);
    return containerStatusResponse(rec, req.verbose ? await containers.verboseInfo(rec) : {});
  };
}
