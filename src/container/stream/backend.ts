/**
 * The streaming server's backend for real containers (DESIGN: Streaming): exec runs the
 * runtime's `exec` with the container's spec process, attach goes through conmon's attach
 * socket, port-forward dials inside the pod's network namespace. Lookups go through
 * `StreamTargets`, so every session sees the container's current state.
 */
import type { Op } from '../../lib/op.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import { runExecProcess } from '../../oci/exec-process.ts';
import type { PortForwarder } from '../../network/port-forward.ts';
import type { AttachIo, ExecIo, PortForwardIo, StreamingBackend } from '../../streaming/backend.ts';
import { attachConmon } from './attach.ts';
import { execProcessSpec } from './exec-spec.ts';
import type { ContainerStreamTarget, StreamRuntimes, StreamTargets } from './targets.ts';

export interface ContainerStreamingBackendDeps {
  targets: StreamTargets;
  runtimes: StreamRuntimes;
  portForwarder: Pick<PortForwarder, 'forward'>;
  /** Parent of per-exec temp dirs (process spec, pid file, runtime log). */
  scratchDir: string;
}

export class ContainerStreamingBackend implements StreamingBackend {
  readonly #deps: ContainerStreamingBackendDeps;

  constructor(deps: ContainerStreamingBackendDeps) {
    this.#deps = deps;
  }

  async exec(op: Op, io: ExecIo): Promise<{ exitCode: number }> {
    const target = await this.#running(io.containerId, 'exec in');
    const processSpec = await execProcessSpec(target.bundleDir, target.id, io.cmd, io.tty);
    op.log.debug({ container: target.id, tty: io.tty }, 'Streaming exec starting');
    return runExecProcess(op, this.#deps.runtimes(target.handler).exec, {
      containerId: target.id,
      process: processSpec,
      tty: io.tty,
      stdin: io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      resize: io.resize,
      scratchDir: this.#deps.scratchDir,
    });
  }

  async attach(op: Op, io: AttachIo): Promise<void> {
    const target = await this.#running(io.containerId, 'attach to');
    // Checked again here: the container may have been replaced since the URL was issued.
    if (io.tty !== target.tty) throw new InvalidArgumentError(`attach to container "${target.id}": tty=${io.tty} does not match the container's tty=${target.tty}`);
    const oci = this.#deps.runtimes(target.handler).oci;
    await attachConmon(op, {
      containerId: target.id,
      socketPath: oci.attachSocketPath(target.id),
      ctlPath: oci.ctlFifoPath(target.id),
      tty: io.tty,
      // Passed even when the config has no stdin, as CRI-O does: a TTY container reads the
      // pty whatever its config says, and conmon drops input it has nowhere to put.
      stdin: io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      resize: io.resize,
    });
  }

  async portForward(op: Op, io: PortForwardIo): Promise<void> {
    const pod = await this.#deps.targets.podNetns(io.podId);
    await this.#deps.portForwarder.forward(op, { podId: pod.podId, netnsPath: pod.netnsPath, port: io.port, stream: io.stream });
  }

  async #running(id: string, verb: string): Promise<ContainerStreamTarget> {
    const target = await this.#deps.targets.container(id);
    if (!target.running) throw new FailedPreconditionError(`cannot ${verb} container "${target.id}": it is not running`);
    return target;
  }
}
