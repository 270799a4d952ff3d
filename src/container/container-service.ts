/**
 * Containers (DESIGN "Containers", "Process model"): create (the bundle), start (conmon +
 * the OCI runtime), stop, remove, status, list, ExecSync, log reopen and resource updates,
 * with records that survive a daemon restart. Mutations of one container hold its lock;
 * exits are recorded without it (a Stop holding the lock waits for them).
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig.ts';
import type { ContainerFilter__Output } from '../generated/cri/runtime/v1/ContainerFilter.ts';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources.ts';
import type { Op } from '../lib/op.ts';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, describeError } from '../lib/errors.ts';
import { KeyedMutex } from '../lib/keyed-mutex.ts';
import { DetachedWork } from '../lib/detached-work.ts';
import { NameRegistrar } from '../state/name-registrar.ts';
import type { ContainerExit } from '../oci/exit-watcher.ts';
import type { ExecSyncResult, OciProcess } from '../oci/runtime.ts';
import { fitExecOutput } from '../oci/runtime.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord, ContainerStatusRecord } from './container-record.ts';
import type { ImageRecord } from '../storage/store.ts';
import { createContainer, runtimeFor } from './container-create.ts';
import { matchesContainerFilter } from './container-view.ts';
import { resizeContainer } from './container-resize.ts';
import { ExitTracker, notAfter } from './exit-tracker.ts';
import { recoverContainers } from './container-recovery.ts';
import { teardownContainer } from './container-teardown.ts';
import { RemovalQueue } from './removal-queue.ts';
import { ExitReconciler } from './reconcile.ts';
import { discardRuntimeContainer, isLaunched, launchContainer } from './container-launch.ts';
import { shown } from '../lib/shown.ts';
import { checkpointContainer, checkpointGroup, type CheckpointEnv, type GroupOptions } from './checkpoint/checkpoint-container.ts';
import { InProgressMarkers } from './checkpoint/in-progress.ts';
import { isCheckpointArchive, planRestore, restoreDirOf, restoreImagePath } from './checkpoint/restore.ts';
import { imageVolumeImages, volumeImageIds, volumeLayers } from './image-volumes.ts';

/** CRI-O's container_create_timeout (240 s): how long a create may run after its caller gave up. */
const DEFAULT_CREATE_TIMEOUT_MS = 240_000;
/** Exit status conmon reports for SIGKILL (128 + 9). */
const KILLED_STATUS = 137;
/** containerd's exit code and reason for a container whose start failed. */
const START_ERROR_EXIT_CODE = 128;
const REASON_START_ERROR = 'StartError';

export interface CreateOptions {
  /**
   * RestorePod: the container is restored from this archive, on the image the request names
   * (already checked against the checkpoint), with the request's labels and annotations.
   */
  restoreArchive?: string;
}

export class ContainerService {
  readonly #deps: ContainerServiceDeps;
  readonly #names = new NameRegistrar();
  readonly #locks = new KeyedMutex();
  /** Creates in flight by container name; they hold their image before their record exists. */
  readonly #inflight = new Map<string, { digest: string; id: string; podId: string; image: ImageRecord; volumeImages: ImageRecord[]; done: Promise<void> }>();
  /** Pods RemovePodSandbox is removing: a create in flight in one of them must not write its record. */
  readonly #podsClosing = new Set<string>();
  /** Creates run here, under their own timeout, not their first caller's signal. */
  readonly #detached = new DetachedWork();
  readonly #exits: ExitTracker;
  /** Removed containers whose files are still to be deleted. */
  readonly #removals: RemovalQueue;
  readonly #reconciler: ExitReconciler;
  /** Checkpoints and pod restores in progress, undone at start-up after a crash. */
  readonly markers: InProgressMarkers;

  constructor(deps: ContainerServiceDeps) {
    this.#deps = deps;
    this.markers = new InProgressMarkers(join(deps.runRoot, 'checkpoint-markers'));
    this.#exits = new ExitTracker(deps);
    this.#reconciler = new ExitReconciler(deps, this.#exits);
    this.#removals = new RemovalQueue({
      teardown: (rec) => this.#teardown(rec), quietMs: deps.removalQuietMs ?? 200, maxDelayMs: deps.removalMaxDelayMs ?? 2000,
      ...(deps.removalRetryMs === undefined ? {} : { retryMs: deps.removalRetryMs }),
      ...(deps.removalRetryMaxMs === undefined ? {} : { retryMaxMs: deps.removalRetryMaxMs }),
      ...(deps.schedule ? { schedule: deps.schedule } : {}),
    });
  }

  /** CreateContainer: the container is CREATED (its bundle ready; conmon comes with start()); a retry of the same request gets the same id. */
  async create(op: Op, podIdOrPrefix: string, config: ContainerConfig__Output | null, opts: CreateOptions = {}): Promise<string> {
    if (!config) throw new InvalidArgumentError('config is required');
    const md = config.metadata;
    if (!md || md.name === '') throw new InvalidArgumentError('config.metadata.name is required');
    if (/[\s/]/.test(md.name)) throw new InvalidArgumentError(`config.metadata.name "${md.name}" must not contain spaces or "/"`);
    const imageSpec = config.image?.image ?? '';
    if (imageSpec === '') throw new InvalidArgumentError('config.image.image is required');
    // A checkpoint archive as the image: a restore, on the image the checkpoint was taken from
    // (issue 14). Read before the retry checks: from them to #inflight.set nothing may await.
    const archive = opts.restoreArchive ?? (await isCheckpointArchive(imageSpec) ? imageSpec : undefined);
    const restore = archive === undefined ? undefined
      : await planRestore(op, join(this.#deps.runRoot, 'checkpoint'), archive, config, this.#deps.images, { requestAnnotationsWin: opts.restoreArchive !== undefined });
    const pod = this.#deps.pods.get(podIdOrPrefix);
    if (pod.status.phase !== 'ready') throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready (${pod.status.phase}); cannot create container "${md.name}" in it`);
    const podMd = pod.metadata.config.metadata!;
    const name = `${md.name}_${podMd.name}_${podMd.namespace}_${podMd.uid}_${md.attempt}`;
    const digest = createHash('sha256').update(JSON.stringify({ pod: pod.id, config })).digest('hex');
    const inflight = this.#inflight.get(name);
    if (inflight) {
      if (inflight.digest !== digest) throw new AlreadyExistsError(`container name "${name}" is being created as ${inflight.id} with a different config`);
      op.log.info({ container: inflight.id, name }, 'CreateContainer retried while the first call is still running; waiting for it');
      return this.#detached.join<string>(op, `create:${name}`) ?? inflight.id;
    }
    const holder = this.#names.holderOf(name);
    if (holder !== undefined) {
      if (this.#deps.records.get(holder)?.metadata.requestDigest === digest) return holder;
      throw new AlreadyExistsError(`container name "${name}" is already used by container ${holder}`);
    }
    const image = restore?.image ?? this.#deps.images.require(imageSpec);
    const volumeImages = imageVolumeImages(restore?.config ?? config, this.#deps.images);
    const runtime = runtimeFor(this.#deps, pod.metadata.runtimeHandler);
    const id = randomBytes(32).toString('hex');
    this.#names.reserve(name, id);
    const admit = (): void => this.#admit(pod.id, name);
    const plan = { id, name, requestDigest: digest, pod, config: restore?.config ?? config, image, volumeImages, runtime, admit, ...(restore ? { restore: restore.info } : {}) };
    // Under the daemon's own signal (issue 18 item 2): a caller that gives up leaves the
    // create running, and its retry joins it above or finds the finished one by name.
    const entry = { digest, id, podId: pod.id, image, volumeImages, done: Promise.resolve() };
    this.#inflight.set(name, entry);
    const work = this.#detached.run(op, `create:${name}`, this.#deps.createTimeoutMs ?? DEFAULT_CREATE_TIMEOUT_MS, async (own) => {
      try {
        await createContainer(this.#deps, own, plan);
      } catch (err) {
        this.#names.release(name, id);
        throw err;
      } finally {
        this.#inflight.delete(name);
      }
      const created = this.#deps.records.get(id);
      if (created) this.#deps.observer?.lifecycle('created', created);
      return id;
    });
    // What RemovePodSandbox waits for: the work itself, not any one caller's wait for it.
    entry.done = this.#detached.ended(`create:${name}`) ?? entry.done;
    return work;
  }

  /** The last check before a create writes its record: the pod is still there, ready and not being removed. */
  #admit(podId: string, name: string): void {
    const refuse = (why: string): never => {
      throw new FailedPreconditionError(`pod sandbox ${podId} ${why}; cannot create container "${name}" in it`);
    };
    if (this.#podsClosing.has(podId)) refuse('is being removed');
    let phase: string;
    try {
      phase = this.#deps.pods.get(podId).status.phase;
    } catch (err) {
      if (err instanceof NotFoundError) refuse('was removed');
      throw err;
    }
    if (phase !== 'ready') refuse(`is not ready (${phase})`);
  }

  /**
   * StartContainer: only from CREATED, in a ready pod. Launches conmon + `<runtime> create`
   * (container-launch.ts) unless a crash left it launched, then `<runtime> start`. A
   * failure leaves the container EXITED with reason StartError and exit code 128, as
   * containerd reports it, so that the kubelet applies the pod's restart policy.
   */
  async start(op: Op, idOrPrefix: string): Promise<void> {
    const id = this.get(idOrPrefix).id;
    await this.#locks.with(id, async () => {
      const rec = this.get(id);
      if (rec.status.phase !== 'created') throw new FailedPreconditionError(`container ${id} is ${rec.status.phase}; only a CREATED container can be started`);
      const pod = this.#deps.pods.get(rec.metadata.podId);
      if (pod.status.phase !== 'ready') throw new FailedPreconditionError(`pod sandbox ${pod.id} of container ${id} is not ready (${pod.status.phase})`);
      const runtime = runtimeFor(this.#deps, rec.metadata.runtimeHandler);
      // An exit seen from here on waits until the start is recorded (exit-tracker.ts).
      const endStart = this.#exits.beginStart(id);
      const begun = process.hrtime.bigint();
      try {
        try {
          // A restore runs detached under conmon: the container is running once it is launched.
          const restore = rec.metadata.restore ? { criuPath: await this.#criuPath(op), imagePath: restoreImagePath(rec.metadata.bundle) } : undefined;
          if (!isLaunched(rec)) await launchContainer(this.#deps, op, rec, runtime, restore);
          if (!restore) await runtime.start(op, id);
        } catch (err) {
          await discardRuntimeContainer(this.#deps, op, id, runtime);
          await this.#recordStartError(id, err);
          if (rec.metadata.restore) this.#deps.observer?.checkpointOp?.('restore', 'failure', secondsSince(begun));
          throw err;
        }
        if (rec.metadata.restore) {
          this.#deps.observer?.checkpointOp?.('restore', 'success', secondsSince(begun));
          // CRIU's images are in the restored process now; the copy in the bundle is only size.
          await rm(restoreDirOf(rec.metadata.bundle), { recursive: true, force: true });
        }
        const now = this.#deps.clock.nowNs();
        await this.#deps.records.update(id, (s) => ({ ...s, phase: s.phase === 'created' ? 'running' : s.phase, startedAt: startedAtOf(s, now) }));
        const started = this.#deps.records.get(id);
        if (started) this.#deps.observer?.lifecycle('started', started);
        op.log.info({ container: id }, 'Container started');
      } finally {
        endStart();
      }
    });
  }

  async #recordStartError(id: string, err: unknown): Promise<void> {
    const finishedAt = this.#deps.clock.nowNs().toString();
    const message = err instanceof Error ? err.message : String(err);
    await this.#deps.records.update(id, (s) => ({ ...s, phase: 'exited', exitCode: START_ERROR_EXIT_CODE, reason: REASON_START_ERROR, message, finishedAt }));
    const exited = this.#deps.records.get(id);
    if (exited) this.#deps.observer?.lifecycle('stopped', exited);
  }

  /**
   * StopContainer: the stop signal, then SIGKILL after `timeoutSec` (0 = at once).
   * Idempotent: an unknown id succeeds (api.proto; critest "Idempotence").
   */
  async stop(op: Op, idOrPrefix: string, timeoutSec: number): Promise<void> {
    const rec = this.#deps.records.find(idOrPrefix);
    if (!rec) {
      op.log.debug({ container: idOrPrefix }, 'StopContainer of an unknown container: nothing to do');
      return;
    }
    const id = rec.id;
    await this.#locks.with(id, () => this.#stopLocked(op, id, timeoutSec));
  }

  async #stopLocked(op: Op, id: string, timeoutSec: number): Promise<void> {
    const rec = this.#deps.records.get(id);
    if (!rec || (rec.status.phase !== 'running' && rec.status.phase !== 'created')) return;
    // Never started: there is no process to stop, and it stays CREATED (containerd does the same).
    if (!isLaunched(rec)) return;
    const runtime = runtimeFor(this.#deps, rec.metadata.runtimeHandler);
    if (rec.status.phase === 'running' && timeoutSec > 0) {
      await runtime.kill(op, id, rec.metadata.stopSignal);
      if (await this.#exits.waitFor(id, timeoutSec * 1000, op.signal)) return;
      op.log.info({ container: id, signal: rec.metadata.stopSignal, timeoutSec }, 'Container ignored its stop signal; sending SIGKILL');
    }
    await runtime.kill(op, id, 'SIGKILL');
    if (await this.#exits.waitFor(id, this.#deps.killWaitMs ?? 10_000, op.signal)) return;
    // No exit file (conmon gone?): trust the runtime's word that the process is dead.
    const state = await runtime.state(op, id).catch(() => ({ status: 'stopped' as const, pid: 0 }));
    if (state.status === 'stopped') await this.#exits.record(id, KILLED_STATUS, this.#deps.clock.nowNs());
    else throw new FailedPreconditionError(`container ${id} is still ${state.status} after SIGKILL`);
  }

  /**
   * RemoveContainer: kills it if it runs, marks the record `removing` (a tombstone: a crash
   * afterwards is finished by recovery) and answers; the runtime state, rootfs mount,
   * read-write layer, bundle and record then go in the background (removal-queue.ts), as
   * containerd's snapshots are collected after the call. The name is free at once. Idempotent.
   */
  async remove(op: Op, idOrPrefix: string): Promise<void> {
    const rec = this.#deps.records.find(idOrPrefix);
    if (!rec || !isVisible(rec)) {
      op.log.debug({ container: idOrPrefix }, 'RemoveContainer for an unknown container: nothing to do');
      return;
    }
    await this.#locks.with(rec.id, async () => {
      const current = this.#deps.records.get(rec.id);
      if (!current || !isVisible(current)) return;
      if (current.status.phase === 'created' || current.status.phase === 'running') await this.#stopLocked(op, rec.id, 0);
      await this.#deps.records.tombstone(rec.id);
      this.#names.release(current.metadata.name, rec.id);
      const removing = this.#deps.records.get(rec.id) ?? current;
      this.#deps.observer?.lifecycle('deleted', removing);
      this.#removals.add(removing);
      op.log.info({ container: rec.id }, 'Container removed');
    });
  }

  async #teardown(rec: ContainerRecord): Promise<void> {
    const log = this.#deps.log.child({ container: rec.id });
    const op = { log, signal: AbortSignal.timeout(this.#deps.cleanupTimeoutMs ?? 60_000) };
    await teardownContainer(this.#deps, op, rec).catch((err: unknown) => {
      log.error({ err: describeError(err) }, 'Deleting a removed container\'s files failed; retrying with backoff');
      throw err;
    });
  }

  /** Daemon shutdown: no more background deletions (recovery finishes pending ones). */
  close(): void {
    this.#removals.close();
  }

  /** Containers of a pod: StopPodSandbox stops them all (api.proto "forcibly terminated"). */
  async stopAllInPod(op: Op, podId: string, timeoutSec: number): Promise<void> {
    await Promise.all(this.#inPod(podId).map((r) => this.stop(op, r.id, timeoutSec)));
  }

  /**
   * RemovePodSandbox: every container removed and its files gone before the pod's own go.
   * Creates in flight in the pod are refused before they write a record (#admit) and
   * waited for, so none leaves a record or a mount behind the removed pod.
   */
  async removeAllInPod(op: Op, podId: string): Promise<void> {
    this.#podsClosing.add(podId);
    try {
      await Promise.allSettled([...this.#inflight.values()].filter((c) => c.podId === podId).map((c) => c.done));
      await Promise.all(this.#inPod(podId).map((r) => this.remove(op, r.id)));
      await this.#removals.settle((r) => r.metadata.podId === podId);
    } finally {
      this.#podsClosing.delete(podId);
    }
  }

  #inPod(podId: string): ContainerRecord[] {
    return this.#deps.records.list().filter((r) => r.metadata.podId === podId);
  }

  /** A container by id or unique prefix; removed ones whose files are still going are not visible. @throws NotFoundError */
  get(idOrPrefix: string): ContainerRecord {
    const rec = this.#deps.records.find(idOrPrefix);
    if (!rec || !isVisible(rec)) throw new NotFoundError(`container ${shown(idOrPrefix)} not found`);
    return rec;
  }

  /** Changes whenever list()'s answer may have (state/record-store.ts generation). */
  get listGeneration(): number {
    return this.#deps.records.generation;
  }

  list(filter: ContainerFilter__Output | null): ContainerRecord[] {
    return this.#deps.records.list().filter((r) => isVisible(r) && matchesContainerFilter(r, filter));
  }

  /** Verbose ContainerStatus info: pid, sandbox, runtime spec (CRI-O and containerd show the same). */
  async verboseInfo(rec: ContainerRecord): Promise<Record<string, string>> {
    const spec = await readFile(join(rec.metadata.bundle, 'config.json'), 'utf8').then((t) => JSON.parse(t) as unknown, () => null);
    return {
      info: JSON.stringify({
        id: rec.id, name: rec.metadata.name, sandboxID: rec.metadata.podId, pid: rec.status.pid, conmonPid: rec.status.conmonPid,
        runtimeHandler: rec.metadata.runtimeHandler, bundle: rec.metadata.bundle, imageId: rec.metadata.imageId, runtimeSpec: spec,
        // CRI-O's verbose status names a restored container's checkpoint the same way.
        ...(rec.metadata.restore ? { restored: true, checkpointedAt: rec.metadata.restore.checkpointedAt, restoredFrom: rec.metadata.restore.archive } : {}),
      }),
    };
  }

  /**
   * CheckpointContainer: a CRIU dump of the running container, left running, written as a
   * checkpoint archive at `location` (checkpoint/checkpoint-container.ts). Holds the
   * container's lock, so no stop or remove runs in the middle of it.
   */
  async checkpoint(op: Op, idOrPrefix: string, location: string, timeoutMs: number): Promise<void> {
    const id = this.get(idOrPrefix).id;
    await this.#locks.with(id, async () => {
      const rec = this.get(id);
      await this.#measured('checkpoint', () => checkpointContainer(this.#checkpointEnv(), op, rec, runtimeFor(this.#deps, rec.metadata.runtimeHandler), location, timeoutMs, this.markers));
    });
  }

  /**
   * The containers `ids` checkpointed as one consistency group (CheckpointPod): all paused,
   * all dumped, all resumed (checkpointGroup). Holds every container's lock, taken in id
   * order so that two groups sharing containers cannot deadlock.
   */
  async checkpointGroup(op: Op, ids: readonly string[], destOf: (rec: ContainerRecord) => string, opts: Omit<GroupOptions, 'markers'>): Promise<void> {
    const sorted = [...new Set(ids)].sort();
    const locked = async (i: number): Promise<void> => {
      if (i < sorted.length) return this.#locks.with(sorted[i]!, () => locked(i + 1));
      const members = ids.map((id) => {
        const rec = this.get(id);
        return { rec, runtime: runtimeFor(this.#deps, rec.metadata.runtimeHandler), dest: destOf(rec) };
      });
      await this.#measured('checkpoint', () => checkpointGroup(this.#checkpointEnv(), op, members, { ...opts, markers: this.markers }));
    };
    await locked(0);
  }

  /** Start-up: a container a crashed checkpoint left paused is thawed (checkpoint/in-progress.ts). */
  async thawIfPaused(op: Op, id: string): Promise<void> {
    const rec = this.#deps.records.get(id);
    if (!rec) return;
    const runtime = runtimeFor(this.#deps, rec.metadata.runtimeHandler);
    const state = await runtime.state(op, id).catch(() => undefined);
    if (state?.status !== 'paused' || !runtime.resume) return;
    await runtime.resume(op, id);
    op.log.warn({ container: id }, 'Container thawed: a checkpoint was interrupted while it was paused');
  }

  #checkpointEnv(): CheckpointEnv {
    const upperDir = this.#deps.rootfs.upperDir?.bind(this.#deps.rootfs);
    if (!upperDir) throw new FailedPreconditionError('the rootfs driver cannot tell a container\'s changes; checkpoint is not available');
    return { runRoot: this.#deps.runRoot, criuPath: (o: Op) => this.#criuPath(o), upperDir, cleanupTimeoutMs: this.#deps.cleanupTimeoutMs ?? 60_000 };
  }

  async #measured(kind: 'checkpoint' | 'restore', fn: () => Promise<void>): Promise<void> {
    const begun = process.hrtime.bigint();
    try {
      await fn();
      this.#deps.observer?.checkpointOp?.(kind, 'success', secondsSince(begun));
    } catch (err) {
      this.#deps.observer?.checkpointOp?.(kind, 'failure', secondsSince(begun));
      throw err;
    }
  }

  /** Fails with FailedPreconditionError naming criu when the host has none (CheckpointPod, RestorePod check it first). */
  criuPath(op: Op): Promise<string> {
    return this.#criuPath(op);
  }

  #criuPath(op: Op): Promise<string> {
    if (!this.#deps.criuPath) throw new FailedPreconditionError('checkpoint/restore needs criu, and none is configured');
    return this.#deps.criuPath(op);
  }

  /** ExecSync: runs `cmd` with the container's process settings; timeout 0 = none. */
  async execSync(op: Op, idOrPrefix: string, cmd: readonly string[], timeoutSec: number): Promise<ExecSyncResult> {
    if (cmd.length === 0) throw new InvalidArgumentError('cmd is required');
    const rec = this.get(idOrPrefix);
    if (rec.status.phase !== 'running') throw new FailedPreconditionError(`container ${rec.id} is not running (${rec.status.phase})`);
    const spec = JSON.parse(await readFile(join(rec.metadata.bundle, 'config.json'), 'utf8')) as { process: OciProcess };
    const processSpec: OciProcess = { ...spec.process, args: [...cmd], terminal: false };
    const result = await runtimeFor(this.#deps, rec.metadata.runtimeHandler).execSync(op, rec.id, { processSpec, timeoutSec, terminal: false });
    // CRI-O: a timed-out probe is exit code -1 with the reason on stderr.
    const stderr = result.timedOut ? Buffer.concat([result.stderr, Buffer.from(`command timed out after ${timeoutSec}s`)]) : result.stderr;
    // Both streams go back in one gRPC message, which the kubelet limits to 16 MiB.
    return { ...result, ...fitExecOutput(result.stdout, stderr) };
  }

  /** ReopenContainerLog: conmon reopens the log at the same path (after the kubelet renamed it). */
  async reopenLog(op: Op, idOrPrefix: string): Promise<void> {
    const rec = this.get(idOrPrefix);
    if (rec.status.phase !== 'running') throw new FailedPreconditionError(`container ${rec.id} is not running (${rec.status.phase}); its log cannot be reopened`);
    await runtimeFor(this.#deps, rec.metadata.runtimeHandler).reopenLog(op, rec.id);
    // conmon reopens asynchronously; the kubelet (and critest) expect the new file to
    // exist when the RPC returns, as CRI-O waits for it.
    await waitForFile(rec.metadata.conmonLogPath, REOPEN_WAIT_MS, op.signal, rec.id);
  }

  /** UpdateContainerResources: applied by the runtime first, then persisted (transactional, cri-api.md item 34; container-resize.ts). */
  async updateResources(op: Op, idOrPrefix: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const id = this.get(idOrPrefix).id;
    if (!resources) return;
    await this.#locks.with(id, () => resizeContainer(this.#deps, op, this.get(id), resources));
  }

  /** One round of the exit backstop (reconcile.ts): RUNNING containers whose process is gone get their exit recorded. */
  reconcile(op: Op, rescanExitDir?: () => Promise<void>): Promise<void> {
    return this.#reconciler.run(op, rescanExitDir);
  }

  /** Called by the exit watcher for every exit file. */
  handleExit(exit: ContainerExit): Promise<void> {
    return this.#exits.handle(exit);
  }

  /** Start-up: records, runtime states, exits written while down, half-created containers. */
  async recover(op: Op): Promise<void> {
    await recoverContainers(this.#deps, op, this.#exits, (name, id) => this.#names.reserve(name, id), (rec) => this.#removals.add(rec));
  }

  /** Chain ids container rootfs and image volumes sit on (Store.setLayerUsers). */
  layersInUse(): string[] {
    return [
      ...this.#deps.records.list().flatMap((r) => [r.metadata.topLayer, ...volumeLayers(r.metadata)]),
      ...[...this.#inflight.values()].flatMap((c) => [c.image.topLayer, ...c.volumeImages.map((v) => v.topLayer)]),
    ];
  }

  /**
   * True while a container uses the image, as its rootfs or an image volume (ImageService.setImageUsers). Removed containers
   * whose rootfs is still being deleted are given a go now, but never count as users, even
   * when their teardown fails: the image record goes, and the layers under a rootfs still
   * mounted stay (layersInUse) until a retried teardown and the periodic prune free them.
   */
  async imageInUse(imageId: string): Promise<boolean> {
    const uses = (md: ContainerRecord['metadata']): boolean => md.imageId === imageId || volumeImageIds(md).includes(imageId);
    await this.#removals.settle((r) => uses(r.metadata));
    return this.#deps.records.list().some((r) => isVisible(r) && uses(r.metadata))
      || [...this.#inflight.values()].some((c) => c.image.id === imageId || c.volumeImages.some((v) => v.id === imageId));
  }
}

/**
 * started_at: the runtime's record of when the init process began (launchedAt), else now;
 * never after an exit already recorded.
 */
function startedAtOf(s: ContainerStatusRecord, nowNs: bigint): string {
  const at = s.launchedAt ? s.launchedAt : nowNs.toString();
  return s.phase === 'exited' && s.finishedAt !== '0' ? notAfter(at, BigInt(s.finishedAt)) : at;
}

function secondsSince(begun: bigint): number {
  return Number(process.hrtime.bigint() - begun) / 1e9;
}

/** Containers being removed are not shown to clients. */
function isVisible(rec: ContainerRecord): boolean {
  return rec.status.phase !== 'removing';
}

/** How long ReopenContainerLog waits for conmon to create the new log file. */
const REOPEN_WAIT_MS = 5000;

async function waitForFile(path: string, timeoutMs: number, signal: AbortSignal, id: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      // not there yet
    }
    signal.throwIfAborted();
    if (Date.now() > deadline) throw new FailedPreconditionError(`container ${id}: conmon did not reopen its log ${path} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
