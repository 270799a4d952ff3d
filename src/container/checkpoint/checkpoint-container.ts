/**
 * CheckpointContainer (issue 14 item 1), CRI-O's sequence (internal/lib/checkpoint.go):
 * pause the container, so that the files in the archive match the memory image; let CRIU
 * dump it through the runtime with `--leave-running`; take the rootfs diff while it is
 * still frozen; resume; write the archive at `location`. Whatever happens, the container is
 * resumed, CRIU is gone (runc-checkpoint.ts kills it on timeout) and the work dir removed.
 * CheckpointPod runs the same steps for a group of containers (checkpointGroup), and an
 * in-progress marker (in-progress.ts) lets start-up undo what a crash interrupted.
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
import type { InProgressMarkers, MarkerHandle } from './in-progress.ts';

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

/** One container of a checkpoint: the archive it goes to. */
export interface CheckpointMember {
  rec: ContainerRecord;
  runtime: OciRuntime;
  /** Absolute path of the archive to write (written as a partial file, renamed when complete). */
  dest: string;
}

export interface GroupOptions {
  timeoutMs: number;
  /** Where the in-progress marker goes; without one a crash in the middle may leave a container frozen. */
  markers?: InProgressMarkers;
  /** More files the operation writes (a pod manifest): named in the marker, removed on failure. */
  extraOutputs?: string[];
  /** Runs once every archive is written, before the marker ends (a pod writes its manifest). */
  finish?: () => Promise<void>;
}

/** CheckpointContainer: a group of one, its archive at `location`. */
export async function checkpointContainer(env: CheckpointEnv, op: Op, rec: ContainerRecord, runtime: OciRuntime, location: string, timeoutMs: number, markers?: InProgressMarkers): Promise<void> {
  await checkLocation(location);
  await checkpointGroup(env, op, [{ rec, runtime, dest: location }], { timeoutMs, ...(markers ? { markers } : {}) });
}

const partialOf = (dest: string): string => join(dirname(dest), `.${basename(dest)}.partial`);

/**
 * Checkpoints `members` as one consistency group (KEP-5823): every container is paused
 * before the first is dumped and stays paused until the last is dumped and its rootfs
 * diff taken, so the archives are one cut of the pod. All are resumed before returning,
 * on success, failure or timeout. runc checkpoints a paused container (it refuses only
 * created and stopped ones), and CRIU leaves a cgroup it found frozen frozen after the
 * dump (it restores the freezer's original state), so the thaw is ours, once, at the end.
 */
export async function checkpointGroup(env: CheckpointEnv, op: Op, members: readonly CheckpointMember[], opts: GroupOptions): Promise<void> {
  for (const { rec, runtime } of members) {
    if (rec.status.phase !== 'running') throw new FailedPreconditionError(`container ${rec.id} is ${rec.status.phase}; only a running container can be checkpointed`);
    if (!runtime.checkpoint || !runtime.pause || !runtime.resume) throw new FailedPreconditionError(`runtime handler "${runtime.handler}" cannot checkpoint containers`);
  }
  const criuPath = await env.criuPath(op);
  const { timeoutMs } = opts;
  const deadline = Date.now() + timeoutMs;
  const what = members.length === 1 ? `container ${members[0]!.rec.id}` : `${members.length} containers`;
  const remaining = (): number => {
    const left = deadline - Date.now();
    if (left <= 0) throw new DeadlineExceededError(`checkpoint of ${what} did not finish within ${timeoutMs} ms`);
    return left;
  };
  const bounded = (): Op => ({ log: op.log, signal: AbortSignal.any([op.signal, AbortSignal.timeout(remaining())]) });

  await mkdir(join(env.runRoot, 'checkpoint'), { recursive: true, mode: 0o700 });
  const works: string[] = [];
  const paused: ContainerRecord[] = [];
  const written: string[] = [];
  const partials = members.map((m) => partialOf(m.dest));
  let marker: MarkerHandle | undefined;
  let ok = false;
  try {
    for (const m of members) works.push(await mkdtemp(join(env.runRoot, 'checkpoint', `${m.rec.id.slice(0, 12)}-`)));
    const specs = await Promise.all(members.map((m, i) => writeDumpMetadata(m.rec, works[i]!)));
    marker = await opts.markers?.begin({
      kind: 'checkpoint', containers: members.map((m) => m.rec.id), outputs: [...members.map((m) => m.dest), ...partials, ...(opts.extraOutputs ?? [])], workDirs: works,
    });

    // Frozen first, all of them (CRI-O does the same for one): the rootfs diffs below are
    // taken from the state the memory images have, and no container runs on while another is dumped.
    for (const m of members) {
      // Counted as paused before the call: a pause that fails half way may leave the cgroup FREEZING.
      paused.push(m.rec);
      await m.runtime.pause!(bounded(), m.rec.id);
    }
    for (const [i, m] of members.entries()) {
      const work = works[i]!;
      await m.runtime.checkpoint!(op, m.rec.id, { criuPath, imagePath: join(work, CHECKPOINT_DIR), workPath: work, timeoutMs: remaining() });
      const diff = await rootfsDiff(env.upperDir(m.rec.id), mountPoints(specs[i]!));
      await createTar(bounded(), env.upperDir(m.rec.id), diff.files, join(work, ROOTFS_DIFF_TAR), { exact: true });
      await writeFile(join(work, DELETED_FILES), JSON.stringify(diff.deleted), { mode: 0o600 });
    }
    while (paused.length > 0) {
      const rec = paused[0]!;
      await members.find((m) => m.rec === rec)!.runtime.resume!(bounded(), rec.id);
      paused.shift();
    }

    for (const [i, m] of members.entries()) {
      const work = works[i]!;
      if (m.rec.metadata.conmonLogPath !== '') await copyFile(m.rec.metadata.conmonLogPath, join(work, CONTAINER_LOG)).catch(() => undefined);
      const present = [];
      for (const e of ARCHIVE_ENTRIES) if (await stat(join(work, e)).then(() => true, () => false)) present.push(e);
      await createTar(bounded(), work, present, partials[i]!);
      await rename(partials[i]!, m.dest);
      written.push(m.dest);
      op.log.info({ container: m.rec.id, location: m.dest, entries: present }, 'Container checkpointed');
    }
    await opts.finish?.();
    ok = true;
  } finally {
    for (const rec of paused) {
      // Never left frozen: the resume gets its own deadline, not the request's spent one.
      const runtime = members.find((m) => m.rec === rec)!.runtime;
      await runtime.resume!({ log: op.log, signal: AbortSignal.timeout(env.cleanupTimeoutMs) }, rec.id).catch((e: unknown) => {
        op.log.error({ container: rec.id, err: describeError(e) }, 'Cannot resume a container after its checkpoint failed');
      });
    }
    if (!ok) for (const f of [...partials, ...written, ...(opts.extraOutputs ?? [])]) await rm(f, { force: true }).catch(() => undefined);
    for (const w of works) await rm(w, { recursive: true, force: true });
    await marker?.end();
  }
}

/** spec.dump, config.dump and the empty image dir, before anything is frozen. */
async function writeDumpMetadata(rec: ContainerRecord, work: string): Promise<{ mounts?: { destination?: string }[] }> {
  const spec = JSON.parse(await readFile(join(rec.metadata.bundle, 'config.json'), 'utf8')) as Record<string, unknown> & { mounts?: { destination?: string }[] };
  const config = rec.metadata.config;
  await writeFile(join(work, SPEC_DUMP), JSON.stringify(buildSpecDump(spec, config.annotations, config.labels), null, 2), { mode: 0o600 });
  const dump = buildConfigDump({
    id: rec.id, name: rec.metadata.name, imageRequested: rec.metadata.imageRequested, imageId: rec.metadata.imageId, imageName: rec.metadata.imageRequested,
    runtimeHandler: rec.metadata.runtimeHandler, createdAtNs: rec.metadata.createdAt, checkpointedAt: new Date(), restored: rec.metadata.restore !== undefined,
  });
  await writeFile(join(work, CONFIG_DUMP), JSON.stringify(dump, null, 2), { mode: 0o600 });
  await mkdir(join(work, CHECKPOINT_DIR), { mode: 0o700 });
  return spec;
}
