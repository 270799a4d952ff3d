/** CreateContainer: validate, one ContainerService call, translate. */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { CreateContainerRequest__Output } from '../generated/cri/runtime/v1/CreateContainerRequest.ts';
import type { CreateContainerResponse } from '../generated/cri/runtime/v1/CreateContainerResponse.ts';
import { checkCreateContainer } from './validate/requests.ts';

export function createContainerHandler(containers: ContainerService): UnaryHandler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (req, op) => {
    checkCreateContainer(req);
    return { container_id: await containers.create(op, req.pod_sandbox_id, req.config) };
  };
}
