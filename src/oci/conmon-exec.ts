/**
 * ExecSync through `conmon --exec --sync` (CRI-O ExecSyncContainer; derisk §1): conmon runs
 * `<runtime> exec` and reports `{"exit_code": N}` on the sync pipe. The timeout is enforced
 * here by killing the command while conmon still lives to reap it (see run()).
 *
 * Output: without a tty we use conmon's `passthrough` log driver, so the process writes
 * straight into our stdout/stderr pipes. That keeps the streams apart byte-exact, lets us
 * cap each at 16 MiB while draining the rest (a chatty probe never blocks and never fills a
 * disk), and writes nothing to disk. conmon refuses passthrough with a tty (TIOCSTI), so a
 * tty exec writes a k8s-file log into the session dir, bounded by `--log-global-size-max`,
 * which we split back (everything is on stdout under a tty anyway).
 *
 * Each session gets its own temp dir (process spec, pid file, tty log) that is removed
 * afterwards, and no `--exit-dir`: exec mode would write `EXIT_DIR/<container id>`, which the
 * container's exit watcher would take for the container's own exit.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { OciRuntimeError, EXEC_SYNC_MAX_OUTPUT } from './runtime.ts';
import type { ExecSyncOptions, ExecSyncResult } from './runtime.ts';
import { runtimeError } from './runc.ts';
import type { RuncCli } from './runc.ts';
import { spawnConmon } from './conmon-process.ts';
import type { ExecOutputBudget } from './exec-budget.ts';
import { ResourceExhaustedError } from '../lib/errors.ts';
import { splitK8sFileLog } from './k8s-file-log.ts';

export interface ConmonExecDeps {
  conmonPath: string;
  runtime: RuncCli;
  /** Parent of the per-session temp dirs. */
  sessionDir: string;
  /** Output all concurrent calls may hold together; absent, only the per-call caps apply. */
  outputBudget?: ExecOutputBudget;
}

/** Room for 16 MiB of tty output plus the k8s-file record overhead of typical lines. */
const TTY_LOG_CAP = 4 * EXEC_SYNC_MAX_OUTPUT;
/** After conmon exits, how long a process the command left behind may keep our pipes open. */
const DRAIN_GRACE_MS = 200;
/** Our own backstop beyond conmon's timeout, in case conmon itself hangs. */
const BACKSTOP_EXTRA_MS = 30_000;
/**
 * The first bytes of each stream are not charged to the shared budget, so a probe's line of
 * output always fits however much big outputs hold (the memory benchmark's storm refused
 * 14 of 900 `echo ok` probes otherwise); 50 concurrent calls hold at most 6 MiB this way.
 */
const UNCHARGED_OUTPUT = 64 * 1024;
/** Output not released by its caller goes back to the budget after this long. */
const RELEASE_BACKSTOP_MS = 60_000;

class CappedSink {
  readonly #chunks: Buffer[] = [];
  readonly #budget: ExecOutputBudget | undefined;
  readonly #onExhausted: () => void;
  #length = 0;
  /** Bytes taken from the budget: what is past the first UNCHARGED_OUTPUT. */
  #charged = 0;
  exhausted = false;

  constructor(budget: ExecOutputBudget | undefined, onExhausted: () => void) {
    this.#budget = budget;
    this.#onExhausted = onExhausted;
  }

  add(chunk: Buffer): void {
    if (this.#length >= EXEC_SYNC_MAX_OUTPUT || this.exhausted) return;
    const part = chunk.subarray(0, EXEC_SYNC_MAX_OUTPUT - this.#length);
    const charged = Math.max(0, this.#length + part.length - UNCHARGED_OUTPUT) - this.#charged;
    if (this.#budget && charged > 0 && !this.#budget.take(charged)) {
      this.exhausted = true;
      this.#onExhausted();
      return;
    }
    if (this.#budget) this.#charged += charged;
    // A chunk that views a much larger allocation (a pooled or oversized read buffer) is
    // copied so it does not pin it; one that owns its memory is kept, so a 16 MiB output is
    // not held twice while it is read (issue 18 item 6).
    this.#chunks.push(part.length * 2 < part.buffer.byteLength ? Buffer.from(part) : part);
    this.#length += part.length;
  }

  get length(): number {
    return this.#length;
  }

  /** Gives the bytes back to the shared budget; the call's buffers are the caller's now. */
  release(): void {
    this.#budget?.give(this.#charged);
    this.#charged = 0;
    this.#chunks.length = 0;
  }

  /**
   * The output in one buffer, handed over: the sink keeps only the count its release gives
   * back, so nothing here (a backstop timer holding the sink, say) keeps the bytes alive.
   */
  buffer(): Buffer {
    const whole = Buffer.concat(this.#chunks, this.#length);
    this.#chunks.length = 0;
    return whole;
  }
}

export class ConmonExec {
  readonly #deps: ConmonExecDeps;

  constructor(deps: ConmonExecDeps) {
    this.#deps = deps;
  }

  async execSync(op: Op, id: string, opts: ExecSyncOptions): Promise<ExecSyncResult> {
    await mkdir(this.#deps.sessionDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(this.#deps.sessionDir, 'exec-'));
    // Over the shared budget: the command is killed and the call fails (RESOURCE_EXHAUSTED).
    const onExhausted = (): void => void killExecProcess(join(dir, 'pid'));
    const stdout = new CappedSink(this.#deps.outputBudget, onExhausted);
    const stderr = new CappedSink(this.#deps.outputBudget, onExhausted);
    const release = once(() => {
      stdout.release();
      stderr.release();
    });
    let result: ExecSyncResult | undefined;
    try {
      result = await this.#run(op, id, opts, dir, stdout, stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
      if (!result) release();
    }
    // The output counts against the budget until the answer is written (the caller calls
    // release); a caller that never does gives it back after a while anyway.
    if (stdout.length + stderr.length === 0) {
      release();
      return result;
    }
    const backstop = setTimeout(release, RELEASE_BACKSTOP_MS).unref();
    return { ...result, release: () => { clearTimeout(backstop); release(); } };
  }

  async #run(op: Op, id: string, opts: ExecSyncOptions, dir: string, stdout: CappedSink, stderr: CappedSink): Promise<ExecSyncResult> {
    const specFile = join(dir, 'process.json');
    const pidFile = join(dir, 'pid');
    const logFile = join(dir, 'log');
    await writeFile(specFile, JSON.stringify({ ...opts.processSpec, terminal: opts.terminal }), { mode: 0o600 });
    const args = [
      '-c', id,
      '-n', id,
      '-r', this.#deps.runtime.binary,
      '-p', pidFile,
      '-e',
      '--sync',
      '--exec-process-spec', specFile,
      ...this.#deps.runtime.conmonRuntimeArgs().flatMap((a) => ['--runtime-arg', a]),
      ...(opts.terminal ? ['-t', '-l', `k8s-file:${logFile}`, '--log-global-size-max', String(TTY_LOG_CAP)] : ['-l', 'passthrough:']),
    ];
    return this.#collect(op, id, opts, { pidFile, logFile }, args, stdout, stderr);
  }

  async #collect(op: Op, id: string, opts: ExecSyncOptions, files: { pidFile: string; logFile: string }, args: string[], stdout: CappedSink, stderr: CappedSink): Promise<ExecSyncResult> {
    const { pidFile, logFile } = files;
    const conmon = spawnConmon(this.#deps.conmonPath, args, {
      onStdout: (c) => stdout.add(c),
      onStderr: (c) => stderr.add(c),
    });
    const stop = (): void => void this.#stop(conmon.child.pid, pidFile);
    op.signal.addEventListener('abort', stop, { once: true });
    // The timeout is ours, not conmon's -T: conmon's kills what it started and exits,
    // leaving the command (a session leader in the container) running or, once killed, a
    // zombie nobody reaps. Killed while conmon lives, it is reaped and reported by conmon.
    let timedOut = false;
    const timer = opts.timeoutSec > 0 ? setTimeout(() => { timedOut = true; void killExecProcess(pidFile); }, opts.timeoutSec * 1000) : undefined;
    const backstop = opts.timeoutSec > 0 ? setTimeout(stop, opts.timeoutSec * 1000 + BACKSTOP_EXTRA_MS) : undefined;
    // The exit can be seen before the last bytes are read from the pipes; wait for them
    // to close, but not for a background process the command left holding them.
    const closed = new Promise((resolve) => conmon.child.once('close', resolve));
    let code: number;
    try {
      conmon.release();
      code = await conmon.exited;
      await Promise.race([closed, delay(DRAIN_GRACE_MS)]);
    } finally {
      clearTimeout(timer);
      clearTimeout(backstop);
      op.signal.removeEventListener('abort', stop);
      conmon.closePipes();
    }
    if (op.signal.aborted) throw op.signal.reason instanceof Error ? op.signal.reason : new OciRuntimeError(`exec in container "${id}" aborted`);
    if (stdout.exhausted || stderr.exhausted) {
      const budget = this.#deps.outputBudget!;
      throw new ResourceExhaustedError(`exec in container "${id}": concurrent ExecSync calls already hold ${budget.used} of the ${budget.limit} bytes of output they may hold together (runtime.exec_sync_output_budget_mib); the command was killed`);
    }

    if (timedOut) {
      return { exitCode: -1, stdout: stdout.buffer(), stderr: stderr.buffer(), timedOut: true, ...(opts.terminal ? await readTtyLog(logFile) : {}) };
    }
    const report = conmon.messages.find((m) => typeof m['exit_code'] === 'number');
    if (!report) {
      // The process never started: with passthrough the runtime's complaint is on our stderr.
      const message = [conmon.diagnostics(), stderr.buffer().toString('utf8')].filter(Boolean).join('\n') || `conmon exited ${code}`;
      throw runtimeError(this.#deps.runtime.handler, 'exec', id, message, code) ?? new OciRuntimeError(`exec in container "${id}" failed: ${message}`);
    }
    const exitCode = report['exit_code'] as number;
    const message = typeof report['message'] === 'string' ? report['message'] : '';
    if (exitCode < 0) throw runtimeError(this.#deps.runtime.handler, 'exec', id, message, code) ?? new OciRuntimeError(`exec in container "${id}" failed: ${message}`);
    if (opts.terminal) return { exitCode, timedOut: false, ...(await readTtyLog(logFile)) };
    return { exitCode, stdout: stdout.buffer(), stderr: stderr.buffer(), timedOut: false };
  }

  /** The caller gave up: kill the exec'd process (conmon is its subreaper) and conmon. */
  async #stop(conmonPid: number | undefined, pidFile: string): Promise<void> {
    await killExecProcess(pidFile);
    if (conmonPid) {
      try {
        process.kill(conmonPid, 'SIGKILL');
      } catch {
        // already exited
      }
    }
  }
}

/** SIGKILLs the exec'd process and its process group (what it started), if still there. */
async function killExecProcess(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
  } catch {
    return; // not started yet
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // not a group leader, or already gone
    }
  }
}

async function readTtyLog(logFile: string): Promise<{ stdout: Buffer; stderr: Buffer }> {
  try {
    return splitK8sFileLog(await readFile(logFile), EXEC_SYNC_MAX_OUTPUT);
  } catch {
    return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
