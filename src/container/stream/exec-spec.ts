/**
 * The process of a streaming exec: the container's own spec process (env, cwd, user,
 * capabilities, rlimits, AppArmor/SELinux labels, no_new_privileges) with `args` replaced,
 * as CRI-O's `prepareProcessExec` does, so an exec runs with exactly the container's
 * identity and privileges. `terminal` is set from the request, never inherited: a TTY
 * container still gets a pipe-based exec when the client asks for no TTY.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError } from '../../lib/errors.ts';
import type { OciProcess } from '../../oci/runtime.ts';

export async function execProcessSpec(bundleDir: string, containerId: string, cmd: readonly string[], tty: boolean): Promise<OciProcess> {
  const file = join(bundleDir, 'config.json');
  let spec: { process?: Record<string, unknown> };
  try {
    spec = JSON.parse(await readFile(file, 'utf8')) as typeof spec;
  } catch (err) {
    throw new FailedPreconditionError(`cannot exec in container "${containerId}": its OCI spec ${file} is unreadable`, { cause: err });
  }
  if (spec.process === undefined || typeof spec.process !== 'object') {
    throw new FailedPreconditionError(`cannot exec in container "${containerId}": its OCI spec has no process`);
  }
  return processFor(spec.process, cmd, tty);
}

/** Pure part: the spec process with the request's args and terminal. */
export function processFor(base: Record<string, unknown>, cmd: readonly string[], tty: boolean): OciProcess {
  const { consoleSize: _size, ...rest } = base;
  return { ...rest, args: [...cmd], terminal: tty };
}
