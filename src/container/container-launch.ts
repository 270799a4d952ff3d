/**
 * Putting a CREATED container under conmon: `<runtime> create` through conmon, done by
 * StartContainer just before `<runtime> start`, as containerd creates its task in Start.
 * CreateContainer then only prepares the bundle (rootfs, config.json), which is what makes
 * it cheap; the container's process exists only from StartContainer on.
 *
 * A crash between the conmon launch and the record update leaves a CREATED record without
 * a pid while the runtime holds the container: recovery asks the runtime and discards it
 * (container-recovery.ts discardHalfLaunch).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError, describeError } from '../lib/errors.ts';
import { releaseStaged, stageIdmapped, sweepStaging, withUserns } from '../storage/idmap-staging.ts';
import type { CreateContainerOptions, OciRuntime } from '../oci/runtime.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord } from './container-record.ts';

/** True once conmon and the runtime hold the container (its process exists or existed). */
export function isLaunched(rec: ContainerRecord): boolean {
  return rec.status.pid > 0;
}

function persistDirOf(rec: ContainerRecord): string {
  return join(rec.metadata.bundle, 'persist');
}

/** Runs conmon + `<runtime> create` and records the pids; on failure nothing of it is left. */
export async function launchContainer(deps: ContainerServiceDeps, op: Op, rec: ContainerRecord, runtime: OciRuntime, restore?: CreateContainerOptions['restore']): Promise<void> {
  const { id } = rec;
  const config = rec.metadata.config;
  try {
    const created = await withStagedBinds(rec, () => runtime.createContainer(op, {
      id, bundle: rec.metadata.bundle, logPath: rec.metadata.conmonLogPath, persistDir: persistDirOf(rec),
      terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdin_once, ...(restore ? { restore } : {}),
    }));
    const memoryCgroupDir = await deps.oom.memoryCgroupOf(created.pid);
    // Recorded before the start so that an exit right after it is seen as the container's.
    // Not fsynced: after a power loss there is no process to name; a crash of the daemon
    // before StartContainer records `running` is handled by recovery (discardHalfLaunch).
    await deps.records.update(id, (s) => ({
      ...s, pid: created.pid, pidStartTime: created.pidStartTime, conmonPid: created.conmonPid, conmonPidStartTime: created.conmonPidStartTime, memoryCgroupDir,
      launchedAt: created.startedAtNs > 0n ? created.startedAtNs.toString() : '',
    }), { durable: false });
  } catch (err) {
    await discardRuntimeContainer(deps, op, id, runtime);
    throw err;
  }
}

/**
 * Runs `create` with the record's id-mapped bind sources attached. runc copies them into
 * the container's mount namespace, so they are detached right after, whatever happened:
 * nothing id-mapped stays on the host's side for a container's life.
 */
async function withStagedBinds<T>(rec: ContainerRecord, create: () => Promise<T>): Promise<T> {
  const binds = rec.metadata.idmapBinds ?? [];
  if (binds.length === 0) return create();
  const staged: string[] = [];
  try {
    for (const b of binds) {
      await withUserns(b.usernsPath, (fd) => stageIdmapped(b.source, b.place, fd, true)).catch((err: unknown) => {
        throw new FailedPreconditionError(`mount source ${JSON.stringify(b.source)} cannot be id-mapped into the pod's user namespace: ${describeError(err)}`, { cause: err });
      });
      staged.push(b.place);
    }
    return await create();
  } finally {
    for (const place of staged) await releaseStaged(place);
    await sweepStaging(dirname(binds[0]!.place)).catch(() => undefined);
  }
}

/** Kills and deletes whatever the runtime holds for `id` (a failed launch or start). */
export async function discardRuntimeContainer(deps: ContainerServiceDeps, op: Op, id: string, runtime: OciRuntime): Promise<void> {
  const cleanup = { log: op.log, signal: AbortSignal.timeout(deps.cleanupTimeoutMs ?? 60_000) };
  await runtime.kill(cleanup, id, 'KILL').catch(() => undefined);
  await runtime.delete(cleanup, id, { force: true }).catch((err: unknown) => {
    op.log.warn({ container: id, err: describeError(err) }, 'Cannot delete the runtime state of a container that failed to start');
  });
  await deps.exitFiles.remove(id).catch(() => undefined);
}

/**
 * UpdateContainerResources before the launch: the runtime has no container to update yet,
 * so the bundle's config.json gets the resources it will be created with. Set fields
 * replace the old ones and unset ones keep theirs, one level down too (`cpu.shares` alone
 * keeps `cpu.cpus`), as `<runtime> update` does.
 */
export async function updateBundleResources(bundle: string, resources: Record<string, unknown>): Promise<void> {
  const file = join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(file, 'utf8')) as { linux?: { resources?: Record<string, unknown> } };
  const merged: Record<string, unknown> = { ...spec.linux?.resources };
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  for (const [k, v] of Object.entries(resources)) {
    const old = merged[k];
    merged[k] = isObject(old) && isObject(v) ? { ...old, ...v } : v;
  }
  spec.linux = { ...spec.linux, resources: merged };
  await writeFileAtomic(file, JSON.stringify(spec));
}
