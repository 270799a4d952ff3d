/**
 * A pod's user namespace (KEP-127 mode POD), pinned like its other namespaces but made in
 * an order of its own. unshare(1) cannot write a range mapping without newuidmap, so:
 *
 * 1. a short-lived child, `unshare --user --net --ipc --uts … sh -c 'echo; exec cat'`,
 *    creates the user namespace and, in the same unshare(2), the pod's other namespaces,
 *    which the kernel makes owned by the new user namespace (what lets the pod's root
 *    mount sysfs and mqueue, and set its network sysctls);
 * 2. the daemon, root in the parent namespace, writes the kubelet's mappings to the
 *    child's uid_map and gid_map (user_namespaces(7): one write each, from outside);
 * 3. each /proc/<child>/ns/<kind> is bind-mounted onto its pin file, so the namespaces
 *    outlive the child;
 * 4. `nsenter --net --uts --ipc sysctl -w …` sets the hostname and the pod's sysctls (as
 *    the host's root: see below), and the child is ended.
 *
 * The child runs with no mapping until step 2 and only waits for its stdin to close, so
 * nothing runs with the half-made namespace.
 */
import { writeFile } from 'node:fs/promises';
import { run } from '../lib/exec.ts';
import { spawnChild, type Child } from '../lib/spawn.ts';
import { CritterError } from '../lib/errors.ts';

/** One line of uid_map or gid_map: ids [container, container + length) are host ids [host, host + length). */
export interface IdMap {
  containerId: number;
  hostId: number;
  length: number;
}

type Kind = 'net' | 'ipc' | 'uts' | 'user';

export class UsernsSetupError extends CritterError {
  override readonly code = 'CRI_ERR_USERNS';
}

/** The host id that container id 0 maps to (validation guarantees a mapping of 0). */
export function hostIdOfZero(maps: readonly IdMap[]): number {
  const m = maps.find((x) => x.containerId === 0);
  if (!m) throw new UsernsSetupError('container id 0 is not mapped');
  return m.hostId;
}

/** OCI `linux.uidMappings` / `gidMappings` entries. */
export function ociIdMappings(maps: readonly IdMap[]): Array<{ containerID: number; hostID: number; size: number }> {
  return maps.map((m) => ({ containerID: m.containerId, hostID: m.hostId, size: m.length }));
}

/** The text of a uid_map / gid_map write. */
export function mapText(maps: readonly IdMap[]): string {
  return maps.map((m) => `${m.containerId} ${m.hostId} ${m.length}\n`).join('');
}

/** Resolves once the child printed its line (it is inside the namespaces), rejects if it ends or fails first. */
function whenInside(child: Child, signal: AbortSignal, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const onStderr = (d: Buffer): void => { stderr += d.toString(); };
    const onData = (): void => done();
    const onError = (err: Error): void => done(err);
    const onExit = (code: number | null): void => done(new UsernsSetupError(`unshare --user exited ${code}: ${stderr.trim().slice(0, 500)}`));
    const onAbort = (): void => done(signal.reason instanceof Error ? signal.reason : new UsernsSetupError('user namespace setup aborted'));
    const timer = setTimeout(() => done(new UsernsSetupError(`unshare --user did not start within ${timeoutMs} ms`)), timeoutMs);
    function done(err?: Error): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onStderr);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    signal.addEventListener('abort', onAbort, { once: true });
    child.stderr?.on('data', onStderr);
    child.stdout?.on('data', onData);
    child.on('error', onError);
    child.on('exit', onExit);
  });
}

/**
 * Creates the pod's user namespace with `maps`, the namespaces of `files` other than
 * `user` inside it, and pins each onto its (existing, empty) file. `settings` are
 * sysctl(8) `name=value` assignments made inside. The caller removes the pins on failure.
 */
export async function createPinnedUserns(
  opts: { signal: AbortSignal; timeoutMs: number },
  files: Partial<Record<Kind, string>>,
  maps: { uids: readonly IdMap[]; gids: readonly IdMap[] },
  settings: readonly string[],
): Promise<void> {
  if (files.user === undefined) throw new UsernsSetupError('no pin file for the user namespace');
  const others = (['net', 'ipc', 'uts'] as const).filter((k) => files[k] !== undefined);
  const child = spawnChild('unshare', ['--user', ...others.map((k) => `--${k}`), '--', 'sh', '-c', 'echo inside && exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  try {
    await whenInside(child, opts.signal, opts.timeoutMs);
    const pid = child.pid!;
    await writeFile(`/proc/${pid}/uid_map`, mapText(maps.uids));
    await writeFile(`/proc/${pid}/gid_map`, mapText(maps.gids));
    const runOpts = { signal: opts.signal, timeoutMs: opts.timeoutMs };
    for (const kind of ['user', ...others] as const) {
      await run('mount', ['--bind', `/proc/${pid}/ns/${kind}`, files[kind]!], runOpts);
    }
    if (settings.length > 0) {
      // As the host's root, not the pod's: kernel.hostname's sysctl file belongs to the
      // host's root whatever the UTS namespace (the pod's root may only sethostname(2)),
      // while the host's root passes the per-namespace checks of the net and ipc sysctls.
      await run('nsenter', [...others.map((k) => `--${k}=${files[k]!}`), '--', 'sysctl', '-q', '-w', ...settings], runOpts);
    }
  } finally {
    // Ends at EOF on its stdin; SIGKILL in case it is stuck before the exec.
    child.stdin?.end();
    child.kill('SIGKILL');
    await exited;
  }
}
