/**
 * Launching a container's conmon (DESIGN "Process model"). conmon runs `<runtime> create`,
 * holds the container's stdio, writes the CRI log and the exit file and serves the attach
 * socket. The process we spawn forks the monitor and exits, so the monitor is not our
 * child: we wait for the spawned process's 'exit' (the monitor keeps the sync pipe open,
 * so 'close' would never come), then read `{"pid": N}` or `{"pid": -1, "message": …}` from
 * the sync pipe (CRI-O internal/oci/runtime_oci.go CreateContainer; derisk §1).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { DeadlineExceededError, InvalidArgumentError } from '../lib/errors.ts';
import { OciRuntimeError } from './runtime.ts';
import type { CreateContainerOptions, CreatedContainer } from './runtime.ts';
import { runtimeError } from './runc.ts';
import type { RuncCli } from './runc.ts';
import { spawnConmon } from './conmon-process.ts';
import type { ConmonProcess } from './conmon-process.ts';
import { RESTORE_LOG, conmonRestoreArgs, criuLogTail } from './runc-checkpoint.ts';
import { bootTimeNs, processStartTime, startTicksToNs } from './process-identity.ts';

export interface ConmonLauncherDeps {
  conmonPath: string;
  runtime: RuncCli;
  /** `--socket-dir-path`: conmon links `<dir>/<id>` to the bundle to keep sun_path short. */
  socketDir: string;
  /** Default `--exit-dir`. */
  exitDir: string;
  /** How long `<runtime> create` may take before we give up (CRI-O: 240 s). */
  createTimeoutMs: number;
  /** conmon moves itself into a systemd scope (`-s`) when the systemd cgroup driver is used. */
  systemdCgroup: boolean;
}

/** sockaddr_un.sun_path is 108 bytes including the NUL (unix(7)). */
export const SUN_PATH_MAX = 107;
/** OCI runtimes accept ids of letters, digits and `_ + - .`; no `/`, which would escape the dirs. */
const VALID_ID = /^[\w+.-]+$/;

/** Where conmon's attach socket for `id` is reachable (through the socket-dir link). */
export function attachSocketPath(socketDir: string, id: string): string {
  return join(socketDir, id, 'attach');
}

/** conmon's control FIFO for `id`, in the bundle reached through the same link. */
export function ctlFifoPath(socketDir: string, id: string): string {
  return join(socketDir, id, 'ctl');
}

/** conmon's argv for a container (CRI-O's, minus syslog and the exit command). */
export function conmonCreateArgs(deps: Pick<ConmonLauncherDeps, 'socketDir' | 'exitDir' | 'systemdCgroup'>, runtime: Pick<RuncCli, 'binary' | 'conmonRuntimeArgs'>, opts: CreateContainerOptions): string[] {
  const args = [
    '-b', opts.bundle,
    '-c', opts.id,
    '-u', opts.id,
    '-n', opts.id,
    '--exit-dir', opts.exitDir ?? deps.exitDir,
    '-l', `k8s-file:${opts.logPath}`,
    '--persist-dir', opts.persistDir,
    '-P', join(opts.persistDir, 'conmon.pid'),
    '-p', join(opts.persistDir, 'pidfile'),
    '-r', runtime.binary,
    ...runtime.conmonRuntimeArgs().flatMap((a) => ['--runtime-arg', a]),
    '--socket-dir-path', deps.socketDir,
  ];
  if (opts.logSizeMax !== undefined && opts.logSizeMax > 0) args.push('--log-size-max', String(opts.logSizeMax));
  if (deps.systemdCgroup) args.push('-s');
  if (opts.restore) args.push(...conmonRestoreArgs(opts.restore.criuPath, opts.restore.imagePath));
  if (opts.terminal) args.push('-t');
  else if (opts.stdin) {
    args.push('-i');
    // Without it conmon closes the container's stdin when an attach client does (stdin_once).
    if (!opts.stdinOnce) args.push('--leave-stdin-open');
  }
  return args;
}

export class ConmonLauncher {
  readonly #deps: ConmonLauncherDeps;

  constructor(deps: ConmonLauncherDeps) {
    this.#deps = deps;
  }

  async create(op: Op, opts: CreateContainerOptions): Promise<CreatedContainer> {
    const { id } = opts;
    if (!VALID_ID.test(id)) throw new InvalidArgumentError(`container id "${id}" has characters an OCI runtime refuses`);
    if (Buffer.byteLength(attachSocketPath(this.#deps.socketDir, id)) > SUN_PATH_MAX) {
      // socket-dirs.ts picks a dir short enough for every id; this only guards a caller that did not.
      throw new InvalidArgumentError(`attach socket path for container "${id}" under "${this.#deps.socketDir}" exceeds ${SUN_PATH_MAX} bytes`);
    }
    const exitDir = opts.exitDir ?? this.#deps.exitDir;
    for (const dir of [opts.persistDir, exitDir, this.#deps.socketDir, dirname(opts.logPath)]) await mkdir(dir, { recursive: true, mode: 0o700 });

    const args = conmonCreateArgs(this.#deps, this.#deps.runtime, opts);
    op.log.debug({ containerId: id, args }, 'Starting conmon');
    const conmon = spawnConmon(this.#deps.conmonPath, args, { cwd: opts.bundle });
    try {
      conmon.release();
      const code = await conmon.exited;
      if (code !== 0) throw new OciRuntimeError(`conmon for container "${id}" exited ${code}: ${conmon.diagnostics() || 'no message'}`);
      const pid = await this.#awaitPid(op, conmon, opts).catch(async (err: unknown) => {
        // conmon passes `--work-path <bundle>` to the restore: CRIU's own account is there.
        const log = opts.restore ? await criuLogTail(opts.bundle, RESTORE_LOG) : '';
        if (log !== '' && err instanceof Error) err.message += `; CRIU ${RESTORE_LOG} ends: ${log}`;
        throw err;
      });
      const conmonPid = await readPidFile(join(opts.persistDir, 'conmon.pid'));
      const [pidStartTime, conmonPidStartTime] = await Promise.all([processStartTime(pid), processStartTime(conmonPid)]);
      if (pidStartTime === undefined) throw new OciRuntimeError(`container "${id}" process ${pid} vanished right after create`);
      if (conmonPidStartTime === undefined) throw new OciRuntimeError(`conmon ${conmonPid} of container "${id}" vanished right after create`);
      const boot = await bootTimeNs();
      const startedAtNs = boot === undefined ? 0n : startTicksToNs(pidStartTime, boot) ?? 0n;
      return { pid, pidStartTime, conmonPid, conmonPidStartTime, startedAtNs };
    } finally {
      conmon.closePipes();
    }
  }

  /** Waits for conmon's pid report, bounded by the create timeout and the caller's signal. */
  async #awaitPid(op: Op, conmon: ConmonProcess, opts: CreateContainerOptions): Promise<number> {
    const { id } = opts;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const giveUp = new Promise<'timeout' | 'aborted'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#deps.createTimeoutMs);
      onAbort = () => resolve('aborted');
      op.signal.addEventListener('abort', onAbort, { once: true });
      if (op.signal.aborted) resolve('aborted');
    });
    try {
      while (conmon.messages.length === 0) {
        const got = await Promise.race([conmon.nextMessage(), giveUp]);
        if (got === 'timeout' || got === 'aborted') {
          await this.#killMonitor(opts.persistDir);
          if (got === 'aborted') throw op.signal.reason instanceof Error ? op.signal.reason : new OciRuntimeError(`create of container "${id}" aborted`);
          throw new DeadlineExceededError(`runtime ${this.#deps.runtime.handler} did not create container "${id}" within ${this.#deps.createTimeoutMs} ms`);
        }
        if (!got) throw new OciRuntimeError(`conmon for container "${id}" closed its sync pipe without reporting a pid`);
      }
    } finally {
      clearTimeout(timer);
      if (onAbort) op.signal.removeEventListener('abort', onAbort);
    }
    const msg = conmon.messages[0] ?? {};
    const pid = typeof msg['pid'] === 'number' ? msg['pid'] : typeof msg['data'] === 'number' ? msg['data'] : -1;
    if (pid <= 0) {
      const message = typeof msg['message'] === 'string' ? msg['message'] : JSON.stringify(msg);
      throw runtimeError(this.#deps.runtime.handler, 'create', id, message, null) ?? new OciRuntimeError(`create of container "${id}" failed: ${message}`);
    }
    return pid;
  }

  /** A create we gave up on: stop the monitor (and with it `<runtime> create`). */
  async #killMonitor(persistDir: string): Promise<void> {
    try {
      process.kill(await readPidFile(join(persistDir, 'conmon.pid')), 'SIGKILL');
    } catch {
      // no pidfile yet or already gone: nothing to stop
    }
  }
}

async function readPidFile(path: string): Promise<number> {
  const text = (await readFile(path, 'utf8')).trim();
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new OciRuntimeError(`pid file ${path} holds "${text.slice(0, 40)}", not a pid`);
  return pid;
}
