/**
 * Exec, Attach and PortForward as the RPCs see them: check the target, then ask the
 * streaming server for a single-use URL (cri-api item 25). The checks here give the RPC a
 * precise error up front (unknown → NotFound, not running → FailedPrecondition, Attach
 * with the wrong tty → InvalidArgument, cri-api item 26); the backend checks again when
 * the client connects.
 */
import type { Op } from '../../lib/op.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import type { StreamAttachRequest, StreamExecRequest, StreamPortForwardRequest } from '../../streaming/backend.ts';
import type { StreamingServer } from '../../streaming/server.ts';
import type { StreamTargets } from './targets.ts';

export interface ContainerStreamingServiceDeps {
  server: Pick<StreamingServer, 'prepareExec' | 'prepareAttach' | 'preparePortForward'>;
  targets: StreamTargets;
}

export class ContainerStreamingService {
  readonly #deps: ContainerStreamingServiceDeps;

  constructor(deps: ContainerStreamingServiceDeps) {
    this.#deps = deps;
  }

  async exec(_op: Op, req: StreamExecRequest): Promise<string> {
    const target = await this.#deps.targets.container(req.containerId);
    if (!target.running) throw new FailedPreconditionError(`cannot exec in container "${target.id}": it is not running`);
    return this.#deps.server.prepareExec({ ...req, containerId: target.id });
  }

  async attach(_op: Op, req: StreamAttachRequest): Promise<string> {
    const target = await this.#deps.targets.container(req.containerId);
    if (!target.running) throw new FailedPreconditionError(`cannot attach to container "${target.id}": it is not running`);
    if (req.tty !== target.tty) throw new InvalidArgumentError(`attach to container "${target.id}": tty=${req.tty} does not match the container's tty=${target.tty}`);
    return this.#deps.server.prepareAttach({ ...req, containerId: target.id });
  }

  async portForward(_op: Op, req: StreamPortForwardRequest): Promise<string> {
    const pod = await this.#deps.targets.podNetns(req.podId);
    return this.#deps.server.preparePortForward({ ...req, podId: pod.podId });
  }
}
