/**
 * CreateContainer's work once the name is reserved (DESIGN "Containers"): bundle dir →
 * overlay rootfs → image volumes → OCI spec → config.json → the record, phase created. conmon and the
 * runtime's create come with StartContainer (container-launch.ts), as containerd defers its
 * task to Start: a CREATED container is a prepared bundle. Each step registers its undo; a
 * failure unwinds them all, and what a crash leaves has no record and is swept by recovery.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig.ts';
import type { Op } from '../lib/op.ts';
import { CleanupStack } from '../lib/cleanup-stack.ts';
import { FailedPreconditionError, InvalidArgumentError, describeError } from '../lib/errors.ts';
import type { OciRuntime } from '../oci/runtime.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import type { ImageRecord } from '../storage/store.ts';
import { buildSpec } from './spec/build.ts';
import { requestedCdiDevices, type ResolvedCdi } from './spec/cdi.ts';
import type { PodContext } from './spec/inputs.ts';
import { checkImageConfig, imageLabel } from './image-config.ts';
import { isSameProcessAlive } from '../state/process-identity.ts';
import { uncoveredImageVolumes } from './spec/mounts.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import { initialStatus, type ContainerMetadata } from './container-record.ts';
import { devicesByHostPath, localhostSeccompProfile, podContext, readRootfsFile, resolveConfig } from './create-inputs.ts';
import { effectiveStopSignal } from './stop-signal.ts';
import { mkdirInRoot } from '../storage/rootfs-path.ts';
import { quoteBounded } from '../storage/errors.ts';
import { unpackForRestore, type RestoreInfo } from './checkpoint/restore.ts';
import { mountImageVolumes } from './image-volumes.ts';
import { idmapStagingRoot } from '../storage/idmap-staging.ts';
import { hostIdOfZero } from '../network/userns.ts';

export interface CreatePlan {
  id: string;
  name: string;
  requestDigest: string;
  pod: SandboxRecord;
  config: ContainerConfig__Output;
  image: ImageRecord;
  runtime: OciRuntime;
  /**
   * Called just before the record is written; throws when the pod may no longer get a
   * container (RemovePodSandbox under way, issue 18 item 3), which unwinds the create.
   */
  admit?: () => void;
  /** The images of the config's image volumes, in order (image-volumes.ts imageVolumeImages). */
  volumeImages?: readonly ImageRecord[];
  /** A restore from a checkpoint archive (checkpoint/restore.ts): unpacked into the bundle before the record is written. */
  restore?: RestoreInfo;
}

/** The CRI log path: pod log_directory + config log_path (cri-api.md §4 item 22). */
export function criLogPath(logDirectory: string, logPath: string): string {
  if (logDirectory === '' || logPath === '') return '';
  if (isAbsolute(logPath) || logPath.split('/').includes('..')) throw new InvalidArgumentError(`log_path ${JSON.stringify(logPath)} must be relative to the pod's log_directory, without ".."`);
  return join(logDirectory, logPath);
}

/** The repo digest for status: one of the requested repository if there is one, else the first. */
export function imageRefFor(image: ImageRecord, requested: string): string {
  const repo = requested.split('@')[0]!.replace(/:[^/:]+$/, '');
  return image.digests.find((d) => d.startsWith(`${repo}@`)) ?? image.digests[0] ?? `sha256:${image.id}`;
}

export function bundleDirOf(runRoot: string, id: string): string {
  return join(runRoot, 'containers', id);
}

/** The CDI devices the config asks for, resolved against the node's spec files; undefined when it asks for none. */
async function resolveCdi(deps: ContainerServiceDeps, config: ContainerConfig__Output): Promise<ResolvedCdi | undefined> {
  const names = requestedCdiDevices(config);
  if (names.length === 0) return undefined;
  if (!deps.cdi) throw new FailedPreconditionError(`CDI devices ${names.join(', ')} were asked for, but CDI is not configured`);
  return deps.cdi.resolve(names);
}

export async function createContainer(deps: ContainerServiceDeps, op: Op, plan: CreatePlan): Promise<void> {
  const { id, pod, image, runtime } = plan;
  const log = op.log.child({ container: id });
  const records = deps.records;
  const requested = plan.config.image?.image ?? '';
  const fullImageConfig = await deps.images.config(image.id);
  // Before anything exists for the container: a hostile config leaves nothing to unwind.
  const imageConfig = checkImageConfig(imageLabel(requested, image.id), fullImageConfig.config);
  const config = await resolveConfig(plan.config, pod.metadata.config);
  const bundle = bundleDirOf(deps.runRoot, id);
  const rootfsPath = join(bundle, 'rootfs');
  const logPath = criLogPath(pod.metadata.config.log_directory, config.log_path);
  const metadata: ContainerMetadata = {
    name: plan.name, requestDigest: plan.requestDigest, podId: pod.id, config: plan.config, runtimeHandler: runtime.handler,
    imageRequested: requested, imageId: image.id, imageRef: imageRefFor(image, requested), topLayer: image.topLayer,
    createdAt: deps.clock.nowNs().toString(), logPath, conmonLogPath: logPath === '' ? join(bundle, 'console.log') : logPath,
    bundle, stopSignal: effectiveStopSignal(config.stop_signal, imageConfig.StopSignal),
    ...(plan.restore ? { restore: plan.restore } : {}),
  };
  const privileged = config.linux?.security_context?.privileged ?? false;
  // What the spec needs from the host, gathered while the rootfs is mounted.
  const hostInputs = Promise.all([
    deps.env.hostFacts(privileged), runtime.supportsRecursiveReadOnly?.(op) ?? false, deps.env.defaults(), devicesByHostPath(config),
    localhostSeccompProfile(config), resolveCdi(deps, config),
  ]);
  hostInputs.catch(() => undefined); // awaited below; a mount failure must not leave it unhandled
  const stack = new CleanupStack();
  try {
    const podCtx = await liveInfraContext(pod);
    const stagingDir = join(idmapStagingRoot(deps.runRoot), id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    // runc 1.1 mounts the rootfs from inside the pod's user namespace: its root must reach it.
    if (podCtx.userns) {
      await chmod(dirname(bundle), 0o711);
      await chmod(bundle, 0o711);
    }
    stack.push(`remove bundle ${bundle}`, () => rm(bundle, { recursive: true, force: true }));
    stack.push(`remove read-write layer of ${id}`, (signal) => deps.rootfs.removeLayer({ log, signal }, id));
    stack.push(`unmount ${rootfsPath}`, (signal) => deps.rootfs.unmount({ log, signal }, rootfsPath));
    const idmap = podCtx.userns
      ? { usernsPath: podCtx.userns.path, uid: hostIdOfZero(podCtx.userns.uids), gid: hostIdOfZero(podCtx.userns.gids), stagingDir }
      : undefined;
    await deps.rootfs.mount(op, id, deps.layers.lowerDirs(image.topLayer), rootfsPath, idmap);
    const volumes = await mountImageVolumes(deps, { log, signal: op.signal }, stack, bundle, config, plan.volumeImages ?? []);
    if (volumes.records.length > 0) metadata.imageVolumes = volumes.records;

    const [[hostFacts, runtimeRro, defaults, devices, localhostProfile, cdi], etcPasswd, etcGroup] = await Promise.all([
      hostInputs, readRootfsFile(rootfsPath, 'etc/passwd'), readRootfsFile(rootfsPath, 'etc/group'),
    ]);
    // RRO needs the kernel (5.12+) AND the OCI runtime: runc < 1.2 silently ignores `rro`.
    const host = { ...hostFacts, rroSupported: hostFacts.rroSupported && runtimeRro };
    const built = buildSpec({
      containerId: id, config, sandboxConfig: pod.metadata.config, imageName: requested, image: imageConfig,
      etcPasswd, etcGroup, pod: podCtx, host, defaults, rootfsPath, devicesByHostPath: devices, idmapStagingDir: stagingDir,
      ...(localhostProfile === undefined ? {} : { localhostSeccompProfile: localhostProfile }),
      ...(cdi === undefined ? {} : { cdi }), imageVolumes: volumes.hostPaths,
    });
    // CRI-O's image_volumes = mkdir: declared volumes nothing mounts become plain dirs,
    // created inside the rootfs even under a symlink the image points at a host path. One
    // that cannot be (a file or a loop on its way) fails the create, as CRI-O's does.
    for (const v of uncoveredImageVolumes(imageConfig.Volumes, built.spec.mounts)) {
      await mkdirInRoot(rootfsPath, v, 0o755).catch((err: unknown) => {
        throw new FailedPreconditionError(`image volume ${quoteBounded(v)} cannot be created in the container's rootfs`, { cause: err });
      });
    }
    if (built.idmapBinds.length > 0) metadata.idmapBinds = built.idmapBinds.map((b) => ({ ...b, usernsPath: podCtx.userns!.path }));
    await writeFile(join(bundle, 'config.json'), JSON.stringify(built.spec), { mode: 0o600 });
    await mkdir(dirname(metadata.conmonLogPath), { recursive: true, mode: 0o755 });
    if (plan.restore) await unpackForRestore(op, plan.restore.archive, bundle, rootfsPath, metadata.conmonLogPath);

    // Written last, in one durable step: a crash before it leaves a rootfs and bundle
    // without a record, which recovery sweeps (container-recovery.ts sweepOrphans).
    plan.admit?.();
    await records.create(id, metadata, { ...initialStatus(config.linux?.resources ?? null), user: built.user });
    stack.commit();
    log.info({ name: plan.name, pod: pod.id, image: image.id }, 'Container created');
  } catch (err) {
    log.warn({ err: describeError(err) }, 'CreateContainer failed; unwinding');
    await stack.unwind(log, deps.cleanupTimeoutMs ?? 60_000);
    throw err;
  }
}

/** The pod's context, without an infra pid that no longer names the pod's infra process (it died; the PID may be reused). */
async function liveInfraContext(pod: SandboxRecord): Promise<PodContext> {
  const ctx = podContext(pod);
  if (pod.status.infra !== undefined && !(await isSameProcessAlive(pod.status.infra))) delete ctx.infraPid;
  return ctx;
}

/** The runtime serving the pod's handler. @throws FailedPreconditionError */
export function runtimeFor(deps: ContainerServiceDeps, handler: string): OciRuntime {
  const runtime = deps.runtimes.get(handler);
  if (!runtime) throw new FailedPreconditionError(`runtime handler "${handler}" is not available (have: ${[...deps.runtimes.keys()].join(', ')})`);
  return runtime;
}
