/**
 * CheckpointContainer (issue 14 item 1), CRI-O's sequence (internal/lib/checkpoint.go):
 * pause the container, so that the files in the archive match the memory image; let CRIU
 * dump it through the runtime with `--leave-running`; take the rootfs diff while it is
 * still frozen; resume; write the archive at `location`. Whatever happens, the container is
 * resumed, CRIU is gone (runc-checkpoint.ts kills it on timeout) and the work dir removed.
 */
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Op } from '../../lib/op.ts';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, describeError } from '../../lib/errors.ts';
import type { OciRuntime } from '../../oci/runtime.ts';
import type { ContainerRecord } from '../container-record.ts';
import {
  ARCHIVE_ENTRIES, CHECKPOINT_DIR, CONFIG_DUMP, CONTAINER_LOG, DELETED_FILES, ROOTFS_DIFF_TAR, SPEC_DUMP, buildConfigDump, buildSpecDump, rootfsDiff,
} from './archive.ts';
import { createTar } from './tar.ts';

export interface CheckpointEnv {
  /** Work dirs go under `<runRoot>/checkpoint`. */
  runRoot: string;
  /** The absolute criu path. @throws FailedPreconditionError naming criu when the host has none */
  criuPath(op: Op): Promise<string>;
  /** The container's overlay upper dir (its rootfs changes). */
  upperDir(id: string): string;
  /** Own timeout of the resume and cleanup after a failure (DESIGN convention 4). */
  cleanupTimeoutMs: number;
}

/** CheckpointContainerRequest.timeout 0: CRI-O's default runtime request timeout is minutes, a dump of a big heap takes that. */
export const DEFAULT_CHECKPOINT_TIMEOUT_MS = 4 * 60_000;

/** Checks the request's location: absolute, in an existing directory. */
export async function checkLocation(location: string): Promise<void> {
  if (location === '') throw new InvalidArgumentError('location is required: the path of the checkpoint archive to write');
  if (!isAbsolute(location) || location.split('/').includes('..')) throw new InvalidArgumentError(`location ${JSON.stringify(location)} must be an absolute path without ".."`);
  const dir = await stat(dirname(location)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new InvalidArgumentError(`location ${JSON.stringify(location)}: directory ${JSON.stringify(dirname(location))} does not exist`);
}

/** Bind mount destinations of the spec: runc creates them in the rootfs, the restore's mounts cover them. */
function mountPoints(spec: { mounts?: { destination?: string }[] }): Set<string> {
  return new Set((spec.mounts ?? []).map((m) => m.destination ?? '').filter((d) => d !== ''));
}

export async function checkpointContainer(env: CheckpointEnv, op: Op, rec: ContainerRecord, runtime: OciRuntime, location: string, timeoutMs: number): Promise<void> {
  const { id } = rec;
  if (rec.status.phase !== 'running') throw new FailedPreconditionError(`container ${id} is ${rec.status.phase}; only a running container can be checkpointed`);
  if (!runtime.checkpoint || !runtime.pause || !runtime.resume) throw new FailedPreconditionError(`runtime handler "${runtime.handler}" cannot checkpoint containers`);
  await checkLocation(location);
  const criuPath = await env.criuPath(op);
  const deadline = Date.now() + timeoutMs;
  const remaining = (): number => {
    const left = deadline - Date.now();
    if (left <= 0) throw new DeadlineExceededError(`checkpoint of container ${id} did not finish within ${timeoutMs} ms`);
    return left;
  };
  const bounded = (): Op => ({ log: op.log, signal: AbortSignal.any([op.signal, AbortSignal.timeout(remaining())]) });

  await mkdir(join(env.runRoot, 'checkpoint'), { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(env.runRoot, 'checkpoint', `${id.slice(0, 12)}-`));
  const partial = join(dirname(location), `.${basename(location)}.partial`);
  let paused = false;
  try {
    const spec = JSON.parse(await readFile(join(rec.metadata.bundle, 'config.json'), 'utf8')) as Record<string, unknown> & { mounts?: { destination?: string }[] };
    const config = rec.metadata.config;
    await writeFile(join(work, SPEC_DUMP), JSON.stringify(buildSpecDump(spec, config.annotations, config.labels), null, 2), { mode: 0o600 });
    const checkpointedAt = new Date();
    const dump = buildConfigDump({
      id, name: rec.metadata.name, imageRequested: rec.metadata.imageRequested, imageId: rec.metadata.imageId, imageName: rec.metadata.imageRequested,
      runtimeHandler: rec.metadata.runtimeHandler, createdAtNs: rec.metadata.createdAt, checkpointedAt, restored: rec.metadata.restore !== undefined,
    });
    await writeFile(join(work, CONFIG_DUMP), JSON.stringify(dump, null, 2), { mode: 0o600 });
    await mkdir(join(work, CHECKPOINT_DIR), { mode: 0o700 });

    // Frozen first (CRI-O does the same): CRIU leaves a cgroup it found frozen frozen, so
    // the rootfs diff below is taken from the state the memory image has.
    await runtime.pause(bounded(), id);
    paused = true;
    await runtime.checkpoint(op, id, { criuPath, imagePath: join(work, CHECKPOINT_DIR), workPath: work, timeoutMs: remaining() });

    const diff = await rootfsDiff(env.upperDir(id), mountPoints(spec));
    await createTar(bounded(), env.upperDir(id), diff.files, join(work, ROOTFS_DIFF_TAR), { exact: true });
    await writeFile(join(work, DELETED_FILES), JSON.stringify(diff.deleted), { mode: 0o600 });
    await runtime.resume(bounded(), id);
    paused = false;

    if (rec.metadata.conmonLogPath !== '') await copyFile(rec.metadata.conmonLogPath, join(work, CONTAINER_LOG)).catch(() => undefined);
    const present = [];
    for (const e of ARCHIVE_ENTRIES) if (await stat(join(work, e)).then(() => true, () => false)) present.push(e);
    await createTar(bounded(), work, present, partial);
    await rename(partial, location);
    op.log.info({ container: id, location, entries: present }, 'Container checkpointed');
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    if (paused) {
      // Never left frozen: the resume gets its own deadline, not the request's spent one.
      await runtime.resume({ log: op.log, signal: AbortSignal.timeout(env.cleanupTimeoutMs) }, id).catch((e: unknown) => {
        op.log.error({ container: id, err: describeError(e) }, 'Cannot resume a container after its checkpoint failed');
      });
    }
    await rm(work, { recursive: true, force: true });
  }
}
