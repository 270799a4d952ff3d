/**
 * The one way critter runs a child process: argv (never a shell), an AbortSignal, a
 * timeout, captured stdout/stderr, and an error that names the full command line and
 * its stderr when it fails.
 */
import { CritterError, DeadlineExceededError } from './errors.ts';
import { exitStatus, spawnChild } from './spawn.ts';

export interface ExecOptions {
  signal?: AbortSignal;
  /** Milliseconds before the child gets SIGKILL; 0 means none. */
  timeoutMs?: number;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Cap on captured stdout bytes; the rest is dropped. Default 16 MiB. */
  maxOutput?: number;
  /** Told the child's PID once it runs: a caller that must stop what the child starts (CRIU under runc) finds it by this PID. */
  onSpawn?: (pid: number) => void;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A child exited non-zero or was killed. */
export class ExecError extends CritterError {
  override readonly code = 'CRI_ERR_EXEC';
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly stdout: string;
  constructor(message: string, result: { exitCode: number | null; stderr: string; stdout: string }, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = result.exitCode;
    this.stderr = result.stderr;
    this.stdout = result.stdout;
  }
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/** Runs `file args…`; resolves when it exits 0, rejects with ExecError otherwise. */
export async function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const result = await runAllowFailure(file, args, opts);
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim() || result.stdout.trim();
    throw new ExecError(`${commandLine(file, args)} exited ${result.exitCode}${detail ? `: ${detail}` : ''}`, result);
  }
  return result;
}

/** Runs `file args…` and resolves with its exit code whatever it is; rejects only if it cannot start, times out or is aborted. */
export function runAllowFailure(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const max = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error(`${commandLine(file, args)} aborted`));
      return;
    }
    const child = spawnChild(file, args, { env: opts.env, cwd: opts.cwd });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let aborted = false;
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < 1024 * 1024) err.push(b);
      errLen += b.length;
    });
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs) : undefined;
    child.stdin!.on('error', () => { /* the child may exit before reading its input */ });
    child.stdin!.end(opts.input ?? '');
    child.on('error', (e: Error) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new ExecError(`cannot run ${commandLine(file, args)}`, { exitCode: null, stderr: '', stdout: '' }, { cause: e }));
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: exitStatus(code, sig) };
      if (timedOut) reject(new DeadlineExceededError(`${commandLine(file, args)} timed out after ${opts.timeoutMs} ms`));
      else if (aborted) reject(opts.signal?.reason instanceof Error ? opts.signal.reason : new ExecError(`${commandLine(file, args)} aborted`, result));
      else resolve(result);
    });
  });
}

/** The command as a person would type it, for error messages. */
function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
