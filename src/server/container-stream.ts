/** Exec, Attach, PortForward: validate, ask the streaming service for a URL (cri-api items 25–26). */
import type { UnaryHandler } from './adapt.ts';
import type { ContainerStreamingService } from '../container/stream/service.ts';
import type { ExecRequest__Output } from '../generated/cri/runtime/v1/ExecRequest.ts';
import type { ExecResponse } from '../generated/cri/runtime/v1/ExecResponse.ts';
import type { AttachRequest__Output } from '../generated/cri/runtime/v1/AttachRequest.ts';
import type { AttachResponse } from '../generated/cri/runtime/v1/AttachResponse.ts';
import type { PortForwardRequest__Output } from '../generated/cri/runtime/v1/PortForwardRequest.ts';
import type { PortForwardResponse } from '../generated/cri/runtime/v1/PortForwardResponse.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import { checkExecCommand, checkId, checkPorts } from './validate/requests.ts';

interface StreamFlags {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** tty ⇒ no separate stderr; at least one stream (cri-api item 26, kubelet's validation). */
function checkStreams(what: string, r: StreamFlags): void {
  if (r.tty && r.stderr) throw new InvalidArgumentError(`${what}: tty and stderr cannot both be true (a terminal merges stderr into stdout)`);
  if (!r.stdin && !r.stdout && !r.stderr) throw new InvalidArgumentError(`${what}: one of stdin, stdout or stderr must be true`);
}

export function execHandler(streaming: ContainerStreamingService): UnaryHandler<ExecRequest__Output, ExecResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    checkExecCommand('cmd', req.cmd);
    checkStreams(`exec in container "${req.container_id}"`, req);
    const url = await streaming.exec(op, { containerId: req.container_id, cmd: req.cmd, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr });
    return { url };
  };
}

export function attachHandler(streaming: ContainerStreamingService): UnaryHandler<AttachRequest__Output, AttachResponse> {
  return async (req, op) => {
    checkId('container_id', req.container_id);
    checkStreams(`attach to container "${req.container_id}"`, req);
    const url = await streaming.attach(op, { containerId: req.container_id, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr });
    return { url };
  };
}

export function portForwardHandler(streaming: ContainerStreamingService): UnaryHandler<PortForwardRequest__Output, PortForwardResponse> {
  return async (req, op) => {
    checkId('pod_sandbox_id', req.pod_sandbox_id);
    checkPorts('port', req.port);
    const url = await streaming.portForward(op, { podId: req.pod_sandbox_id, ports: req.port });
    return { url };
  };
}
