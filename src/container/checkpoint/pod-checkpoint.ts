/**
 * CheckpointPod and RestorePod (KEP-5823, alpha; issue 14 item 3). A pod checkpoint is a
 * directory: one CheckpointContainer archive per selected container, taken as one
 * consistency group (all paused, all dumped, all resumed: checkpointGroup), and the
 * versioned manifest (pod-manifest.ts) written last. RestorePod makes a new sandbox from
 * the restore-time pod config and creates each container from its archive; they stay
 * CREATED until StartContainer, which has the runtime restore them from CRIU's images.
 * Both are guarded by in-progress markers: a crash in the middle is undone at start-up.
 */
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';
import type { Op } from '../../lib/op.ts';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, describeError } from '../../lib/errors.ts';
import { shown } from '../../lib/shown.ts';
import type { ContainerService } from '../container-service.ts';
import type { SandboxService } from '../../sandbox/sandbox-service.ts';
import { podName } from '../../sandbox/sandbox-config.ts';
import { DEFAULT_CHECKPOINT_TIMEOUT_MS } from './checkpoint-container.ts';
import type { CheckpointMarker } from './in-progress.ts';
import { POD_MANIFEST, POD_MANIFEST_FORMAT, POD_MANIFEST_VERSION, archiveNameFor, matchRestoreConfigs, parsePodManifest, type PodManifest } from './pod-manifest.ts';

export interface PodCheckpointDeps {
  sandboxes: Pick<SandboxService, 'get' | 'run' | 'remove' | 'records'>;
  containers: Pick<ContainerService, 'get' | 'checkpointGroup' | 'create' | 'criuPath' | 'thawIfPaused' | 'markers'>;
  /** The id of the image `spec` names, when present. */
  imageIdOf(spec: string): string | undefined;
  defaultHandler: string;
  /** Checkpoint work dirs live under `<runRoot>/checkpoint`: a crash leaves them, start-up removes them. */
  runRoot: string;
  /** Own deadline of the cleanup after a failed restore (DESIGN convention 4). */
  cleanupTimeoutMs: number;
}

export interface RestoredPod {
  podId: string;
  containers: { name: string; id: string }[];
}

export class PodCheckpointService {
  readonly #deps: PodCheckpointDeps;

  constructor(deps: PodCheckpointDeps) {
    this.#deps = deps;
  }

  /** CheckpointPod: the request is shape-checked (server/validate); here, against the pod and the host. */
  async checkpoint(op: Op, podIdOrPrefix: string, outputPath: string, containerIds: readonly string[]): Promise<void> {
    const pod = this.#deps.sandboxes.get(podIdOrPrefix);
    if (pod.status.phase !== 'ready') throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready (${pod.status.phase}); only a ready pod can be checkpointed`);
    await checkEmptyDir('output_path', outputPath);
    const recs = containerIds.map((id, i) => {
      const rec = this.#deps.containers.get(id);
      if (rec.metadata.podId !== pod.id) throw new InvalidArgumentError(`container_ids[${i}] ${shown(id)}: container ${rec.id} belongs to pod ${rec.metadata.podId}, not ${pod.id}`);
      if (rec.status.phase !== 'running') throw new FailedPreconditionError(`container_ids[${i}] ${shown(id)}: container ${rec.id} is ${rec.status.phase}; every checkpointed container must be running`);
      return rec;
    });
    await this.#deps.containers.criuPath(op);
    const destOf = new Map(recs.map((r) => [r.id, join(outputPath, archiveNameFor(r.metadata.config.metadata!.name))]));
    const manifestPath = join(outputPath, POD_MANIFEST);
    const manifest: PodManifest = {
      format: POD_MANIFEST_FORMAT, version: POD_MANIFEST_VERSION, checkpointedAt: new Date().toISOString(), runtimeHandler: pod.metadata.runtimeHandler,
      pod: { id: pod.id, config: pod.metadata.config },
      containers: recs.map((r) => ({
        name: r.metadata.config.metadata!.name, id: r.id, archive: archiveNameFor(r.metadata.config.metadata!.name),
        image: { requested: r.metadata.imageRequested, id: r.metadata.imageId, ref: r.metadata.imageRef }, config: r.metadata.config,
      })),
    };
    // The manifest last: a directory with one is a complete checkpoint.
    await this.#deps.containers.checkpointGroup(op, recs.map((r) => r.id), (r) => destOf.get(r.id)!, {
      timeoutMs: DEFAULT_CHECKPOINT_TIMEOUT_MS, extraOutputs: [manifestPath],
      finish: () => writeFile(manifestPath, JSON.stringify(manifest, null, 2), { mode: 0o600, flag: 'wx' }),
    });
    op.log.info({ pod: pod.id, containers: recs.map((r) => r.id), outputPath }, 'Pod checkpointed');
  }

  /** RestorePod: a new sandbox and CREATED containers; on any failure, neither is left. */
  async restore(op: Op, checkpointPath: string, config: PodSandboxConfig__Output, runtimeHandler: string, configs: readonly ContainerConfig__Output[]): Promise<RestoredPod> {
    const dir = await stat(checkpointPath).catch(() => undefined);
    if (!dir?.isDirectory()) throw new InvalidArgumentError(`checkpoint_path ${shown(checkpointPath)}: no such directory`);
    const text = await readFile(join(checkpointPath, POD_MANIFEST), 'utf8').catch(() => undefined);
    if (text === undefined) throw new InvalidArgumentError(`checkpoint_path ${shown(checkpointPath)}: has no ${POD_MANIFEST}; not a pod checkpoint (or an unfinished one)`);
    const manifest = parsePodManifest(text, checkpointPath);
    const handler = runtimeHandler === '' ? this.#deps.defaultHandler : runtimeHandler;
    if (manifest.runtimeHandler !== '' && handler !== manifest.runtimeHandler) {
      throw new InvalidArgumentError(`runtime_handler ${shown(runtimeHandler)}: the checkpoint was taken with handler ${shown(manifest.runtimeHandler)} and only it can restore it`);
    }
    const pairs = matchRestoreConfigs(manifest, configs, (spec) => this.#deps.imageIdOf(spec));
    for (const p of pairs) {
      const archive = join(checkpointPath, p.entry.archive);
      if (!(await stat(archive).then((s) => s.isFile(), () => false))) throw new InvalidArgumentError(`checkpoint_path ${shown(checkpointPath)}: archive ${shown(p.entry.archive)} of container ${shown(p.entry.name)} is missing`);
    }
    await this.#deps.containers.criuPath(op);
    const name = podName(config);
    const holder = this.#deps.sandboxes.records.list().find((r) => r.metadata.name === name);
    if (holder) throw new AlreadyExistsError(`config.metadata: pod name "${name}" is already used by pod ${holder.id}; a restore makes a new pod`);

    const marker = await this.#deps.containers.markers.begin({ kind: 'restore-pod', containers: [], outputs: [], workDirs: [], podName: name });
    let podId: string | undefined;
    try {
      podId = await this.#deps.sandboxes.run(op, config, handler);
      await marker.update({ podId });
      const restored = [];
      for (const p of pairs) {
        const id = await this.#deps.containers.create(op, podId, p.config, { restoreArchive: join(checkpointPath, p.entry.archive) });
        restored.push({ name: p.entry.name, id });
      }
      op.log.info({ pod: podId, checkpointPath, containers: restored }, 'Pod restored; its containers are restored by StartContainer');
      return { podId, containers: restored };
    } catch (err) {
      if (podId !== undefined) {
        await this.#deps.sandboxes.remove({ log: op.log, signal: AbortSignal.timeout(this.#deps.cleanupTimeoutMs) }, podId).catch((e: unknown) => {
          op.log.error({ pod: podId, err: describeError(e) }, 'Cannot remove the pod of a failed restore');
        });
      }
      throw err;
    } finally {
      await marker.end();
    }
  }

  /**
   * Start-up, after pods and containers are recovered: undoes checkpoints and restores a
   * crash interrupted, then removes work dirs nothing uses any more.
   */
  async recover(op: Op): Promise<void> {
    await this.#deps.containers.markers.recover(op, {
      thaw: (o, id) => this.#deps.containers.thawIfPaused(o, id),
      removePod: (o, m) => this.#removeRestoredPod(o, m),
    });
    const work = join(this.#deps.runRoot, 'checkpoint');
    for (const e of await readdir(work).catch(() => [] as string[])) await rm(join(work, e), { recursive: true, force: true });
  }

  async #removeRestoredPod(op: Op, m: CheckpointMarker): Promise<void> {
    const id = m.podId ?? this.#deps.sandboxes.records.list().find((r) => r.metadata.name === m.podName)?.id;
    if (id !== undefined) await this.#deps.sandboxes.remove(op, id);
  }
}

/** The caller's directory: it must exist and be empty (api.proto CheckpointPodRequest.output_path). */
async function checkEmptyDir(field: string, path: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isDirectory()) throw new InvalidArgumentError(`${field} ${shown(path)}: must be an existing directory`);
  const entries = await readdir(path);
  if (entries.length > 0) throw new InvalidArgumentError(`${field} ${shown(path)}: must be empty (it holds ${shown(entries.slice(0, 3).join(', '))})`);
}
