/** ExecSync: output capped at 16 MiB per stream; timeout 0 = none (cri-api.md §4 item 27). */
import { withAfterSent } from './after-sent.ts';
import type { UnaryHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import type { ExecSyncRequest__Output } from '../generated/cri/runtime/v1/ExecSyncRequest.ts';
import type { ExecSyncResponse } from '../generated/cri/runtime/v1/ExecSyncResponse.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import { checkExecCommand, checkId } from './validate/requests.ts';

export function execSyncHandler(containers: ContainerService): UnaryHandler<ExecSyncRequest__Output, ExecSyncResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    checkExecCommand('cmd', req.cmd);
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`timeout ${req.timeout} must be a non-negative number of seconds`);
    const r = await containers.execSync(op, req.container_id, req.cmd, timeout);
    // The output's share of the ExecSync budget is given back once the answer is written.
    return withAfterSent({ stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode }, r.release);
  };
}
