/** RunPodSandbox: validate, one SandboxService call, translate. */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { RunPodSandboxRequest__Output } from '../generated/cri/runtime/v1/RunPodSandboxRequest.ts';
import type { RunPodSandboxResponse } from '../generated/cri/runtime/v1/RunPodSandboxResponse.ts';
import { checkRunPodSandbox } from './validate/requests.ts';

export function runPodSandboxHandler(sandboxes: SandboxService): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (req, op) => {
    checkRunPodSandbox(req);
    return { pod_sandbox_id: await sandboxes.run(op, req.config, req.runtime_handler) };
  };
}
