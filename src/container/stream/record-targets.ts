/**
 * `StreamTargets` over the container and pod records, read through the services' public
 * `get(idOrPrefix)` (NotFoundError for unknown ids).
 */
import { NotFoundError } from '../../lib/errors.ts';
import type { SandboxRecord } from '../../sandbox/sandbox-service.ts';
import type { ContainerRecord } from '../container-record.ts';
import type { ContainerStreamTarget, StreamTargets } from './targets.ts';
import { shown } from '../../lib/shown.ts';

export interface RecordStreamTargetsDeps {
  /** The container service's lookup; null until containers exist in this composition. */
  containers: { get(idOrPrefix: string): ContainerRecord } | null;
  sandboxes: { get(idOrPrefix: string): SandboxRecord };
}

function containerTarget(rec: ContainerRecord): ContainerStreamTarget {
  const cfg = rec.metadata.config;
  return {
    id: rec.id,
    handler: rec.metadata.runtimeHandler,
    tty: cfg.tty,
    stdin: cfg.stdin,
    stdinOnce: cfg.stdin_once,
    running: rec.status.phase === 'running',
    bundleDir: rec.metadata.bundle,
  };
}

export class RecordStreamTargets implements StreamTargets {
  readonly #deps: RecordStreamTargetsDeps;

  constructor(deps: RecordStreamTargetsDeps) {
    this.#deps = deps;
  }

  async container(id: string): Promise<ContainerStreamTarget> {
    if (this.#deps.containers === null) throw new NotFoundError(`container ${shown(id)} not found`);
    return containerTarget(this.#deps.containers.get(id));
  }

  async podNetns(podId: string): Promise<{ podId: string; netnsPath: string | null }> {
    const rec = this.#deps.sandboxes.get(podId);
    return { podId: rec.id, netnsPath: rec.status.namespaces.net ?? null };
  }
}
