/**
 * Pinned pod namespaces without a long-lived process (DESIGN: Pod sandboxes; CRI-O's
 * pinns): `unshare --net=FILE --ipc=FILE --uts=FILE sysctl -w …` creates the namespaces,
 * bind-mounts each one onto its FILE (util-linux unshare(1) "persistent namespace"), runs
 * sysctl(8) inside them to set the hostname (kernel.hostname is per UTS namespace) and the
 * pod's sysctls, and exits. The bind mounts keep the namespaces alive. A pod with its own
 * user namespace (KEP-127) has it pinned too, and its other namespaces made inside it, in
 * the order userns.ts explains.
 */
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { run } from '../lib/exec.ts';
import { mountPoints } from '../lib/mount-points.ts';
import { normaliseSysctlName } from './sysctls.ts';
import { createPinnedUserns, type IdMap } from './userns.ts';

/** `user` is pinned only for pods with a user namespace (userns.ts); it owns the others. */
export type PinnedNamespaceKind = 'net' | 'ipc' | 'uts' | 'user';
export type PinnedNamespaces = Partial<Record<PinnedNamespaceKind, string>>;

export interface PinRequest {
  /** Which namespaces to create; the others stay the host's. */
  kinds: readonly Exclude<PinnedNamespaceKind, 'user'>[];
  /**
   * A pod user namespace with these mappings (KEP-127 mode POD): it is pinned too, and
   * the namespaces of `kinds` are created inside it, so that it owns them.
   */
  userns?: { uids: readonly IdMap[]; gids: readonly IdMap[] };
  /** Set inside the new UTS namespace (ignored without one: it would rename the host). */
  hostname?: string;
  /** Already validated (sysctls.ts) against `kinds`. */
  sysctls: Record<string, string>;
}

export interface NamespaceManagerDeps {
  /** Run root: files go to `<runRoot>/<kind>ns/<podId>`. */
  runRoot: string;
  log: Logger;
  timeoutMs?: number;
}

const KIND_DIRS: Record<PinnedNamespaceKind, string> = { net: 'netns', ipc: 'ipcns', uts: 'utsns', user: 'userns' };
const ALL_KINDS: readonly PinnedNamespaceKind[] = ['net', 'ipc', 'uts', 'user'];

export class NamespaceManager {
  #deps: NamespaceManagerDeps;
  /** One check-and-mount per directory: concurrent pod starts must not stack bind mounts. */
  #privateDirs = new Map<string, Promise<void>>();

  constructor(deps: NamespaceManagerDeps) {
    this.#deps = deps;
  }

  /** Where `kind` of pod `podId` is (or would be) pinned. */
  pathOf(kind: PinnedNamespaceKind, podId: string): string {
    return join(this.#deps.runRoot, KIND_DIRS[kind], podId);
  }

  /** Creates and pins the namespaces; on failure removes whatever it pinned. */
  async create(op: Op, podId: string, req: PinRequest): Promise<PinnedNamespaces> {
    const pinned: PinnedNamespaces = {};
    if (req.kinds.length === 0 && !req.userns) return pinned;
    const args: string[] = [];
    const kinds: PinnedNamespaceKind[] = req.userns ? ['user', ...req.kinds] : [...req.kinds];
    for (const kind of kinds) {
      const dir = join(this.#deps.runRoot, KIND_DIRS[kind]);
      await this.#ensurePrivateMountDir(op, dir);
      const file = join(dir, podId);
      // unshare(1) bind-mounts onto an existing file only.
      await (await open(file, 'w', 0o400)).close();
      pinned[kind] = file;
      args.push(`--${kind}=${file}`);
    }
    const settings = Object.entries(req.sysctls).map(([k, v]) => `${normaliseSysctlName(k)}=${v}`);
    if (req.hostname && req.kinds.includes('uts')) settings.unshift(`kernel.hostname=${req.hostname}`);
    const command = settings.length > 0 ? ['sysctl', '-q', '-w', ...settings] : ['true'];
    const timeoutMs = this.#deps.timeoutMs ?? 30_000;
    try {
      if (req.userns) await createPinnedUserns({ signal: op.signal, timeoutMs }, pinned, req.userns, settings);
      else await run('unshare', [...args, '--', ...command], { signal: op.signal, timeoutMs });
    } catch (err) {
      await this.remove(op, podId).catch(() => undefined);
      throw err;
    }
    return pinned;
  }

  /** Unmounts and unlinks every namespace file of the pod; a no-op for ones already gone. */
  async remove(op: Op, podId: string): Promise<void> {
    const mounts = await mountPoints();
    for (const kind of ALL_KINDS) {
      const file = this.pathOf(kind, podId);
      if (mounts.has(file)) {
        await run('umount', [file], { signal: op.signal, timeoutMs: this.#deps.timeoutMs ?? 30_000 });
      }
      await rm(file, { force: true });
    }
  }

  async arePinned(namespaces: PinnedNamespaces): Promise<boolean> {
    const mounts = await mountPoints();
    return Object.values(namespaces).every((p) => p === undefined || mounts.has(p));
  }

  /** Unmounts the private directory mounts made by create() (tests, and a clean uninstall). */
  async unmountDirs(op: Op): Promise<void> {
    this.#privateDirs.clear();
    const mounts = await mountPoints();
    for (const kind of ALL_KINDS) {
      const dir = join(this.#deps.runRoot, KIND_DIRS[kind]);
      if (mounts.has(dir)) await run('umount', [dir], { signal: op.signal, timeoutMs: this.#deps.timeoutMs ?? 30_000 });
    }
  }

  /**
   * Namespace files are bind-mounted into their directory; if that directory were on a
   * shared mount the bind would propagate to peers and could not be unmounted cleanly
   * there, so the directory is made a private mount of its own, as CRI-O does for its
   * namespaces dir.
   */
  #ensurePrivateMountDir(op: Op, dir: string): Promise<void> {
    let done = this.#privateDirs.get(dir);
    if (!done) {
      done = this.#mountPrivate(op, dir);
      this.#privateDirs.set(dir, done);
      // A failed attempt is forgotten so the next pod tries again.
      done.catch(() => this.#privateDirs.delete(dir));
    }
    return done;
  }

  async #mountPrivate(op: Op, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    if ((await mountPoints()).has(dir)) return;
    const opts = { signal: op.signal, timeoutMs: this.#deps.timeoutMs ?? 30_000 };
    await run('mount', ['--bind', dir, dir], opts);
    await run('mount', ['--make-private', dir], opts);
  }
}

