/**
 * A hand-written in-memory `OciRuntime` for the unit tests of the container and sandbox
 * services (DESIGN convention 5): it records every call, keeps a state per id that follows
 * the OCI lifecycle, and lets a test script failures and exits.
 */
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { EXEC_SYNC_MAX_OUTPUT } from './runtime.ts';
import type { CreateContainerOptions, CreatedContainer, ExecSyncOptions, ExecSyncResult, OciLinuxResources, OciRuntime, OciState } from './runtime.ts';

export interface FakeCall {
  method: string;
  id: string;
  args: unknown[];
}

export interface FakeContainer {
  status: OciState['status'];
  pid: number;
  options: CreateContainerOptions;
  resources?: OciLinuxResources;
  /** Signals received, in order. */
  signals: Array<string | number>;
  logReopens: number;
}

type Method = 'createContainer' | 'start' | 'kill' | 'delete' | 'state' | 'updateResources' | 'execSync' | 'reopenLog' | 'pause' | 'resume';

export class FakeOciRuntime implements OciRuntime {
  readonly handler: string;
  readonly calls: FakeCall[] = [];
  readonly containers = new Map<string, FakeContainer>();
  /** The next call of `method` throws this error (once). */
  readonly failNext = new Map<Method, Error>();
  /** What `execSync` returns; a function gets the options. */
  execResult: ExecSyncResult | ((id: string, opts: ExecSyncOptions) => ExecSyncResult) = { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false };
  /** Signals after which a running container counts as stopped (a pid-1 process without handlers ignores TERM). */
  fatalSignals = new Set<string>(['KILL', 'SIGKILL', '9', 'TERM', 'SIGTERM', '15']);
  /** Called when a container stops through `kill`, e.g. to feed a fake exit watcher. */
  onStopped: ((id: string, signal: string | number) => void) | undefined;
  /** The init start time createContainer reports (a test fixes it to check started_at). */
  startedAtNs: (id: string) => bigint = () => BigInt(Date.now()) * 1_000_000n;
  /** Called inside `start`, after the container runs: a test makes it exit at once here. */
  onStarted: ((id: string) => void) | undefined;
  #nextPid = 1000;

  constructor(handler = 'runc') {
    this.handler = handler;
  }

  /** Names of the calls made so far, e.g. `['createContainer', 'start']`. */
  callNames(id?: string): string[] {
    return this.calls.filter((c) => id === undefined || c.id === id).map((c) => c.method);
  }

  /** Makes a running container exit on its own (as if its process ended). */
  exit(id: string): void {
    this.#get(id).status = 'stopped';
  }

  async createContainer(_op: Op, opts: CreateContainerOptions): Promise<CreatedContainer> {
    this.#record('createContainer', opts.id, [opts]);
    if (this.containers.has(opts.id)) throw new FailedPreconditionError(`fake runtime: container "${opts.id}" already exists`);
    const pid = this.#nextPid++;
    this.containers.set(opts.id, { status: 'created', pid, options: opts, signals: [], logReopens: 0 });
    return { pid, pidStartTime: String(pid * 10), conmonPid: pid + 100_000, conmonPidStartTime: String(pid * 10 - 1), startedAtNs: this.startedAtNs(opts.id) };
  }

  async start(_op: Op, id: string): Promise<void> {
    this.#record('start', id, []);
    const c = this.#get(id);
    if (c.status !== 'created') throw new FailedPreconditionError(`fake runtime: cannot start container "${id}" in state ${c.status}`);
    c.status = 'running';
    this.onStarted?.(id);
  }

  async kill(_op: Op, id: string, signal: string | number, all = false): Promise<void> {
    this.#record('kill', id, [signal, all]);
    const c = this.#get(id);
    c.signals.push(signal);
    if ((c.status === 'running' || c.status === 'created' || c.status === 'paused') && this.fatalSignals.has(String(signal).toUpperCase())) {
      c.status = 'stopped';
      this.onStopped?.(id, signal);
    }
  }

  async delete(_op: Op, id: string, opts: { force: boolean }): Promise<void> {
    this.#record('delete', id, [opts]);
    const c = this.containers.get(id);
    if (!c) return;
    if (c.status !== 'stopped' && c.status !== 'created' && !opts.force) throw new FailedPreconditionError(`fake runtime: cannot delete container "${id}" that is ${c.status}`);
    this.containers.delete(id);
  }

  async state(_op: Op, id: string): Promise<OciState> {
    this.#record('state', id, []);
    const c = this.#get(id);
    return { status: c.status, pid: c.status === 'stopped' ? 0 : c.pid };
  }

  async updateResources(_op: Op, id: string, resources: OciLinuxResources): Promise<void> {
    this.#record('updateResources', id, [resources]);
    this.#get(id).resources = resources;
  }

  async execSync(_op: Op, id: string, opts: ExecSyncOptions): Promise<ExecSyncResult> {
    this.#record('execSync', id, [opts]);
    const c = this.#get(id);
    if (c.status !== 'running') throw new FailedPreconditionError(`fake runtime: container "${id}" is not running`);
    const r = typeof this.execResult === 'function' ? this.execResult(id, opts) : this.execResult;
    return { ...r, stdout: r.stdout.subarray(0, EXEC_SYNC_MAX_OUTPUT), stderr: r.stderr.subarray(0, EXEC_SYNC_MAX_OUTPUT) };
  }

  async reopenLog(_op: Op, id: string): Promise<void> {
    this.#record('reopenLog', id, []);
    const c = this.#get(id);
    if (c.status !== 'running') throw new FailedPreconditionError(`fake runtime: conmon of container "${id}" is not running`);
    c.logReopens++;
  }

  attachSocketPath(id: string): string {
    return `/fake-run/socket/${id}/attach`;
  }

  ctlFifoPath(id: string): string {
    return `/fake-run/socket/${id}/ctl`;
  }

  async pause(_op: Op, id: string): Promise<void> {
    this.#record('pause', id, []);
    this.#get(id).status = 'paused';
  }

  async resume(_op: Op, id: string): Promise<void> {
    this.#record('resume', id, []);
    this.#get(id).status = 'running';
  }

  #record(method: Method, id: string, args: unknown[]): void {
    this.calls.push({ method, id, args });
    const err = this.failNext.get(method);
    if (err) {
      this.failNext.delete(method);
      throw err;
    }
  }

  #get(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`fake runtime: container "${id}" not found`);
    return c;
  }
}
