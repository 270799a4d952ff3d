/** PodSandboxStatus: state, IPs, namespace options, verbose info. */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import { sandboxStatusResponse } from '../sandbox/sandbox-view.ts';
import type { PodSandboxStatusRequest__Output } from '../generated/cri/runtime/v1/PodSandboxStatusRequest.ts';
import type { PodSandboxStatusResponse } from '../generated/cri/runtime/v1/PodSandboxStatusResponse.ts';
import { checkId } from './validate/requests.ts';

export function podSandboxStatusHandler(sandboxes: SandboxService, nowNs: () => bigint): UnaryHandler<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> {
  return async (req) => {
    checkId('pod_sandbox_id', req.pod_sandbox_id);
    return sandboxStatusResponse(sandboxes.get(req.pod_sandbox_id), req.verbose, nowNs());
  };
}
