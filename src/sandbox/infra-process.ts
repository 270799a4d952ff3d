/**
 * Starts and stops pods' infra processes (DESIGN "Pod sandboxes") through the pod's OCI
 * runtime, under conmon like any container, so they outlive the daemon. The runtime id of
 * a pod's infra is the pod id (CRI-O names its infra container after the sandbox too); its
 * bundle is `<pod run dir>/infra`, and conmon writes its exit file to a dir of its own, so
 * an infra exit is never taken for a workload container's. With a pause image configured,
 * `<bundle>/rootfs` is an overlay of the image's layers (upper and work dirs in
 * `<bundle>/overlay`), unmounted when the infra process is stopped.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError, NotFoundError, describeError } from '../lib/errors.ts';
import type { OciRuntime } from '../oci/runtime.ts';
import { ExitWatcher } from '../oci/exit-watcher.ts';
import { isSameProcess, processStartTime } from '../oci/process-identity.ts';
import type { PinnedNamespaces } from '../network/netns.ts';
import type { IdMap } from '../network/userns.ts';
import type { ProcessRef } from '../state/process-identity.ts';
import { OverlayRootfs, type RootfsIdmap } from '../storage/overlay-rootfs.ts';
import { hostIdOfZero } from '../network/userns.ts';
import { mkdirInRoot, writeFileInRoot } from '../storage/rootfs-path.ts';
import { INFRA_ROOTFS_DIRS, INFRA_ROOTFS_FILES, buildInfraSpec, type InfraSpecInputs } from './infra-spec.ts';
import type { PreparedInfraImage } from './infra-image.ts';

export interface InfraStartRequest {
  podId: string;
  handler: string;
  runDir: string;
  namespaces: PinnedNamespaces;
  cgroupParent: string;
  /** The pod user namespace's mappings, with `namespaces.user`. */
  userns?: { uids: readonly IdMap[]; gids: readonly IdMap[] };
}

export interface InfraStopRequest {
  podId: string;
  handler: string;
  runDir: string;
  /** The recorded process, waited for after the kill; absent when none was recorded. */
  infra?: ProcessRef;
}

/** What SandboxService needs of the infra processes (a fake in its unit tests). */
export interface PodInfra {
  /** Creates and starts the infra process; resolves once it runs. */
  start(op: Op, req: InfraStartRequest): Promise<ProcessRef>;
  /** Kills and deletes it and waits for it and its conmon to end. Idempotent. */
  stop(op: Op, req: InfraStopRequest): Promise<void>;
  /** True while the recorded process (pid and start time) runs. */
  isAlive(ref: ProcessRef): Promise<boolean>;
  /** Reports infra exits by pod id, including those written while the daemon was down. */
  watch(onExit: (podId: string) => Promise<void>): Promise<void>;
}

export interface InfraProcessesDeps {
  /** The OCI runtime of a handler. @throws NotFoundError */
  runtime(handler: string): OciRuntime;
  /** Absolute path of catatonit (runtime.infra_command), or undefined when it was not found. */
  binary: string | undefined;
  /** The configured name, for error messages. */
  configuredCommand: string;
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** conmon's exit dir for infra processes only. */
  exitDir: string;
  log: Logger;
  /** How long stop waits for the process and its conmon to end; default 10 s. */
  stopWaitMs?: number;
  /** Staging dir of id-mapped layer copies (idmap-staging.ts); pods with a user namespace need it for a pause image. */
  idmapStagingDir?: string;
  /** runtime.pause_image, when set: infra processes run it instead of catatonit. */
  pauseImage?: { prepare(op: Op): Promise<PreparedInfraImage> };
}

/** The id of the overlay's upper/work dir inside the bundle. */
const OVERLAY_ID = 'overlay';

/** The bundle of a pod's infra process. */
function infraBundleDir(runDir: string): string {
  return join(runDir, 'infra');
}

export class InfraProcesses implements PodInfra {
  readonly #deps: InfraProcessesDeps;
  #watcher: ExitWatcher | undefined;

  constructor(deps: InfraProcessesDeps) {
    this.#deps = deps;
  }

  /**
   * Callers run `stop()` when this throws: it also unmounts a pause image's rootfs.
   * @throws FailedPreconditionError without catatonit; a pause image pull's error
   */
  async start(op: Op, req: InfraStartRequest): Promise<ProcessRef> {
    const runtime = this.#deps.runtime(req.handler);
    const bundle = infraBundleDir(req.runDir);
    const rootfs = join(bundle, 'rootfs');
    const common = {
      podId: req.podId, namespaces: req.namespaces, cgroupParent: req.cgroupParent, cgroupDriver: this.#deps.cgroupDriver,
      ...(req.userns ? { userns: req.userns } : {}),
    };
    let inputs: InfraSpecInputs;
    if (this.#deps.pauseImage) {
      const image = await this.#deps.pauseImage.prepare(op);
      await new OverlayRootfs({ layersDir: bundle }).mount(op, OVERLAY_ID, image.lowerDirs, rootfs, this.#idmapFor(req));
      op.log.debug({ pod: req.podId, image: image.imageId }, 'Pause image rootfs mounted for the infra process');
      inputs = { ...common, image: image.process };
    } else {
      const binary = this.#deps.binary;
      if (binary === undefined) {
        throw new FailedPreconditionError(`pod ${req.podId} shares one PID namespace (pid = POD) and needs an infra process, but runtime.infra_command "${this.#deps.configuredCommand}" was not found (Debian package catatonit)`);
      }
      // critter's own empty dir, but resolved inside it all the same: a pause image's
      // overlay left mounted there by a crash would otherwise be written through.
      await mkdir(rootfs, { recursive: true, mode: 0o755 });
      for (const dir of INFRA_ROOTFS_DIRS) await mkdirInRoot(rootfs, dir, 0o755);
      for (const file of INFRA_ROOTFS_FILES) await writeFileInRoot(rootfs, file, '', 0o644);
      inputs = { ...common, hostBinary: binary };
    }
    const spec = buildInfraSpec(inputs);
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
    const created = await runtime.createContainer(op, {
      id: req.podId, bundle, logPath: join(bundle, 'infra.log'), exitDir: this.#deps.exitDir, persistDir: join(bundle, 'persist'),
      terminal: false, stdin: false, stdinOnce: false,
    });
    await runtime.start(op, req.podId);
    op.log.info({ pod: req.podId, pid: created.pid, conmonPid: created.conmonPid }, 'Pod infra process started');
    return { pid: created.pid, startTime: created.pidStartTime };
  }

  /** The pause image's layers id-mapped into the pod's user namespace, if it has one. */
  #idmapFor(req: InfraStartRequest): RootfsIdmap | undefined {
    const usernsPath = req.namespaces.user;
    if (usernsPath === undefined || !req.userns) return undefined;
    if (this.#deps.idmapStagingDir === undefined) throw new FailedPreconditionError(`pod ${req.podId}: no staging dir for id-mapped mounts`);
    return { usernsPath, uid: hostIdOfZero(req.userns.uids), gid: hostIdOfZero(req.userns.gids), stagingDir: join(this.#deps.idmapStagingDir, `infra-${req.podId}`) };
  }

  async stop(op: Op, req: InfraStopRequest): Promise<void> {
    const runtime = this.#deps.runtime(req.handler);
    const conmon = await this.#conmonOf(req.runDir);
    await runtime.kill(op, req.podId, 'SIGKILL').catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
    const waitMs = this.#deps.stopWaitMs ?? 10_000;
    if (req.infra && !(await waitGone(req.infra, waitMs, op.signal))) {
      throw new FailedPreconditionError(`the infra process ${req.infra.pid} of pod ${req.podId} is still alive after SIGKILL`);
    }
    await runtime.delete(op, req.podId, { force: true });
    if (conmon && !(await waitGone(conmon, waitMs, op.signal))) {
      op.log.warn({ pod: req.podId, conmonPid: conmon.pid }, 'conmon of the infra process did not exit after its container ended');
    }
    await rm(join(this.#deps.exitDir, req.podId), { force: true });
    // Unconditionally: the pod may have started under an earlier pause_image setting.
    const bundle = infraBundleDir(req.runDir);
    const overlay = new OverlayRootfs({ layersDir: bundle });
    await overlay.unmount(op, join(bundle, 'rootfs'));
    await overlay.removeLayer(op, OVERLAY_ID);
  }

  isAlive(ref: ProcessRef): Promise<boolean> {
    return isSameProcess(ref.pid, ref.startTime);
  }

  async watch(onExit: (podId: string) => Promise<void>): Promise<void> {
    const watcher = new ExitWatcher({
      dir: this.#deps.exitDir,
      log: this.#deps.log,
      onExit: (exit) => {
        void onExit(exit.id)
          .then(() => watcher.remove(exit.id))
          .catch((err: unknown) => this.#deps.log.error({ pod: exit.id, err: describeError(err) }, 'Cannot record the end of a pod infra process'));
      },
    });
    this.#watcher = watcher;
    await watcher.start();
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** conmon's identity from its pid file in the bundle, if it still runs. */
  async #conmonOf(runDir: string): Promise<ProcessRef | undefined> {
    const text = await readFile(join(infraBundleDir(runDir), 'persist', 'conmon.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const startTime = await processStartTime(pid);
    return startTime === undefined ? undefined : { pid, startTime };
  }
}

/** Polls until the process is gone (or a zombie); false after `ms`. */
async function waitGone(ref: ProcessRef, ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (await isSameProcess(ref.pid, ref.startTime)) {
    if (Date.now() > deadline || signal.aborted) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}
