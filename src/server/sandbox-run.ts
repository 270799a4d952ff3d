/** RunPodSandbox: validate, one SandboxService call, translate. */
import type { UnaryHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import type { RunPodSandboxRequest__Output } from '../generated/cri/runtime/v1/RunPodSandboxRequest.ts';
import type { RunPodSandboxResponse } from '../generated/cri/runtime/v1/RunPodSandboxResponse.ts';
import { InvalidArgumentError } from '../lib/errors.ts';

export function runPodSandboxHandler(sandboxes: SandboxService): UnaryHandler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (req, op) => {
    if (!req.config) throw new InvalidArgumentError('config is required');
    return { pod_sandbox_id: await sandboxes.run(op, req.config, req.runtime_handler) };
  };
}
