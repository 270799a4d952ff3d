/**
 * What RemoveContainer and recovery undo, in order, each step idempotent so a remove
 * interrupted by a crash (or failed and retried by the removal queue) is simply repeated:
 * the runtime's container, the rootfs and image volume mounts, the read-write layer, the bundle, the exit
 * file and finally the record.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Op } from '../lib/op.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord } from './container-record.ts';
import { isLaunched } from './container-launch.ts';
import { imageVolumeMountPoints } from './image-volumes.ts';
import { idmapStagingRoot, sweepStaging } from '../storage/idmap-staging.ts';

/** Plain unmounts tried on EBUSY before the mount is detached lazily. */
const BUSY_ATTEMPTS = 5;

export async function teardownContainer(deps: ContainerServiceDeps, op: Op, rec: ContainerRecord): Promise<void> {
  const runtime = deps.runtimes.get(rec.metadata.runtimeHandler);
  // Never launched (pid 0): the runtime holds nothing (a launch cut short by a crash is
  // discarded by recovery, a failed one by StartContainer).
  if (runtime && isLaunched(rec)) await runtime.delete(op, rec.id, { force: true });
  await unmountRootfs(deps, op, join(rec.metadata.bundle, 'rootfs'));
  for (const target of await imageVolumeMountPoints(rec.metadata.bundle)) await unmountRootfs(deps, op, target);
  // Id-mapped bind sources live only during the runtime's create; a crash in it leaves them.
  await sweepStaging(join(idmapStagingRoot(deps.runRoot), rec.id));
  await deps.rootfs.removeLayer(op, rec.id);
  await rm(rec.metadata.bundle, { recursive: true, force: true });
  await deps.exitFiles.remove(rec.id);
  await deps.records.remove(rec.id);
}

/**
 * A rootfs (or image volume) still busy (a process that outlived the container holds a file or its cwd in it,
 * an exec's nsenter is leaving) is retried a few times, then detached (MNT_DETACH): the
 * kernel frees it with its last user, and the container's removal does not hang on it.
 */
async function unmountRootfs(deps: ContainerServiceDeps, op: Op, target: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.rootfs.unmount(op, target);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      if (attempt >= BUSY_ATTEMPTS) {
        op.log.warn({ target, attempts: attempt }, 'Container rootfs still busy; detaching it lazily');
        await deps.rootfs.unmount(op, target, { lazy: true });
        return;
      }
      await delay((deps.busyRetryMs ?? 100) * attempt, undefined, { signal: op.signal });
    }
  }
}
