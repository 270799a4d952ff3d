/**
 * What RemoveContainer and recovery undo, in order, each step idempotent so a remove
 * interrupted by a crash is simply repeated: the runtime's container, the rootfs mount,
 * the read-write layer, the bundle, the exit file and finally the record.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import type { ContainerServiceDeps } from './container-deps.ts';
import type { ContainerRecord } from './container-record.ts';
import { isLaunched } from './container-launch.ts';

export async function teardownContainer(deps: ContainerServiceDeps, op: Op, rec: ContainerRecord): Promise<void> {
  const runtime = deps.runtimes.get(rec.metadata.runtimeHandler);
  // Never launched (pid 0): the runtime holds nothing (a launch cut short by a crash is
  // discarded by recovery, a failed one by StartContainer).
  if (runtime && isLaunched(rec)) await runtime.delete(op, rec.id, { force: true });
  await deps.rootfs.unmount(op, join(rec.metadata.bundle, 'rootfs'));
  await deps.rootfs.removeLayer(op, rec.id);
  await rm(rec.metadata.bundle, { recursive: true, force: true });
  await deps.exitFiles.remove(rec.id);
  await deps.records.remove(rec.id);
}
