/**
 * The tar work of a checkpoint archive, done by GNU tar (Debian `tar`, always present):
 * it keeps owners, modes, hard links, sparse CRIU page images and device nodes exactly,
 * which a stream library in the daemon would have to re-implement.
 */
import { open } from 'node:fs/promises';
import type { Op } from '../../lib/op.ts';
import { run } from '../../lib/exec.ts';

/** Archives are big (every memory page): minutes, not the 60 s of a runtime call. */
const TAR_TIMEOUT_MS = 10 * 60_000;

/** Creates `file` (mode 0600: it holds the container's memory) from `entries` of `dir`, without recursing when `exact`. */
export async function createTar(op: Op, dir: string, entries: readonly string[], file: string, opts: { exact?: boolean } = {}): Promise<void> {
  // Created first with the mode, since tar would use the umask's.
  await (await open(file, 'w', 0o600)).close();
  const list = Buffer.from(entries.map((e) => `${e}\0`).join(''));
  await run('tar', [
    '--create', '--file', file, '--directory', dir, '--numeric-owner', '--sparse', ...(opts.exact ? ['--no-recursion'] : []), '--null', '--files-from', '-',
  ], { signal: op.signal, timeoutMs: TAR_TIMEOUT_MS, input: list });
}

/**
 * Unpacks `file` into `dir`. GNU tar strips leading `/` and refuses members with `..`, and
 * defers symlinks that point outside so that no later member is written through them.
 */
export async function extractTar(op: Op, file: string, dir: string, members: readonly string[] = []): Promise<void> {
  await run('tar', ['--extract', '--file', file, '--directory', dir, '--numeric-owner', '--same-permissions', ...members], { signal: op.signal, timeoutMs: TAR_TIMEOUT_MS });
}

/** Member names of `file`. */
export async function listTar(op: Op, file: string): Promise<string[]> {
  const r = await run('tar', ['--list', '--file', file], { signal: op.signal, timeoutMs: TAR_TIMEOUT_MS });
  return r.stdout.split('\n').filter((l) => l !== '');
}
