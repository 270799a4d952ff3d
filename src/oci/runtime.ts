/**
 * The seam between the container/sandbox services and the OCI runtime (DESIGN "Process
 * model"). It speaks OCI (bundle directories, `config.json` process objects, linux
 * resources), never CRI. The real implementation is `ConmonOciRuntime` (conmon + runc or
 * crun); services' unit tests use `FakeOciRuntime` from `testing.ts`.
 */
import type { Op } from '../lib/op.ts';
import { CritterError } from '../lib/errors.ts';

/** OCI runtime-spec state `status`, plus `unknown` for anything a runtime invents. */
export type OciStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused' | 'unknown';

export interface CreateContainerOptions {
  /** The runtime's container id (also conmon's `-c`/`-u`). */
  id: string;
  /** Directory holding `config.json` (and usually `rootfs/`); conmon's cwd and `-b`. */
  bundle: string;
  /** CRI log file (k8s-file format); conmon appends to it, never truncates. */
  logPath: string;
  /** Where conmon writes `<id>` with the exit status; defaults to the runtime's exit dir. */
  exitDir?: string;
  /** conmon's `--persist-dir`: gets `exit`, plus our `conmon.pid` and `pidfile`. */
  persistDir: string;
  /** `process.terminal` of the spec: conmon allocates the pty master (`-t`). */
  terminal: boolean;
  /** Keep a stdin pipe that attach clients write to (`-i`). */
  stdin: boolean;
  /** Close the container's stdin when the first attach client closes it. */
  stdinOnce: boolean;
  /** Bytes after which conmon rotates the log (`--log-size-max`); unset means no limit. */
  logSizeMax?: number;
  /**
   * Restore from CRIU images instead of creating (issue 14): conmon runs `<runtime> restore
   * --detach`, so the container is already running when this resolves; no start follows.
   */
  restore?: { criuPath: string; imagePath: string };
}

export interface CheckpointOptions {
  /** Absolute path of the criu binary. */
  criuPath: string;
  /** Where CRIU writes its images (an empty dir). */
  imagePath: string;
  /** Where CRIU writes dump.log and stats-dump. */
  workPath: string;
  /** The checkpoint's own deadline; CRIU is killed when it passes. */
  timeoutMs: number;
}

export interface CreatedContainer {
  /** PID of the container's init process (in the host PID namespace). */
  pid: number;
  /** `/proc/<pid>/stat` start time (clock ticks since boot): with `pid`, the process identity. */
  pidStartTime: string;
  /** PID of the daemonised conmon that monitors the container. */
  conmonPid: number;
  conmonPidStartTime: string;
  /**
   * When the init process began, ns since the epoch (its stat start time on the wall clock):
   * the runtime's own record of the start, so that started_at never depends on when the
   * daemon got round to writing it (issue 18 item 1). 0n when unknown.
   */
  startedAtNs: bigint;
}

export interface OciState {
  status: OciStatus;
  /** 0 when the runtime reports none (stopped). */
  pid: number;
}

/** OCI runtime-spec `process` object (config.json `process`). */
export type OciProcess = Record<string, unknown> & { args: string[] };

/** OCI runtime-spec `linux.resources` object. */
export type OciLinuxResources = Record<string, unknown>;

export interface ExecSyncOptions {
  processSpec: OciProcess;
  /** Seconds; 0 means no timeout. */
  timeoutSec: number;
  /** Run under a pty: stdout and stderr arrive merged on stdout. */
  terminal: boolean;
}

export interface ExecSyncResult {
  /** -1 when the command timed out. */
  exitCode: number;
  /** At most `EXEC_SYNC_MAX_OUTPUT` bytes; the rest is dropped silently (kubelet's cap). */
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  /**
   * Gives the output's bytes back to the shared ExecSync output budget. Called once the
   * answer carrying them has been written to the client (server/after-sent.ts); until then
   * the bytes count, so slow readers cannot make the daemon hold unbounded output.
   */
  release?: () => void;
}

/** Per-stream ExecSync output cap: 16 MiB, the kubelet's `maxExecSyncSize` (CRI-O, containerd). */
export const EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Both streams together, so that the whole ExecSyncResponse fits in one 16 MiB gRPC message:
 * the kubelet's client (and our server) refuse bigger messages, which would turn a chatty
 * probe into an error instead of a truncated answer. 64 bytes cover the protobuf framing
 * (two tags + length varints, exit_code as a 10-byte varint when negative).
 */
export const EXEC_SYNC_MAX_RESPONSE_OUTPUT = EXEC_SYNC_MAX_OUTPUT - 64;

/**
 * Shrinks stdout and stderr (each already ≤ EXEC_SYNC_MAX_OUTPUT) to fit
 * EXEC_SYNC_MAX_RESPONSE_OUTPUT together: each stream keeps at least half the budget when it
 * has that much, and what one leaves unused goes to the other. Beginnings are kept.
 */
export function fitExecOutput(stdout: Buffer, stderr: Buffer, budget = EXEC_SYNC_MAX_RESPONSE_OUTPUT): { stdout: Buffer; stderr: Buffer } {
  if (stdout.length + stderr.length <= budget) return { stdout, stderr };
  const half = Math.floor(budget / 2);
  const errLength = Math.min(stderr.length, Math.max(half, budget - stdout.length));
  return { stdout: stdout.subarray(0, budget - errLength), stderr: stderr.subarray(0, errLength) };
}

export interface OciRuntime {
  /** The runtime handler name this instance serves (`runc`, `crun`, …). */
  readonly handler: string;
  /** Launches conmon, which runs `<runtime> create`; resolves with the container `created`. */
  createContainer(op: Op, opts: CreateContainerOptions): Promise<CreatedContainer>;
  start(op: Op, id: string): Promise<void>;
  /** Sends `signal` (name like `SIGTERM`/`TERM` or number); a container already stopped is not an error. */
  kill(op: Op, id: string, signal: string | number, all?: boolean): Promise<void>;
  /** Removes the runtime's record (idempotent: an unknown id is not an error) and the attach socket link. */
  delete(op: Op, id: string, opts: { force: boolean }): Promise<void>;
  /** Throws NotFoundError when the runtime does not know `id`. */
  state(op: Op, id: string): Promise<OciState>;
  updateResources(op: Op, id: string, resources: OciLinuxResources): Promise<void>;
  execSync(op: Op, id: string, opts: ExecSyncOptions): Promise<ExecSyncResult>;
  /** Asks conmon to reopen the log file (after the kubelet rotated it); FailedPreconditionError if conmon is gone. */
  reopenLog(op: Op, id: string): Promise<void>;
  /** conmon's SOCK_SEQPACKET attach socket for `id` (valid while conmon runs). */
  attachSocketPath(id: string): string;
  /** conmon's control FIFO: `"1 H W\n"` resizes the pty, `"2 0 0\n"` reopens the log. */
  ctlFifoPath(id: string): string;
  /** `<runtime> checkpoint --leave-running` (runc-checkpoint.ts); absent = the runtime cannot. */
  checkpoint?(op: Op, id: string, opts: CheckpointOptions): Promise<void>;
  pause?(op: Op, id: string): Promise<void>;
  resume?(op: Op, id: string): Promise<void>;
  /** Whether the runtime applies the `rro` (recursive read-only) bind option; absent = no. */
  supportsRecursiveReadOnly?(op: Op): Promise<boolean>;
  /**
   * Whether the runtime joins a user namespace given by path with the spec's mappings
   * (its `features` list `user`); the id-mapped mounts are critter's own. Absent = no.
   */
  supportsUserNamespaces?(op: Op): Promise<boolean>;
}

/** The OCI runtime or conmon failed; the message carries the runtime's own words. */
export class OciRuntimeError extends CritterError {
  override readonly code = 'CRI_ERR_OCI_RUNTIME';
}
