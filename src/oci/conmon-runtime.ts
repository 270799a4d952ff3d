/**
 * `OciRuntime` on conmon + runc or crun, CRI-O's model (DESIGN "Process model"). One instance
 * per runtime handler; each handler has its own runtime state dir (`--root`) under the run
 * root, so runc and crun never see each other's containers.
 */
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError } from '../lib/errors.ts';
import type { CheckpointOptions, CreateContainerOptions, CreatedContainer, ExecSyncOptions, ExecSyncResult, OciLinuxResources, OciRuntime, OciState } from './runtime.ts';
import { RuncCli } from './runc.ts';
import { ConmonLauncher, attachSocketPath, ctlFifoPath } from './conmon.ts';
import { ConmonExec } from './conmon-exec.ts';
import type { ExecOutputBudget } from './exec-budget.ts';
import { runCheckpoint } from './runc-checkpoint.ts';

export interface ConmonOciRuntimeDeps {
  /** Handler name (`runc`, `crun`, or a configured one). */
  handler: string;
  /** Absolute path of the runc or crun binary. */
  runtimeBinary: string;
  conmonPath: string;
  /** The runtime's `--root`; see `runtimeRootFor()`. */
  runtimeRoot: string;
  /** conmon `--socket-dir-path`, shared by all handlers. */
  socketDir: string;
  /** Default conmon `--exit-dir`, the dir the ExitWatcher watches. */
  exitDir: string;
  /** Scratch dir for ExecSync sessions and resource updates. */
  scratchDir: string;
  /** systemd cgroup driver (`--systemd-cgroup` for the runtime, `-s` for conmon). */
  systemdCgroup?: boolean;
  /** Deadline of one runtime CLI call (state, start, kill…); default 60 s. */
  callTimeoutMs?: number;
  /** Deadline of a create; default 240 s, CRI-O's. */
  createTimeoutMs?: number;
  /** ExecSync output all handlers' calls may hold together (shared by every handler). */
  execOutputBudget?: ExecOutputBudget;
}

/** Each handler's runtime state lives in its own dir under the run root. */
export function runtimeRootFor(runRoot: string, handler: string): string {
  return join(runRoot, 'runtime', handler);
}

/** conmon's control-FIFO message that reopens the log file (CRI-O ReopenContainerLog). */
const REOPEN_LOG_MESSAGE = '2 0 0\n';

export class ConmonOciRuntime implements OciRuntime {
  readonly handler: string;
  readonly #deps: ConmonOciRuntimeDeps;
  readonly #cli: RuncCli;
  readonly #launcher: ConmonLauncher;
  readonly #exec: ConmonExec;
  #rro: Promise<boolean> | undefined;
  #userns: Promise<boolean> | undefined;

  constructor(deps: ConmonOciRuntimeDeps) {
    this.handler = deps.handler;
    this.#deps = deps;
    const systemdCgroup = deps.systemdCgroup ?? false;
    this.#cli = new RuncCli({ handler: deps.handler, binary: deps.runtimeBinary, root: deps.runtimeRoot, systemdCgroup, timeoutMs: deps.callTimeoutMs ?? 60_000 });
    this.#launcher = new ConmonLauncher({
      conmonPath: deps.conmonPath,
      runtime: this.#cli,
      socketDir: deps.socketDir,
      exitDir: deps.exitDir,
      createTimeoutMs: deps.createTimeoutMs ?? 240_000,
      systemdCgroup,
    });
    this.#exec = new ConmonExec({ conmonPath: deps.conmonPath, runtime: this.#cli, sessionDir: deps.scratchDir, ...(deps.execOutputBudget ? { outputBudget: deps.execOutputBudget } : {}) });
  }

  async createContainer(op: Op, opts: CreateContainerOptions): Promise<CreatedContainer> {
    await mkdir(this.#deps.runtimeRoot, { recursive: true, mode: 0o700 });
    return this.#launcher.create(op, opts);
  }

  /** Asked once: the binary does not change while the daemon runs. */
  supportsRecursiveReadOnly(op: Op): Promise<boolean> {
    this.#rro ??= this.#cli.mountOptions(op).then((opts) => opts?.has('rro') ?? false);
    return this.#rro;
  }

  supportsUserNamespaces(op: Op): Promise<boolean> {
    this.#userns ??= this.#cli.namespaceTypes(op).then((types) => types?.has('user') ?? false);
    return this.#userns;
  }

  start(op: Op, id: string): Promise<void> {
    return this.#cli.start(op, id);
  }

  kill(op: Op, id: string, signal: string | number, all = false): Promise<void> {
    return this.#cli.kill(op, id, signal, all);
  }

  async delete(op: Op, id: string, opts: { force: boolean }): Promise<void> {
    await this.#cli.delete(op, id, opts.force);
    // conmon unlinks the socket at exit but leaves its socket-dir link (derisk §1).
    await unlink(join(this.#deps.socketDir, id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  state(op: Op, id: string): Promise<OciState> {
    return this.#cli.state(op, id);
  }

  async updateResources(op: Op, id: string, resources: OciLinuxResources): Promise<void> {
    await mkdir(this.#deps.scratchDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(this.#deps.scratchDir, 'update-'));
    try {
      const file = join(dir, 'resources.json');
      await writeFile(file, JSON.stringify(resources), { mode: 0o600 });
      await this.#cli.update(op, id, file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  execSync(op: Op, id: string, opts: ExecSyncOptions): Promise<ExecSyncResult> {
    return this.#exec.execSync(op, id, opts);
  }

  async reopenLog(_op: Op, id: string): Promise<void> {
    // O_NONBLOCK: opening a FIFO for writing blocks (a thread-pool thread) until a reader
    // exists; without conmon there is none, and the open fails with ENXIO instead.
    let fh;
    try {
      fh = await open(this.ctlFifoPath(id), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENXIO' || code === 'ENOENT') throw new FailedPreconditionError(`cannot reopen the log of container "${id}": its conmon is not running`, { cause: err });
      throw err;
    }
    try {
      await fh.write(REOPEN_LOG_MESSAGE);
    } finally {
      await fh.close();
    }
  }

  attachSocketPath(id: string): string {
    return attachSocketPath(this.#deps.socketDir, id);
  }

  ctlFifoPath(id: string): string {
    return ctlFifoPath(this.#deps.socketDir, id);
  }

  checkpoint(op: Op, id: string, opts: CheckpointOptions): Promise<void> {
    const args = { root: this.#deps.runtimeRoot, systemdCgroup: this.#deps.systemdCgroup ?? false, criuPath: opts.criuPath, id, imagePath: opts.imagePath, workPath: opts.workPath };
    return runCheckpoint(op, { handler: this.handler, binary: this.#deps.runtimeBinary }, args, opts.timeoutMs);
  }

  pause(op: Op, id: string): Promise<void> {
    return this.#cli.pause(op, id);
  }

  resume(op: Op, id: string): Promise<void> {
    return this.#cli.resume(op, id);
  }
}
