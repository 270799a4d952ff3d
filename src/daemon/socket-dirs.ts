/**
 * Where the daemon's unix sockets live (issue 18 item 7). AF_UNIX paths are limited to 107
 * bytes (unix(7)); conmon's attach socket is `<socket dir>/<64-hex id>/attach`, so a socket
 * dir under a run root longer than ~28 bytes would fail every StartContainer. As CRI-O hands
 * conmon a short `--socket-dir-path` whose per-container entries are links to the bundles,
 * a run root too long for that gets a short dir of its own under SHORT_SOCKET_BASE, named by
 * a hash of the run root: stable across restarts (recovery and attach find the same links)
 * and distinct per daemon. Container start then never depends on the run root's length.
 */
import { createHash } from 'node:crypto';
import { rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SUN_PATH_MAX, attachSocketPath } from '../oci/conmon.ts';

/** A short, fixed base for the dirs of run roots too long for socket paths (tmpfs, as the run root is meant to be). */
export const SHORT_SOCKET_BASE = '/run/critter/s';

/** Longest socket name the port forwarder creates in its dir (`pf-<16 hex>.sock`). */
const PORT_FORWARD_NAME_LENGTH = 'pf-0123456789abcdef.sock'.length;
const LONGEST_ID = 'f'.repeat(64);

export interface SocketDirs {
  /** conmon's `--socket-dir-path`. */
  conmon: string;
  /** The port forwarder's per-session sockets. */
  portForward: string;
  /** The short dir made for a long run root (removed when the daemon closes), if any. */
  short?: string;
}

export function socketDirsFor(runRoot: string): SocketDirs {
  const fits = (dir: string): boolean => Buffer.byteLength(attachSocketPath(join(dir, 'socket'), LONGEST_ID)) <= SUN_PATH_MAX
    && Buffer.byteLength(join(dir, 'streaming', 'portforward')) + 1 + PORT_FORWARD_NAME_LENGTH <= SUN_PATH_MAX;
  if (fits(runRoot)) return { conmon: join(runRoot, 'socket'), portForward: join(runRoot, 'streaming', 'portforward') };
  // conmon's links (64-hex names) sit in the short dir itself; the port forwarder's sockets in `pf/`.
  const short = join(SHORT_SOCKET_BASE, createHash('sha256').update(runRoot).digest('hex').slice(0, 12));
  return { conmon: short, portForward: join(short, 'pf'), short };
}

/**
 * Daemon shutdown: a long run root's short dir goes once it is empty. rmdir refuses while
 * containers (which outlive the daemon) still have their links in it; they stay for the next start.
 */
export async function removeShortSocketDirs(dirs: SocketDirs): Promise<void> {
  if (!dirs.short) return;
  // The shared base too, when this was the last daemon using it (a later create makes it again).
  for (const dir of [dirs.portForward, dirs.short, SHORT_SOCKET_BASE, dirname(SHORT_SOCKET_BASE)]) {
    try {
      await rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return;
    }
  }
}
