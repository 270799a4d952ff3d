/**
 * Watches conmon's exit dir (DESIGN "Process model"): conmon writes `<id>` holding the
 * decimal exit status (128+n for signal n, no newline) when a container ends. It writes with
 * g_file_set_contents: a temp `<id>.XXXXXX`, then a rename, so a file under its final name is
 * always complete (derisk §1). `start()` also scans the dir, for exits written while the
 * daemon was down. Each exit is reported once per file; the consumer calls `remove(id)`
 * after recording it, so that a restart does not report it again.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';

export interface ContainerExit {
  id: string;
  /** Exit status; 128+n when killed by signal n. */
  exitCode: number;
  /** When conmon wrote the file (its mtime). */
  exitedAt: Date;
  /** The same instant in nanoseconds since the epoch, as CRI timestamps are. */
  exitedAtNs: bigint;
}

export interface ExitWatcherDeps {
  dir: string;
  log: Pick<Logger, 'warn' | 'error' | 'debug'>;
  onExit: (exit: ContainerExit) => void;
}

/** glib's mkstemp template `XXXXXX` leaves six letters/digits after a dot. */
const TEMP_NAME = /\.[A-Za-z0-9]{6}$/;

/** Parses an exit file's content; undefined when it is not a status. */
export function parseExitStatus(content: string): number | undefined {
  const text = content.trim();
  if (!/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

export class ExitWatcher {
  readonly #deps: ExitWatcherDeps;
  #watcher: FSWatcher | undefined;
  /** id → mtime (ns) of the file already reported, so repeated events report once. */
  readonly #reported = new Map<string, bigint>();
  /** Per-id chain, so concurrent events for one file are handled in order. */
  readonly #pending = new Map<string, Promise<void>>();
  #closed = false;

  constructor(deps: ExitWatcherDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    await mkdir(this.#deps.dir, { recursive: true, mode: 0o700 });
    // Watch before scanning: a file written in between is then seen at least once.
    this.#watcher = watch(this.#deps.dir, { persistent: false }, (_event, name) => {
      // onExit runs inside: a throw there must be logged, not left an unhandled rejection.
      if (name) this.#check(name.toString()).catch((err: unknown) => this.#deps.log.error({ dir: this.#deps.dir, name, err: describeError(err) }, 'Exit file handling failed'));
    });
    this.#watcher.on('error', (err) => this.#deps.log.error({ dir: this.#deps.dir, err: describeError(err) }, 'Exit dir watch failed'));
    const names = await readdir(this.#deps.dir);
    await Promise.all(names.map((name) => this.#check(name)));
  }

  /** Reads the dir again: exit files whose watch event was missed are reported now (once, as ever). */
  async rescan(): Promise<void> {
    if (this.#closed) return;
    const names = await readdir(this.#deps.dir).catch(() => [] as string[]);
    await Promise.all(names.map((name) => this.#check(name)));
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Deletes `id`'s exit file once the exit is recorded. */
  async remove(id: string): Promise<void> {
    this.#reported.delete(id);
    await unlink(join(this.#deps.dir, id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Resolves when every event seen so far is handled (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }

  #check(name: string): Promise<void> {
    if (TEMP_NAME.test(name) || name.startsWith('.')) return Promise.resolve();
    const next = (this.#pending.get(name) ?? Promise.resolve()).then(() => this.#read(name));
    const tracked = next.finally(() => {
      if (this.#pending.get(name) === tracked) this.#pending.delete(name);
    });
    this.#pending.set(name, tracked);
    return tracked;
  }

  async #read(id: string): Promise<void> {
    if (this.#closed) return;
    const path = join(this.#deps.dir, id);
    let content: string;
    let mtimeNs: bigint;
    try {
      const st = await stat(path, { bigint: true });
      if (!st.isFile()) return;
      mtimeNs = st.mtimeNs;
      if (this.#reported.get(id) === mtimeNs) return;
      content = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.#reported.delete(id);
      else this.#deps.log.warn({ path, err: describeError(err) }, 'Cannot read exit file');
      return;
    }
    const exitCode = parseExitStatus(content);
    if (exitCode === undefined) {
      this.#deps.log.warn({ path, content: content.slice(0, 40) }, 'Exit file holds no exit status');
      return;
    }
    this.#reported.set(id, mtimeNs);
    if (this.#closed) return;
    this.#deps.onExit({ id, exitCode, exitedAt: new Date(Number(mtimeNs / 1_000_000n)), exitedAtNs: mtimeNs });
  }
}
