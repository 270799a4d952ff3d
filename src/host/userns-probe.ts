/**
 * Start-up probe for pod user namespaces (KEP-127 mode POD) on this host: everything
 * critter does for such a pod, once, on a scratch dir in the storage root: a user
 * namespace made and pinned as a pod's is (network/userns.ts), an id-mapped copy of a
 * directory of the storage root's filesystem, and an overlay with that copy as its lower
 * layer, whose file must then appear owned by the mapped id. A kernel without id-mapped
 * mounts (before 5.12), a filesystem without them, or overlayfs refusing id-mapped layers
 * (before 5.19) makes it fail, and Status then reports user_namespaces false.
 */
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describeError } from '../lib/errors.ts';
import { createPinnedUserns } from '../network/userns.ts';
import { MNT_DETACH, mount, umount } from '../storage/libc.ts';
import { releaseStaged, stageIdmapped, withUserns } from '../storage/idmap-staging.ts';

export interface UsernsProbeResult {
  ok: boolean;
  /** Why not, for the log and `critter check`. */
  reason?: string;
}

/** Host id the probe maps container id 0 to: any unused id does. */
const PROBE_HOST_ID = 3_000_000_000;

/**
 * runc 1.1 mounts a pod's rootfs and binds from inside its user namespace, as the pod's
 * root: an unprivileged host id, which must be able to search every directory down to the
 * run root (o+x), as it can under /run. The first that refuses is named.
 */
export async function searchableByOthers(dir: string): Promise<UsernsProbeResult> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await stat(d).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) return { ok: false, reason: `${d} is not searchable by others (mode ${(st.mode & 0o777).toString(8)}): the pod's root could not reach the run root` };
    if (d === '/') return { ok: true };
  }
}

export async function probeUserNamespaces(scratchDir: string): Promise<UsernsProbeResult> {
  const pin = join(scratchDir, 'userns');
  const lower = join(scratchDir, 'lower');
  const place = join(scratchDir, 'stage', 'l', '0');
  const merged = join(scratchDir, 'merged');
  let pinned = false;
  let overlaid = false;
  try {
    await rm(scratchDir, { recursive: true, force: true });
    for (const d of [lower, join(scratchDir, 'upper'), join(scratchDir, 'work'), merged]) await mkdir(d, { recursive: true });
    await writeFile(join(lower, 'file'), 'probe');
    await (await open(pin, 'w', 0o400)).close();
    const maps = [{ containerId: 0, hostId: PROBE_HOST_ID, length: 1 }];
    await createPinnedUserns({ signal: AbortSignal.timeout(30_000), timeoutMs: 30_000 }, { user: pin }, { uids: maps, gids: maps }, []);
    pinned = true;
    await withUserns(pin, async (fd) => {
      await stageIdmapped(lower, place, fd, false);
      try {
        mount('overlay', merged, 'overlay', `lowerdir=${place},upperdir=${join(scratchDir, 'upper')},workdir=${join(scratchDir, 'work')}`);
        overlaid = true;
      } finally {
        await releaseStaged(place);
      }
    });
    const st = await stat(join(merged, 'file'));
    if (st.uid !== PROBE_HOST_ID) return { ok: false, reason: `an overlay over an id-mapped layer shows owner ${st.uid}, not ${PROBE_HOST_ID}` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: describeError(err) };
  } finally {
    if (overlaid) umount(merged, MNT_DETACH);
    if (pinned) umount(pin, MNT_DETACH);
    await rm(scratchDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
