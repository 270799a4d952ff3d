/** StopPodSandbox: idempotent; an unknown id succeeds (api.proto). */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { StopPodSandboxRequest__Output } from '../generated/cri/runtime/v1/StopPodSandboxRequest.ts';
import type { StopPodSandboxResponse } from '../generated/cri/runtime/v1/StopPodSandboxResponse.ts';
import { checkId } from './validate/requests.ts';

export function stopPodSandboxHandler(sandboxes: SandboxService): UnaryHandler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req, op) => {
    checkId('pod_sandbox_id', req.pod_sandbox_id);
    await sandboxes.stop(op, req.pod_sandbox_id);
    return {};
  };
}
