/**
 * What streaming needs to know about a container or pod, read through the container and
 * sandbox services' public API (the composition builds the adapter). Keeping it this
 * narrow lets the streaming backends and their tests run without the whole container
 * service.
 */
import type { OciRuntime } from '../../oci/runtime.ts';
import type { RuntimeExecTarget } from '../../oci/exec-process.ts';

export interface ContainerStreamTarget {
  id: string;
  /** Runtime handler of the container's pod (`runc`, `crun`, …). */
  handler: string;
  /** `ContainerConfig.tty`: the container's main process runs on a terminal. */
  tty: boolean;
  /** `ContainerConfig.stdin`: conmon keeps a stdin for attach clients. */
  stdin: boolean;
  /** `ContainerConfig.stdin_once`: the first attach client closing stdin closes it for good. */
  stdinOnce: boolean;
  /** True while the main process runs (CRI CONTAINER_RUNNING). */
  running: boolean;
  /** The OCI bundle holding `config.json`, whose `process` is the base of an exec. */
  bundleDir: string;
}

/** Looks containers and pods up; NotFoundError for unknown ids. */
export interface StreamTargets {
  /** By full id or unique prefix. */
  container(id: string): Promise<ContainerStreamTarget>;
  /** The pod's network namespace file, or null for a host-network pod; NotFoundError if unknown. */
  podNetns(podId: string): Promise<{ podId: string; netnsPath: string | null }>;
}

/** The runtime pieces one handler offers streaming. */
export interface StreamRuntime {
  /** conmon's attach socket and ctl FIFO paths. */
  oci: Pick<OciRuntime, 'attachSocketPath' | 'ctlFifoPath'>;
  /** How to call the handler's CLI for `exec`. */
  exec: RuntimeExecTarget;
}

/** Handler name → its runtime; throws for an unknown handler. */
export type StreamRuntimes = (handler: string) => StreamRuntime;
