/** StartContainer, StopContainer (idempotent; timeout 0 = kill at once) and RemoveContainer (idempotent). */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { StartContainerRequest__Output } from '../generated/cri/runtime/v1/StartContainerRequest.ts';
import type { StartContainerResponse } from '../generated/cri/runtime/v1/StartContainerResponse.ts';
import type { StopContainerRequest__Output } from '../generated/cri/runtime/v1/StopContainerRequest.ts';
import type { StopContainerResponse } from '../generated/cri/runtime/v1/StopContainerResponse.ts';
import type { RemoveContainerRequest__Output } from '../generated/cri/runtime/v1/RemoveContainerRequest.ts';
import type { RemoveContainerResponse } from '../generated/cri/runtime/v1/RemoveContainerResponse.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import { checkId } from './validate/requests.ts';

export function startContainerHandler(containers: ContainerService): UnaryHandler<StartContainerRequest__Output, StartContainerResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    await containers.start(op, req.container_id);
    return {};
  };
}

export function stopContainerHandler(containers: ContainerService): UnaryHandler<StopContainerRequest__Output, StopContainerResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`timeout ${req.timeout} must be a non-negative number of seconds`);
    await containers.stop(op, req.container_id, timeout);
    return {};
  };
}

export function removeContainerHandler(containers: ContainerService): UnaryHandler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    await containers.remove(op, req.container_id);
    return {};
  };
}
