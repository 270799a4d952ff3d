/**
 * Builds the container side: one conmon-driven OCI runtime per available handler, the
 * exit watcher on their shared exit dir, the overlay rootfs manager, host facts, the
 * container records and the ContainerService, registered with storage and images as the
 * user of its layers and images.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { findExecutable } from '../host/checks.ts';
import { FailedPreconditionError, NotFoundError, describeError } from '../lib/errors.ts';
import { ConmonOciRuntime, runtimeRootFor } from '../oci/conmon-runtime.ts';
import { ExitWatcher } from '../oci/exit-watcher.ts';
import type { OciRuntime } from '../oci/runtime.ts';
import { ExecOutputBudget } from '../oci/exec-budget.ts';
import { fullCollection } from './gc.ts';
import { GarbageAfterBigBuffers } from './idle-trim.ts';
import type { Store } from '../storage/store.ts';
import type { ImageService } from '../image/image-service.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import { ContainerService } from '../container/container-service.ts';
import { containerRecordStore } from '../container/container-record.ts';
import { OverlayRootfs } from '../storage/overlay-rootfs.ts';
import { CgroupOomDetector } from '../container/oom.ts';
import { CdiRegistry } from '../container/cdi/cdi-registry.ts';
import { LIMITED_CONTROLLERS } from '../container/spec/resources.ts';
import { detectStaticHostFacts, hostFactsFor, type StaticHostFacts } from '../container/host-facts.ts';
import type { HostFacts, RuntimeDefaults } from '../container/spec/inputs.ts';
import type { ContainerObserver } from '../container/container-deps.ts';
import { Periodic } from '../lib/periodic.ts';
import { removeShortSocketDirs, socketDirsFor } from './socket-dirs.ts';
import { AppArmorProfileLoader } from '../host/apparmor.ts';
import { DEFAULT_APPARMOR_PROFILE } from '../host/apparmor-profile.ts';

/**
 * A full collection once ExecSync calls have let go of this much output (two capped
 * outputs)… (memory benchmark: without it RSS peaked at 1.15 GiB under a 256 MiB budget)
 */
const EXEC_GARBAGE_COLLECT_BYTES = 32 * 1024 * 1024;
/** …at most this often: a full collection of the daemon's heap takes a few milliseconds. */
const EXEC_GARBAGE_COLLECT_INTERVAL_MS = 250;

export interface ComposedContainers {
  containers: ContainerService;
  /** The OCI runtime of a handler (attach socket, ctl FIFO for streaming). @throws NotFoundError */
  runtime(handler: string): OciRuntime;
  /** Recovery, then live exit monitoring (exits written while down are consumed by both). */
  start(): Promise<void>;
  /** Stops the background work; resolves once a long run root's short socket dir is gone (if empty). */
  close(): Promise<void>;
}

/** ExecSync output let go of is collected in batches (src/daemon/idle-trim.ts), when node lets us. */
function execOutputGarbage(): ((bytes: number) => void) | undefined {
  if (!fullCollection) return undefined;
  const garbage = new GarbageAfterBigBuffers({ collect: fullCollection, afterBytes: EXEC_GARBAGE_COLLECT_BYTES, minIntervalMs: EXEC_GARBAGE_COLLECT_INTERVAL_MS });
  return (bytes) => garbage.dropped(bytes);
}

async function runtimesFor(config: Config, exitDir: string): Promise<Map<string, OciRuntime>> {
  const conmonPath = (await findExecutable(config.runtime.conmon_path)) ?? config.runtime.conmon_path;
  const out = new Map<string, OciRuntime>();
  const execOutputBudget = new ExecOutputBudget(config.runtime.exec_sync_output_budget_mib * 1024 * 1024, execOutputGarbage());
  for (const [name, h] of Object.entries(config.runtime.handlers)) {
    const binary = await findExecutable(h.path);
    if (!binary) continue;
    out.set(name, new ConmonOciRuntime({
      handler: name,
      runtimeBinary: binary,
      conmonPath,
      runtimeRoot: h.root === '' ? runtimeRootFor(config.run_root, name) : h.root,
      socketDir: socketDirsFor(config.run_root).conmon,
      exitDir,
      scratchDir: join(config.run_root, 'exec'),
      systemdCgroup: config.cgroup_driver === 'systemd',
      execOutputBudget,
    }));
  }
  return out;
}

export interface ComposeContainersInput {
  config: Config;
  log: Logger;
  store: Store;
  images: ImageService;
  sandboxes: SandboxService;
  /** Told about lifecycle points and OOM kills (events, metrics). */
  observer?: ContainerObserver;
}

export async function composeContainers(input: ComposeContainersInput): Promise<ComposedContainers> {
  const { config, log } = input;
  const exitDir = join(config.run_root, 'exits');
  const runtimes = await runtimesFor(config, exitDir);
  let fixed: Promise<StaticHostFacts> | undefined;
  let defaults: Promise<RuntimeDefaults> | undefined;
  const staticFacts = (): Promise<StaticHostFacts> => {
    fixed ??= detectStaticHostFacts(config.cgroup_driver).then((f) => {
      if (f.oomScoreAdjRestricted) log.warn({ minOomScoreAdj: f.minOomScoreAdj }, 'No CAP_SYS_RESOURCE: container oom_score_adj below the daemon\'s own is raised to it');
      const missing = LIMITED_CONTROLLERS.filter((c) => !f.cgroupControllers.includes(c));
      if (missing.length > 0) log.warn({ missing, cgroupVersion: f.cgroupVersion }, 'cgroup controllers missing on this host: container limits for them are dropped');
      return f;
    });
    return fixed;
  };
  // critter loads only its own profile; any other runtime.apparmor_profile is the operator's to load.
  const apparmorProfile = config.runtime.apparmor_profile;
  const apparmorLoader = apparmorProfile === DEFAULT_APPARMOR_PROFILE ? new AppArmorProfileLoader() : undefined;
  const loadApparmorProfile = async (): Promise<boolean> => {
    if (!apparmorLoader) return false;
    try {
      await apparmorLoader.ensureLoaded({ log, signal: AbortSignal.timeout(120_000) }, apparmorProfile);
      return true;
    } catch (err) {
      log.error({ profile: apparmorProfile, err: describeError(err) }, 'AppArmor default profile not loaded: containers that need it fail to create');
      return false;
    }
  };
  const hostFacts = async (privileged: boolean): Promise<HostFacts> => {
    const f = await staticFacts();
    const facts = await hostFactsFor(f, privileged);
    // Not loaded at start (no parser then) or unloaded since: retried per create, as containerd
    // loads its profile on each create, so installing the apparmor package needs no restart.
    if (f.apparmorEnabled && apparmorLoader && facts.apparmorProfiles?.has(apparmorProfile) === false && (await loadApparmorProfile())) {
      return hostFactsFor(f, privileged);
    }
    return facts;
  };
  let watcher: ExitWatcher | undefined;
  const containers: ContainerService = new ContainerService({
    runRoot: config.run_root,
    log,
    runtimes,
    pods: input.sandboxes,
    images: input.images,
    layers: input.store,
    rootfs: new OverlayRootfs({ layersDir: join(config.root, 'overlay-containers') }),
    env: {
      hostFacts,
      defaults: () => {
        defaults ??= readFile(config.runtime.seccomp_profile, 'utf8')
          .then((t) => JSON.parse(t) as unknown, (err: unknown) => {
            log.warn({ path: config.runtime.seccomp_profile, err: describeError(err) }, 'RuntimeDefault seccomp profile unreadable');
            return undefined;
          })
          .then((profile) => ({
            defaultCapabilities: config.runtime.default_capabilities, seccompDefaultProfile: profile, apparmorDefaultProfile: apparmorProfile,
          }));
        return defaults;
      },
    },
    records: containerRecordStore(join(config.root, 'containers')),
    exitFiles: { remove: async (id) => watcher?.remove(id) },
    oom: new CgroupOomDetector(),
    cdi: new CdiRegistry({ dirs: config.cdi.spec_dirs, log: log.child({ component: 'cdi' }) }),
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    createTimeoutMs: config.runtime.create_timeout_seconds * 1000,
    // Looked up per call: criu may be installed after the daemon started.
    criuPath: async () => {
      const found = await findExecutable(config.runtime.criu_path);
      if (!found) throw new FailedPreconditionError(`checkpoint/restore needs CRIU: criu ${JSON.stringify(config.runtime.criu_path)} not found (install the Debian package criu, or set runtime.criu_path)`);
      return found;
    },
    ...(input.observer ? { observer: input.observer } : {}),
  });
  watcher = new ExitWatcher({ dir: exitDir, log, onExit: (e) => void containers.handleExit(e) });
  // Backstops (issue 18 items 4 and 5): exits no watch event reported, layers a crash left.
  const reconcile = new Periodic({
    name: 'container exit reconcile', periodMs: config.runtime.reconcile_period_seconds * 1000, log,
    run: () => containers.reconcile({ log: log.child({ component: 'reconcile' }), signal: AbortSignal.timeout(60_000) }, () => watcher?.rescan() ?? Promise.resolve()),
  });
  const pruneOp = () => ({ log: log.child({ component: 'layer-prune' }), signal: AbortSignal.timeout(300_000) });
  const prune = new Periodic({ name: 'layer prune', periodMs: config.image.layer_prune_period_seconds * 1000, log, run: () => input.store.pruneLayers(pruneOp()) });
  input.store.setLayerUsers(() => containers.layersInUse());
  input.images.setImageUsers((id) => containers.imageInUse(id));
  return {
    containers,
    runtime(handler) {
      const rt = runtimes.get(handler);
      if (!rt) throw new NotFoundError(`runtime handler "${handler}" is not available`);
      return rt;
    },
    async start() {
      if ((await staticFacts()).apparmorEnabled) await loadApparmorProfile();
      await containers.recover({ log: log.child({ component: 'recovery' }), signal: AbortSignal.timeout(300_000) });
      await watcher.start();
      await input.store.pruneLayers(pruneOp()).catch((err: unknown) => log.warn({ err: describeError(err) }, 'Layer prune at start-up failed; the periodic one retries'));
      reconcile.start();
      prune.start();
    },
    async close() {
      watcher?.close();
      containers.close();
      await Promise.all([reconcile.stop(), prune.stop()]);
      await removeShortSocketDirs(socketDirsFor(config.run_root));
    },
  };
}
