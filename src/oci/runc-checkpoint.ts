/**
 * Checkpoint and restore through the OCI runtime's CRIU support (issue 14): the argv of
 * `<runtime> checkpoint`, the options conmon hands to `<runtime> restore`, and CRIU's
 * failures turned into domain errors carrying the tail of CRIU's own log. runc and crun
 * share these flags; the runtime drives CRIU (`criu swrk`) as its child, so a checkpoint
 * that runs out of time is stopped by killing that child by PID before the runtime.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { DeadlineExceededError, FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { ExecError, runAllowFailure } from '../lib/exec.ts';
import { tailBounded } from '../lib/shown.ts';
import { OciRuntimeError } from './runtime.ts';
import { runtimeMessage } from './runc.ts';

/** CRIU's log names in the work dir (checkpointctl lib/metadata.go DumpLogFile, RestoreLogFile). */
export const DUMP_LOG = 'dump.log';
export const RESTORE_LOG = 'restore.log';
/** How much of CRIU's log an error carries: its last words, never the whole log. */
export const CRIU_LOG_TAIL_BYTES = 3072;

export interface CheckpointArgs {
  root: string;
  systemdCgroup: boolean;
  /** Absolute path of the criu binary (`--criu`), so the runtime never picks one up from PATH. */
  criuPath: string;
  id: string;
  /** Where CRIU writes its images: the archive's `checkpoint/`. */
  imagePath: string;
  /** Where CRIU writes dump.log and stats-dump. */
  workPath: string;
}

/**
 * `<runtime> checkpoint --leave-running`: the kubelet's checkpoint API is forensic, the
 * container keeps running (CRI-O passes KeepRunning: true). `--file-locks` as CRI-O does;
 * `--tcp-established` so that a container holding a connection can still be checkpointed
 * (CRIU refuses one otherwise: "Connected TCP socket, consider using --tcp-established").
 */
export function checkpointArgv(a: CheckpointArgs): string[] {
  return [
    '--root', a.root, '--log-format', 'json', '--criu', a.criuPath, ...(a.systemdCgroup ? ['--systemd-cgroup'] : []),
    'checkpoint', '--image-path', a.imagePath, '--work-path', a.workPath, '--leave-running', '--file-locks', '--tcp-established', a.id,
  ];
}

/**
 * What conmon adds to its `<runtime> restore` (conmon runtime_args.c: `restore --bundle B
 * --pid-file P --detach --image-path X --work-path B`, then each `--runtime-opt`): the same
 * socket and lock options the dump was taken with, and the criu binary as a global flag.
 */
export function conmonRestoreArgs(criuPath: string, imagePath: string): string[] {
  return ['--restore', imagePath, '--runtime-arg', `--criu=${criuPath}`, '--runtime-opt', '--tcp-established', '--runtime-opt', '--file-locks'];
}

/**
 * What a CRIU log says went wrong, bounded: its `Error` lines (CRIU goes on logging after
 * the first one, so a plain tail can miss it) and then its last lines; '' when there is none.
 */
export function criuLogSummary(text: string): string {
  const lines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  if (lines.length === 0) return '';
  const errors = lines.filter((l) => /\bError\b/.test(l)).slice(-8);
  const last = lines.slice(-3).filter((l) => !errors.includes(l));
  return tailBounded([...errors, ...(errors.length > 0 && last.length > 0 ? ['…'] : []), ...last].join('\n'), CRIU_LOG_TAIL_BYTES);
}

/** criuLogSummary() of a log file in `dir`. */
export async function criuLogTail(dir: string, name: string): Promise<string> {
  return criuLogSummary(await readFile(join(dir, name), 'utf8').catch(() => ''));
}

/** runc: "container not running" / "container is not running"; crun: "is not running". */
const NOT_RUNNING = /not running|container .* is stopped|cannot checkpoint a stopped/i;
const NOT_FOUND = /container does not exist|container not found/i;

/** A failed `<runtime> checkpoint` as a domain error, in the runtime's and CRIU's words. */
export function checkpointError(handler: string, id: string, stderr: string, exitCode: number | null, criuLog: string): Error {
  const message = tailBounded(runtimeMessage(stderr) || `exit status ${exitCode}`, 2048);
  const log = criuLog === '' ? '' : `; CRIU ${DUMP_LOG} ends: ${criuLog}`;
  if (NOT_FOUND.test(message)) return new NotFoundError(`container "${id}" not found by runtime ${handler}: ${message}`);
  if (NOT_RUNNING.test(message)) return new FailedPreconditionError(`${handler} checkpoint "${id}": ${message}`);
  return new OciRuntimeError(`${handler} checkpoint "${id}" failed: ${message}${log}`);
}

/** The child PIDs of `pid` (every thread's `children` list, proc(5)). */
export async function childPids(pid: number): Promise<number[]> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out = new Set<number>();
  for (const tid of tids) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const p of text.split(/\s+/)) if (/^\d+$/.test(p)) out.add(Number(p));
  }
  return [...out];
}

/** SIGKILLs every descendant of `pid`, deepest first; a process already gone is fine. */
export async function killDescendants(pid: number): Promise<number[]> {
  const killed: number[] = [];
  for (const child of await childPids(pid)) {
    killed.push(...(await killDescendants(child)));
    try {
      process.kill(child, 'SIGKILL');
      killed.push(child);
    } catch {
      // exited on its own meanwhile
    }
  }
  return killed;
}

export interface RunCheckpointDeps {
  handler: string;
  binary: string;
}

/**
 * Runs `<runtime> checkpoint` with a deadline of its own. On timeout or abort, CRIU (the
 * runtime's child) is killed by PID first, then the runtime: killing the runtime alone
 * would leave `criu swrk` holding the container's processes.
 */
export async function runCheckpoint(op: Op, deps: RunCheckpointDeps, args: CheckpointArgs, timeoutMs: number): Promise<void> {
  let runtimePid = 0;
  let timedOut = false;
  const stop = new AbortController();
  const onAbort = (): void => void stopChild(op.signal.reason);
  const stopChild = async (reason: unknown): Promise<void> => {
    const killed = runtimePid > 0 ? await killDescendants(runtimePid) : [];
    if (killed.length > 0) op.log.warn({ container: args.id, killed }, 'Checkpoint stopped: killed CRIU');
    stop.abort(reason);
  };
  const timer = setTimeout(() => { timedOut = true; void stopChild(new DeadlineExceededError('checkpoint timed out')); }, timeoutMs);
  op.signal.addEventListener('abort', onAbort, { once: true });
  let result;
  try {
    result = await runAllowFailure(deps.binary, checkpointArgv(args), { signal: stop.signal, onSpawn: (pid) => { runtimePid = pid; } });
  } catch (err) {
    if (timedOut) {
      const log = await criuLogTail(args.workPath, DUMP_LOG);
      throw new DeadlineExceededError(`checkpoint of container "${args.id}" did not finish within ${timeoutMs} ms${log ? `; CRIU ${DUMP_LOG} ends: ${log}` : ''}`);
    }
    if (err instanceof ExecError) throw new OciRuntimeError(`cannot run runtime ${deps.handler} (${deps.binary}) to checkpoint "${args.id}"`, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
    op.signal.removeEventListener('abort', onAbort);
  }
  if (result.exitCode === 0) return;
  throw checkpointError(deps.handler, args.id, result.stderr, result.exitCode, await criuLogTail(args.workPath, DUMP_LOG));
}

/** `criu --version` → "3.17.1"; undefined when it cannot be run or says something else. */
export async function criuVersion(signal: AbortSignal, criuPath: string): Promise<string | undefined> {
  try {
    const r = await runAllowFailure(criuPath, ['--version'], { signal });
    return /Version:\s*(\S+)/.exec(r.stdout)?.[1];
  } catch {
    return undefined;
  }
}
