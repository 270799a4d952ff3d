/**
 * The composition root: the only place services are constructed and wired (DESIGN
 * convention 5). Everything a service needs arrives through its deps object.
 */
import { CgroupLimitWriter, detectCgroupVersion } from '../host/cgroup-limits.ts';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import type { CheckResult } from '../host/checks.ts';
import { findExecutable } from '../host/checks.ts';
import { RuntimeInfoService, type RuntimeHandlerInfo } from '../runtime/info-service.ts';
import { join } from 'node:path';
import { CniConfigWatcher } from '../network/cni-config.ts';
import { CniManager } from '../network/cni.ts';
import { NamespaceManager } from '../network/netns.ts';
import { RecordStore } from '../state/record-store.ts';
import { PodFiles } from '../sandbox/pod-files.ts';
import { SandboxService } from '../sandbox/sandbox-service.ts';
import { PodCheckpointService } from '../container/checkpoint/pod-checkpoint.ts';
import { InfraProcesses } from '../sandbox/infra-process.ts';
import { PauseImage } from '../sandbox/infra-image.ts';
import type { SandboxMetadata, SandboxStatusRecord } from '../sandbox/sandbox-record.ts';
import type { Services } from '../server/services.ts';
import { composeImages } from './compose-images.ts';
import { composeAdmin, type ComposedAdmin } from './compose-admin.ts';
import { composeContainers, type ComposedContainers } from './compose-containers.ts';
import { composeStreaming } from './compose-streaming.ts';
import { composeStats } from './compose-stats.ts';
import { gatherStatus } from '../admin/status.ts';
import { RecordStreamTargets } from '../container/stream/record-targets.ts';
import { Metrics } from '../metrics/metrics.ts';
import type { Config } from '../config/schema.ts';
import { release } from 'node:os';
import type { OciRuntime } from '../oci/runtime.ts';
import { kernelSupportsRro } from '../container/host-facts.ts';
import { probeUserNamespaces, searchableByOthers } from '../host/userns-probe.ts';
import { idmapStagingRoot, sweepStaging } from '../storage/idmap-staging.ts';

export interface ComposeInput {
  loaded: LoadedConfig;
  log: Logger;
  version: string;
  hostChecks: readonly CheckResult[];
}

/** A composed daemon: the services plus what must be started and closed with them. */
export interface Composed {
  services: Services;
  metrics: Metrics;
  /** The CLI's admin socket: started once the daemon is ready, closed first on shutdown. */
  admin: ComposedAdmin;
  /** Start-up work (recovery) to finish before RPCs are served. */
  start(): Promise<void>;
  /** Ends the long-lived streams (container events) so that shutdown can drain the rest. */
  endStreams(): void;
  /** Applies the reloadable keys of a new configuration (SIGHUP). */
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
}

async function availableHandlers(loaded: LoadedConfig): Promise<RuntimeHandlerInfo[]> {
  const out: RuntimeHandlerInfo[] = [];
  for (const [name, h] of Object.entries(loaded.config.runtime.handlers)) {
    if (!(await findExecutable(h.path))) continue;
    const info = { name, recursiveReadOnlyMounts: false, userNamespaces: false };
    out.push(info);
    // The default handler is also reachable as "" (a pod that names no RuntimeClass).
    if (name === loaded.config.runtime.default_handler) out.unshift({ ...info, name: '' });
  }
  return out;
}

/**
 * Fills in what each handler can do once its runtime exists: recursive read-only mounts
 * need the kernel (mount_setattr, 5.12+) and a runtime that lists `rro` in its features.
 * The objects are the ones Status reports, so this runs before the daemon is ready.
 */
async function detectHandlerFeatures(
  log: Logger, handlers: RuntimeHandlerInfo[], runtime: (name: string) => OciRuntime, defaultHandler: string, usernsScratch: string, runRoot: string,
): Promise<void> {
  const kernel = kernelSupportsRro(release());
  const op = { log, signal: AbortSignal.timeout(30_000) };
  // User namespaces need the host (probed once: id-mapped mounts on the storage root's
  // filesystem under overlayfs) and a runtime that joins a user namespace by path.
  let userns = await probeUserNamespaces(usernsScratch);
  if (userns.ok) userns = await searchableByOthers(runRoot);
  if (!userns.ok) log.warn({ reason: userns.reason }, 'Pod user namespaces are not available on this host (user_namespaces feature off)');
  for (const h of handlers) {
    const name = h.name === '' ? defaultHandler : h.name;
    const rt = runtime(name);
    h.recursiveReadOnlyMounts = kernel && (await rt.supportsRecursiveReadOnly?.(op).catch(() => false) ?? false);
    h.userNamespaces = userns.ok && (await rt.supportsUserNamespaces?.(op).catch(() => false) ?? false);
  }
}

export async function compose(input: ComposeInput): Promise<Composed> {
  const { config, sources } = input.loaded;
  const metrics = new Metrics({ processMetrics: config.metrics.enabled });
  // The pod and container services need each other: pods stop and remove their containers.
  let containerPart: ComposedContainers | undefined;
  let sandboxesLate: SandboxService | undefined;
  const statsPart = await composeStats({ config, log: input.log, metrics, sandboxes: () => sandboxesLate!, containers: () => containerPart!.containers });
  const cniConfigs = new CniConfigWatcher({ confDir: config.cni.conf_dir, log: input.log.child({ component: 'cni-config' }) });
  const cni = new CniManager({ configs: cniConfigs, pluginDirs: config.cni.plugin_dirs, cacheDir: join(config.root, 'cni', 'results'), observer: statsPart.cniObserver });
  const handlers = await availableHandlers(input.loaded);
  const imagePart = await composeImages(config, input.log.child({ component: 'images' }), input.version);
  imagePart.images.setPullObserver(statsPart.pullObserver);
  const pauseImage = config.runtime.pause_image === '' ? undefined : new PauseImage({
    reference: config.runtime.pause_image,
    images: imagePart.images,
    lowerDirs: (topLayer) => imagePart.store.lowerDirs(topLayer),
  });
  const infra = new InfraProcesses({
    runtime: (handler) => containerPart!.runtime(handler),
    binary: await findExecutable(config.runtime.infra_command),
    configuredCommand: config.runtime.infra_command,
    cgroupDriver: config.cgroup_driver,
    exitDir: join(config.run_root, 'infra-exits'),
    idmapStagingDir: idmapStagingRoot(config.run_root),
    log: input.log.child({ component: 'infra' }),
    ...(pauseImage ? { pauseImage } : {}),
  });
  const sandboxes = new SandboxService({
    runRoot: config.run_root,
    runtimeHandlers: handlers.map((h) => h.name).filter((n) => n !== ''),
    defaultHandler: config.runtime.default_handler,
    cgroupDriver: config.cgroup_driver,
    log: input.log.child({ component: 'sandbox' }),
    cni,
    namespaces: new NamespaceManager({ runRoot: config.run_root, log: input.log }),
    files: new PodFiles({ hostResolvConf: '/etc/resolv.conf', hostHosts: '/etc/hosts' }),
    records: new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(config.root, 'pods'), kind: 'pod' }),
    containers: {
      stopAllInPod: (op, podId, timeoutSec) => containerPart!.containers.stopAllInPod(op, podId, timeoutSec),
      removeAllInPod: (op, podId) => containerPart!.containers.removeAllInPod(op, podId),
    },
    infra,
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    podCgroups: new CgroupLimitWriter({ version: await detectCgroupVersion() }),
    createTimeoutMs: config.runtime.create_timeout_seconds * 1000,
    userNamespaces: (handler) => handlers.some((h) => h.name === handler && h.userNamespaces),
  });
  sandboxesLate = sandboxes;
  containerPart = await composeContainers({ config, log: input.log.child({ component: 'containers' }), store: imagePart.store, images: imagePart.images, sandboxes, observer: statsPart.containerObserver });
  const containersReady = containerPart;
  const podCheckpoints = new PodCheckpointService({
    sandboxes, containers: containersReady.containers, defaultHandler: config.runtime.default_handler, runRoot: config.run_root, cleanupTimeoutMs: 60_000,
    imageIdOf: (spec) => {
      try {
        return imagePart.images.require(spec).id;
      } catch {
        return undefined;
      }
    },
  });
  if (pauseImage) {
    // RemoveImage refuses the pause image while a pod's infra process runs from it.
    imagePart.images.setImageUsers(async (id) => (await containersReady.containers.imageInUse(id))
      || (id === pauseImage.storedId() && sandboxes.list().some((p) => p.status.infra !== undefined)));
  }
  const streaming = await composeStreaming({
    config,
    log: input.log.child({ component: 'streaming' }),
    targets: new RecordStreamTargets({ containers: containersReady.containers, sandboxes }),
    ociRuntime: (handler) => containersReady.runtime(handler),
  });
  const runtimeInfo = new RuntimeInfoService({
    config,
    configSources: sources,
    version: input.version,
    network: { networkCondition: () => ({ type: 'NetworkReady', status: cni.readiness().ready, reason: cni.readiness().reason, message: cni.readiness().message }) },
    hostChecks: input.hostChecks,
    handlers,
  });
  return {
    services: {
      runtimeInfo, sandboxes, images: imagePart.images, containers: containersReady.containers, podCheckpoints, streaming: streaming.service,
      stats: statsPart.stats, containerEvents: statsPart.events,
    },
    metrics,
    admin: composeAdmin(config, input.log.child({ component: 'admin' }), imagePart.images, imagePart.store, () => gatherStatus({
      version: input.version,
      conditions: () => runtimeInfo.conditions(),
      podStates: () => sandboxes.list().map((p) => p.status.phase),
      containerStates: () => containersReady.containers.list(null).map((c) => c.status.phase),
      imageCount: () => imagePart.images.list().length,
      storageUsage: () => imagePart.images.usage(),
    })),
    async start() {
      await runtimeInfo.load();
      // Id-mapped mounts exist only during a mount or a runtime create: any left are a crash's.
      await sweepStaging(idmapStagingRoot(config.run_root));
      await detectHandlerFeatures(input.log, handlers, (name) => containersReady.runtime(name), config.runtime.default_handler, join(config.root, 'userns-probe'), config.run_root);
      await cniConfigs.start();
      await sandboxes.recover({ log: input.log.child({ component: 'recovery' }), signal: AbortSignal.timeout(300_000) });
      await containersReady.start();
      // After both: a checkpoint a crash interrupted may have left containers paused, a restore a half-made pod.
      await podCheckpoints.recover({ log: input.log.child({ component: 'recovery' }), signal: AbortSignal.timeout(300_000) });
      await streaming.start();
      await statsPart.start();
    },
    endStreams() {
      statsPart.events.closeAll();
    },
    async reload(next) {
      await imagePart.reload(next);
    },
    async close() {
      await statsPart.close();
      await streaming.close();
      infra.close();
      cniConfigs.close();
      await containersReady.close();
      await imagePart.close();
    },
  };
}
