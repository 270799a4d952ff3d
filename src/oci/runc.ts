/**
 * The runc/crun command-line driver. Every argv for the runtime is built here, and this
 * file is the only place where a runtime's stderr becomes a domain error (DESIGN
 * "Containers"): callers never look at runtime messages. runc and crun share the CLI of
 * the OCI runtime command-line interface (opencontainers/runtime-tools, runtime.md), with
 * `--root` as a global flag; both accept `--log-format json`, which makes their errors on
 * stderr one JSON object per line (`{"level":"error","msg":…}`).
 */
import type { Op } from '../lib/op.ts';
import { runAllowFailure, ExecError } from '../lib/exec.ts';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { OciRuntimeError } from './runtime.ts';
import { tailBounded } from '../lib/shown.ts';
import type { OciState, OciStatus } from './runtime.ts';

export interface RuncCliDeps {
  /** Runtime handler name, used in error messages. */
  handler: string;
  /** Absolute path of the runc or crun binary. */
  binary: string;
  /** The runtime's state directory (`--root`), one per handler under the run root. */
  root: string;
  /** The systemd cgroup driver: runc/crun need `--systemd-cgroup` on every call (CRI-O does the same). */
  systemdCgroup: boolean;
  /** Deadline for one runtime call, in ms. */
  timeoutMs: number;
}

/** Verbs whose errors we map; the mapping differs per verb (kill of a stopped container is fine). */
export type RuntimeVerb = 'state' | 'start' | 'kill' | 'delete' | 'update' | 'pause' | 'resume' | 'create' | 'exec';

const STATUSES: ReadonlySet<string> = new Set(['creating', 'created', 'running', 'stopped', 'paused']);

// runc: "container does not exist" (1.1), "container not found"; crun: "error opening file
// `ROOT/ID/status`: No such file or directory", and on delete "cannot open directory
// 'ROOT/ID': No such file or directory".
const NOT_FOUND = /container does not exist|container not found|error opening file .*status.*No such file or directory|cannot open directory .*No such file or directory/i;
// runc: "container not running", "process already finished" (older), crun: "No such process".
const ALREADY_STOPPED = /not running|already stopped|process already finished|no such process/i;
// runc: "cannot start a container that has stopped", "cannot start an already running
// container", "cannot delete container X that is not stopped: running"; crun: "the container
// `X` is not in 'created' state", "… is not in 'stopped' state", "container is not paused".
const MEMORY_BELOW_USAGE = /unable to set memory limit to \d+ \(current usage|memory\.limit_in_bytes.*device or resource busy|memory\.max.*device or resource busy/i;
const WRONG_STATE = /cannot (?:start|delete|pause|resume)|that is not stopped|is not in '\w+' state|is not paused|already paused|not paused/i;

/** `mountOptions` of a runtime-spec features document; undefined when absent or unreadable. */
export function parseFeatureMountOptions(stdout: string): ReadonlySet<string> | undefined {
  try {
    const parsed = JSON.parse(stdout) as { mountOptions?: unknown };
    return Array.isArray(parsed.mountOptions) ? new Set(parsed.mountOptions.filter((o): o is string => typeof o === 'string')) : undefined;
  } catch {
    return undefined;
  }
}

/** `linux.namespaces` of a runtime-spec features document; undefined when absent or unreadable. */
export function parseFeatureNamespaces(stdout: string): ReadonlySet<string> | undefined {
  try {
    const parsed = JSON.parse(stdout) as { linux?: { namespaces?: unknown } };
    const ns = parsed.linux?.namespaces;
    return Array.isArray(ns) ? new Set(ns.filter((o): o is string => typeof o === 'string')) : undefined;
  } catch {
    return undefined;
  }
}

/** The runtime's own message out of its stderr: JSON log lines, logfmt `msg="…"`, or plain text. */
export function runtimeMessage(stderr: string): string {
  const messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const text = line.trim();
    if (!text) continue;
    if (text.startsWith('{')) {
      try {
        const entry = JSON.parse(text) as { msg?: unknown; level?: unknown };
        if (typeof entry.msg === 'string' && entry.level !== 'debug' && entry.level !== 'info') messages.push(entry.msg);
        continue;
      } catch {
        // not JSON after all: keep the raw line
      }
    }
    const logfmt = /\blevel=(\w+)\s+msg="((?:[^"\\]|\\.)*)"/.exec(text);
    if (logfmt) {
      if (logfmt[1] !== 'debug' && logfmt[1] !== 'info') messages.push(JSON.parse(`"${logfmt[2]}"`) as string);
      continue;
    }
    messages.push(text);
  }
  return messages.join('; ');
}

/**
 * Maps a failed runtime call to a domain error; `null` means the failure is the
 * idempotent success of the verb (kill of a stopped container, delete of an unknown one).
 */
export function runtimeError(handler: string, verb: RuntimeVerb, id: string, stderr: string, exitCode: number | null): Error | null {
  // Bounded: a runtime that prints megabytes still makes a message of a few KiB, ending with its last words.
  const message = tailBounded(runtimeMessage(stderr) || `exit status ${exitCode}`, 4096);
  if (verb === 'exec' && EXEC_NOT_FOUND.test(message)) return new NotFoundError(`exec in container "${id}": the command was not found in the container: ${message}`);
  if (verb === 'exec' && EXEC_DENIED.test(message)) return new FailedPreconditionError(`exec in container "${id}": the command cannot be executed: ${message}`);
  if (verb === 'exec' && NOT_FOUND.test(message)) return new NotFoundError(`container "${id}" not found by runtime ${handler}: ${message}`);
  if (verb === 'create' || verb === 'exec') {
    // runc: "container with id exists: X"; crun: "container `X` already exists".
    if (/container with id exists|already exists/i.test(message)) return new AlreadyExistsError(`container "${id}" already exists in runtime ${handler}: ${message}`);
    return new OciRuntimeError(`${handler} ${verb} "${id}" failed: ${message}`);
  }
  if (NOT_FOUND.test(message)) {
    if (verb === 'delete') return null;
    return new NotFoundError(`container "${id}" not found by runtime ${handler}: ${message}`);
  }
  if (verb === 'kill' && ALREADY_STOPPED.test(message)) return null;
  // runc (cgroup v1) after the kernel's EBUSY: "unable to set memory limit to N (current usage: U, peak usage: P)".
  if (verb === 'update' && MEMORY_BELOW_USAGE.test(message)) return new FailedPreconditionError(`${handler} update "${id}": the memory limit is below the container's current usage: ${message}`);
  if (WRONG_STATE.test(message)) return new FailedPreconditionError(`${handler} ${verb} "${id}": ${message}`);
  return new OciRuntimeError(`${handler} ${verb} "${id}" failed: ${message}`);
}

/**
 * The command an exec asked for does not exist in the container (runc: `exec: "/x": stat
 * /x: no such file or directory`, `exec: "x": executable file not found in $PATH`; crun:
 * "executable file `x` not found"). That is the caller's mistake, not the runtime's fault
 * (issue 12 class 4), and it is said in the runtime's own words.
 */
const EXEC_NOT_FOUND = /exec: "[^"]*": (?:stat [^:]*: )?no such file or directory|executable file (?:`[^`]*` )?not found/i;
const EXEC_DENIED = /exec: "[^"]*": permission denied|exec format error/i;

/** Parses `<runtime> state` output. */
export function parseState(stdout: string, id: string, handler: string): OciState {
  let parsed: { status?: unknown; pid?: unknown };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch (err) {
    throw new OciRuntimeError(`${handler} state "${id}" printed no JSON: ${stdout.slice(0, 200)}`, { cause: err });
  }
  const status: OciStatus = typeof parsed.status === 'string' && STATUSES.has(parsed.status) ? (parsed.status as OciStatus) : 'unknown';
  const pid = typeof parsed.pid === 'number' && parsed.pid > 0 ? parsed.pid : 0;
  return { status, pid };
}

/** `SIGTERM`, `TERM`, `15` → the argument runc and crun both accept. */
export function signalArg(signal: string | number): string {
  if (typeof signal === 'number') return String(signal);
  const s = signal.trim().toUpperCase();
  return /^\d+$/.test(s) ? s : s.replace(/^SIG/, '');
}

export class RuncCli {
  readonly #deps: RuncCliDeps;

  constructor(deps: RuncCliDeps) {
    this.#deps = deps;
  }

  get handler(): string {
    return this.#deps.handler;
  }

  get binary(): string {
    return this.#deps.binary;
  }

  /** Global flags conmon passes to the runtime for `create` and `exec` (`--runtime-arg`). */
  conmonRuntimeArgs(): string[] {
    return [`--root=${this.#deps.root}`, ...(this.#deps.systemdCgroup ? ['--systemd-cgroup'] : [])];
  }

  async state(op: Op, id: string): Promise<OciState> {
    const stdout = await this.#call(op, 'state', id, ['state', id]);
    return parseState(stdout, id, this.#deps.handler);
  }

  async start(op: Op, id: string): Promise<void> {
    await this.#call(op, 'start', id, ['start', id]);
  }

  async kill(op: Op, id: string, signal: string | number, all = false): Promise<void> {
    await this.#call(op, 'kill', id, ['kill', ...(all ? ['--all'] : []), id, signalArg(signal)]);
  }

  /**
   * `force` deletes whatever state the container is in. A stopped container is deleted
   * without --force first: runc ≥ 1.2 handles --force by SIGKILL and then at least one
   * 100 ms sleep before it looks again, even for a container that stopped long ago, which
   * made every RemoveContainer and RemovePodSandbox 100+ ms slower on those runcs. A plain
   * delete of a stopped container also kills what is left in its cgroup when it shared a
   * PID namespace (runc's destroy()). Only a container that is not stopped gets --force.
   */
  async delete(op: Op, id: string, force: boolean): Promise<void> {
    try {
      await this.#call(op, 'delete', id, ['delete', id]);
    } catch (err) {
      if (!force || !(err instanceof FailedPreconditionError)) throw err;
      await this.#call(op, 'delete', id, ['delete', '--force', id]);
    }
  }

  /** `update --resources FILE`: a file rather than stdin, because crun does not read `-`. */
  async update(op: Op, id: string, resourcesFile: string): Promise<void> {
    await this.#call(op, 'update', id, ['update', '--resources', resourcesFile, id]);
  }

  /**
   * The mount options the runtime understands, from `features` (runtime-spec
   * features.md); undefined when the runtime has no `features` command or it fails. runc
   * before 1.2 passes an option it does not know (such as `rro`) to mount(2) as data,
   * where a bind mount ignores it: an option must be listed here before we rely on it.
   */
  /** The namespace types the runtime knows (`features` linux.namespaces); undefined without `features`. */
  async namespaceTypes(op: Op): Promise<ReadonlySet<string> | undefined> {
    const result = await runAllowFailure(this.#deps.binary, ['features'], { signal: op.signal, timeoutMs: this.#deps.timeoutMs }).catch(() => undefined);
    if (result === undefined || result.exitCode !== 0) return undefined;
    return parseFeatureNamespaces(result.stdout);
  }

  async mountOptions(op: Op): Promise<ReadonlySet<string> | undefined> {
    const result = await runAllowFailure(this.#deps.binary, ['features'], { signal: op.signal, timeoutMs: this.#deps.timeoutMs }).catch(() => undefined);
    if (result === undefined || result.exitCode !== 0) return undefined;
    return parseFeatureMountOptions(result.stdout);
  }

  async pause(op: Op, id: string): Promise<void> {
    await this.#call(op, 'pause', id, ['pause', id]);
  }

  async resume(op: Op, id: string): Promise<void> {
    await this.#call(op, 'resume', id, ['resume', id]);
  }

  async #call(op: Op, verb: RuntimeVerb, id: string, args: string[]): Promise<string> {
    const argv = ['--root', this.#deps.root, '--log-format', 'json', ...(this.#deps.systemdCgroup ? ['--systemd-cgroup'] : []), ...args];
    let result;
    try {
      result = await runAllowFailure(this.#deps.binary, argv, { signal: op.signal, timeoutMs: this.#deps.timeoutMs });
    } catch (err) {
      if (err instanceof ExecError) throw new OciRuntimeError(`cannot run runtime ${this.#deps.handler} (${this.#deps.binary}) for ${verb} "${id}"`, { cause: err });
      throw err;
    }
    if (result.exitCode === 0) return result.stdout;
    const mapped = runtimeError(this.#deps.handler, verb, id, result.stderr, result.exitCode);
    if (mapped) throw mapped;
    return '';
  }
}
