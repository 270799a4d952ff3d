/**
 * Start-up recovery (DESIGN "Process model"): containers outlive the daemon under conmon,
 * so on start every record is reloaded, its true state is asked of the runtime, exits that
 * happened while the daemon was down are recorded (from conmon's persist-dir `exit` file),
 * and containers a crash left half-created or unreadable are cleaned. Nothing here aborts
 * start-up: a container that cannot be recovered is logged and left for RemoveContainer.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { NotFoundError, describeError } from '../lib/errors.ts';
import { parseExitStatus } from '../oci/exit-watcher.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord } from './container-record.ts';
import { bundleDirOf } from './container-create.ts';
import { teardownContainer } from './container-teardown.ts';
import { discardRuntimeContainer, isLaunched } from './container-launch.ts';
import type { ExitTracker } from './exit-tracker.ts';
import { imageVolumeMountPoints } from './image-volumes.ts';

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Exit status recorded when the container ended while nobody watched and conmon left no file. */
const UNKNOWN_EXIT_STATUS = 255;

export async function recoverContainers(deps: ContainerServiceDeps, op: Op, exits: ExitTracker, reserve: (name: string, id: string) => void, retryRemoval: (rec: ContainerRecord) => void = () => undefined): Promise<void> {
  const { loaded, broken } = await deps.records.load();
  for (const b of broken) {
    op.log.error({ container: b.id, err: b.error }, 'Unreadable container record; removing its runtime state, mount and files');
    await cleanBroken(deps, op, b.id).catch((err: unknown) => op.log.error({ container: b.id, err: describeError(err) }, 'Cleaning an unreadable container failed'));
  }
  for (const rec of loaded) {
    try {
      if (rec.status.phase === 'removing') {
        op.log.info({ container: rec.id }, 'Finishing the removal of a container');
        await teardownContainer(deps, op, rec).catch((err: unknown) => {
          op.log.error({ container: rec.id, err: describeError(err) }, 'Finishing a container\'s removal failed; retrying with backoff');
          retryRemoval(rec);
        });
        continue;
      }
      reserve(rec.metadata.name, rec.id);
      if (rec.status.phase === 'created' && !isLaunched(rec)) await discardHalfLaunch(deps, op, rec);
      else if (rec.status.phase === 'created' || rec.status.phase === 'running') await reconcile(deps, op, exits, rec);
    } catch (err) {
      op.log.error({ container: rec.id, err: describeError(err) }, 'Recovering a container failed; it stays as recorded');
    }
  }
  await sweepOrphans(deps, op).catch((err: unknown) => op.log.error({ err: describeError(err) }, 'Sweeping container files without a record failed'));
}

/**
 * Read-write layers and bundles without a record: what a crash leaves of a create that had
 * not written its record yet (container-create.ts writes it last).
 */
async function sweepOrphans(deps: ContainerServiceDeps, op: Op): Promise<void> {
  const known = new Set(deps.records.list().map((r) => r.id));
  const bundles = await readdir(join(deps.runRoot, 'containers')).catch(() => [] as string[]);
  for (const id of new Set([...await deps.rootfs.layerIds(), ...bundles])) {
    if (known.has(id) || !CONTAINER_ID.test(id)) continue;
    op.log.warn({ container: id }, 'Container files without a record; deleting them');
    await cleanBroken(deps, op, id);
  }
}

/**
 * Records the exit of a container whose process is gone from conmon's persist-dir `exit`
 * file (written alongside the exit dir's), or as unknown (255, `unknownMessage`) when conmon
 * left none, e.g. because it was killed too.
 */
export async function recordExitFromPersistDir(deps: ContainerServiceDeps, op: Op, exits: ExitTracker, rec: ContainerRecord, unknownMessage: string): Promise<void> {
  const exitFile = join(rec.metadata.bundle, 'persist', 'exit');
  const [content, st] = await Promise.all([readFile(exitFile, 'utf8').catch(() => ''), stat(exitFile, { bigint: true }).catch(() => undefined)]);
  const code = parseExitStatus(content);
  if (code === undefined) op.log.warn({ container: rec.id }, 'Container ended and left no exit status');
  await exits.record(rec.id, code ?? UNKNOWN_EXIT_STATUS, st?.mtimeNs ?? deps.clock.nowNs(), code === undefined ? unknownMessage : undefined);
  await deps.exitFiles.remove(rec.id);
}

async function reconcile(deps: ContainerServiceDeps, op: Op, exits: ExitTracker, rec: ContainerRecord): Promise<void> {
  const runtime = deps.runtimes.get(rec.metadata.runtimeHandler);
  let status = 'stopped';
  if (runtime) {
    try {
      status = (await runtime.state(op, rec.id)).status;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  if (status === 'stopped') {
    await recordExitFromPersistDir(deps, op, exits, rec, 'the container ended while critter was not running; its exit status is unknown');
    return;
  }
  if (status === 'running' && rec.status.phase === 'created') {
    // Started, but the daemon died before it recorded so.
    await deps.records.update(rec.id, (s) => ({ ...s, phase: 'running', startedAt: s.launchedAt ? s.launchedAt : deps.clock.nowNs().toString() }));
  }
}

/**
 * A CREATED container the daemon died launching (StartContainer had not recorded its pid):
 * the Start never succeeded, so whatever conmon and the runtime hold is discarded and the
 * container stays CREATED for the kubelet's retry.
 */
async function discardHalfLaunch(deps: ContainerServiceDeps, op: Op, rec: ContainerRecord): Promise<void> {
  const runtime = deps.runtimes.get(rec.metadata.runtimeHandler);
  if (!runtime) return;
  try {
    await runtime.state(op, rec.id);
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  op.log.warn({ container: rec.id }, 'Container was being started when critter stopped; discarding the half-done launch');
  await discardRuntimeContainer(deps, op, rec.id, runtime);
}

async function cleanBroken(deps: ContainerServiceDeps, op: Op, id: string): Promise<void> {
  for (const runtime of deps.runtimes.values()) await runtime.delete(op, id, { force: true }).catch(() => undefined);
  const bundle = bundleDirOf(deps.runRoot, id);
  await deps.rootfs.unmount(op, join(bundle, 'rootfs'));
  // Image volumes a crash left mounted, found under the bundle: there may be no record.
  for (const target of await imageVolumeMountPoints(bundle)) await deps.rootfs.unmount(op, target);
  await deps.rootfs.removeLayer(op, id);
  await rm(bundle, { recursive: true, force: true });
  await deps.exitFiles.remove(id);
  await deps.records.remove(id);
}
