/** RemovePodSandbox: idempotent; an unknown id succeeds (api.proto). */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { RemovePodSandboxRequest__Output } from '../generated/cri/runtime/v1/RemovePodSandboxRequest.ts';
import type { RemovePodSandboxResponse } from '../generated/cri/runtime/v1/RemovePodSandboxResponse.ts';
import { checkId } from './validate/requests.ts';

export function removePodSandboxHandler(sandboxes: SandboxService): UnaryHandler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (req, op) => {
    checkId('pod_sandbox_id', req.pod_sandbox_id);
    await sandboxes.remove(op, req.pod_sandbox_id);
    return {};
  };
}
