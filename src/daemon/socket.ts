/**
 * The CRI socket file: parent directories created root-only, a stale socket from a dead
 * daemon replaced, a live one refused (two daemons on one socket would split clients).
 */
import { mkdir, lstat, unlink, chmod } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { FailedPreconditionError } from '../lib/errors.ts';

function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Prepares `path` for binding: parent dir exists (0700 when created), no stale socket. */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`socket path ${path} exists and is not a socket; refusing to replace it`);
  if (await isListening(path)) throw new FailedPreconditionError(`another process is already serving ${path}`);
  await unlink(path);
}

/** Restricts the bound socket to root and the socket's group (0660). */
export async function restrictSocket(path: string): Promise<void> {
  await chmod(path, 0o660);
}
