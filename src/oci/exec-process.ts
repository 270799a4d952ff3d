/**
 * One streaming exec session: `<runtime> exec --process FILE ID` in the foreground, its
 * stdio wired to the client's streams (DESIGN: Streaming; derisk §3). Without a TTY the
 * runtime gets plain pipes and keeps stdout and stderr apart; with one it runs under a pty
 * (node-pty) and `exec -t` proxies the container's terminal to it, so a `pty.resize()`
 * reaches the container through SIGWINCH. This is CRI-O's model (`runc exec` under
 * creack/pty) rather than `conmon --exec-attach`, which needs a second socket round trip.
 *
 * The runtime writes its own failures (no such container, executable not found) to a JSON
 * log file as well as to the process's stderr, so a failure of the runtime is told apart
 * from the command exiting non-zero. `--pid-file` gives the command's host PID: killing the
 * foreground runtime alone would leave the command running in the container, so an aborted
 * session kills the command itself.
 *
 * Child processes are spawned here rather than through lib/exec.ts: their stdio *is* the
 * session, which a capture-everything helper cannot express.
 */
import { exitStatus, spawnChild } from '../lib/spawn.ts';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import * as pty from 'node-pty';
import type { Op } from '../lib/op.ts';
import { runtimeError } from './runc.ts';
import { OciRuntimeError, type OciProcess } from './runtime.ts';

/** How to call one runtime handler's CLI (the same flags `RuncCli` uses). */
export interface RuntimeExecTarget {
  handler: string;
  /** Absolute path of runc or crun. */
  binary: string;
  /** The handler's `--root`. */
  root: string;
  systemdCgroup: boolean;
}

interface TermSize {
  width: number;
  height: number;
}

export interface ExecProcessOptions {
  containerId: string;
  /** The process to run: the container's spec process with `args` replaced. */
  process: OciProcess;
  tty: boolean;
  /** Ends when the client closes stdin; null = the command gets an empty stdin. */
  stdin: Readable | null;
  /** Never ended here (the caller owns it); null = output is discarded. */
  stdout: Writable | null;
  /** Null with a TTY (the terminal merges it into stdout). */
  stderr: Writable | null;
  resize: AsyncIterable<TermSize> | null;
  /** Parent of the per-session temp dir (process spec, pid file, runtime log). */
  scratchDir: string;
}

/** The terminal size until the client's first resize arrives (the kubelet's default too). */
const DEFAULT_SIZE: TermSize = { width: 80, height: 24 };
/** After the runtime exits, how long a background process may hold the output pipes open. */
const DRAIN_GRACE_MS = 200;
/** After killing the command, how long the runtime gets to notice before it is killed too. */
const RUNTIME_KILL_GRACE_MS = 2000;

interface Spawned {
  /** Resolves with the runtime's exit status once its output has been handed on. */
  exited: Promise<{ code: number | null; signal: string | number | null }>;
  killRuntime(): void;
}

/** Runs the session to completion; resolves with the command's exit code. */
export async function runExecProcess(op: Op, runtime: RuntimeExecTarget, opts: ExecProcessOptions): Promise<{ exitCode: number }> {
  await mkdir(opts.scratchDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(opts.scratchDir, 'exec-'));
  try {
    return await runInDir(op, runtime, opts, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runInDir(op: Op, runtime: RuntimeExecTarget, opts: ExecProcessOptions, dir: string): Promise<{ exitCode: number }> {
  const specFile = join(dir, 'process.json');
  const pidFile = join(dir, 'pid');
  const logFile = join(dir, 'runtime.log');
  const { consoleSize: _dropped, ...spec } = opts.process;
  await writeFile(specFile, JSON.stringify({ ...spec, terminal: opts.tty }), { mode: 0o600 });
  const args = [
    '--root', runtime.root,
    '--log', logFile,
    '--log-format', 'json',
    ...(runtime.systemdCgroup ? ['--systemd-cgroup'] : []),
    'exec',
    ...(opts.tty ? ['-t'] : []),
    '--process', specFile,
    '--pid-file', pidFile,
    opts.containerId,
  ];
  if (op.signal.aborted) throw abortError(op.signal, opts.containerId);
  const child = opts.tty ? spawnWithPty(runtime.binary, args, opts) : spawnWithPipes(runtime.binary, args, opts);
  let killTimer: NodeJS.Timeout | undefined;
  let runtimeExited = false;
  void child.exited.then(() => { runtimeExited = true; }, () => { runtimeExited = true; });
  const onAbort = (): void => {
    void killCommand(pidFile, () => runtimeExited);
    killTimer = setTimeout(() => child.killRuntime(), RUNTIME_KILL_GRACE_MS);
    killTimer.unref();
  };
  op.signal.addEventListener('abort', onAbort, { once: true });
  let status;
  try {
    status = await child.exited;
  } finally {
    op.signal.removeEventListener('abort', onAbort);
    clearTimeout(killTimer);
  }
  if (op.signal.aborted) throw abortError(op.signal, opts.containerId);
  const code = exitStatus(status.code, status.signal);
  if (code !== 0) {
    const failure = runtimeFailure(await readFile(logFile, 'utf8').catch(() => ''));
    if (failure !== null) throw runtimeError(runtime.handler, 'exec', opts.containerId, failure, code) ?? new OciRuntimeError(failure);
  }
  return { exitCode: code };
}

function spawnWithPipes(binary: string, args: string[], opts: ExecProcessOptions): Spawned {
  const child = spawnChild(binary, args, { env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  const [stdin, stdout, stderr] = [child.stdin!, child.stdout!, child.stderr!];
  stdin.on('error', () => undefined); // EPIPE once the command stops reading
  if (opts.stdin) {
    opts.stdin.pipe(stdin);
  } else {
    stdin.end();
  }
  forward(stdout, opts.stdout);
  forward(stderr, opts.stderr);
  const exited = new Promise<{ code: number | null; signal: string | number | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      // The exit may be seen before the last output is read; wait for the pipes to close,
      // but not for a background process the command left holding them.
      const done = (): void => {
        opts.stdin?.unpipe(stdin);
        stdout.unpipe();
        stderr.unpipe();
        stdout.destroy();
        stderr.destroy();
        resolve({ code, signal });
      };
      if (stdout.closed && stderr.closed) done();
      else {
        const t = setTimeout(done, DRAIN_GRACE_MS);
        child.once('close', () => { clearTimeout(t); done(); });
      }
    });
  });
  return { exited, killRuntime: () => child.kill('SIGKILL') };
}

function forward(from: Readable, to: Writable | null): void {
  if (to === null) from.resume();
  else from.pipe(to, { end: false });
}

function spawnWithPty(binary: string, args: string[], opts: ExecProcessOptions): Spawned {
  const term = pty.spawn(binary, args, {
    name: 'xterm',
    cols: DEFAULT_SIZE.width,
    rows: DEFAULT_SIZE.height,
    cwd: '/',
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', TERM: 'xterm' },
    // null: Buffers both ways, so output is forwarded byte-exact (no UTF-8 re-encoding).
    encoding: null,
  });
  let running = true;
  const out = opts.stdout;
  term.onData((data: string | Buffer) => {
    if (out === null || out.destroyed) return;
    if (!out.write(data)) {
      term.pause();
      out.once('drain', () => term.resume());
    }
  });
  const onStdin = (d: Buffer): void => {
    if (running) term.write(d);
  };
  opts.stdin?.on('data', onStdin);
  if (opts.resize) void followResizes(opts.resize, (size) => {
    if (running && size.width > 0 && size.height > 0) term.resize(size.width, size.height);
  }, () => running);
  // node-pty emits exit only after the pty's output is fully read (or 200 ms passed).
  const exited = new Promise<{ code: number | null; signal: string | number | null }>((resolve) => {
    term.onExit(({ exitCode, signal }) => {
      running = false;
      opts.stdin?.off('data', onStdin);
      resolve({ code: signal ? null : exitCode, signal: signal ?? null });
    });
  });
  return {
    exited,
    killRuntime: () => {
      try {
        term.kill('SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

async function followResizes(events: AsyncIterable<TermSize>, apply: (s: TermSize) => void, alive: () => boolean): Promise<void> {
  try {
    for await (const size of events) {
      if (!alive()) return;
      apply(size);
    }
  } catch {
    // the resize stream died with the session
  }
}

/** The runtime's own error lines (level error/fatal) from its JSON log; null if none. */
export function runtimeFailure(log: string): string | null {
  const messages: string[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if ((entry.level === 'error' || entry.level === 'fatal') && typeof entry.msg === 'string') messages.push(entry.msg);
    } catch {
      // a torn line: ignore
    }
  }
  return messages.length > 0 ? messages.join('; ') : null;
}

/**
 * Kills the command by the PID the runtime wrote. The command can be running before its
 * PID file is written (an abort in that window found no file, killed only the runtime and
 * left the command running), so an absent file is looked for again until the runtime
 * exits or the grace runs out.
 */
async function killCommand(pidFile: string, runtimeExited: () => boolean): Promise<void> {
  const deadline = Date.now() + RUNTIME_KILL_GRACE_MS;
  for (;;) {
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      return;
    }
    if (runtimeExited() || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function abortError(signal: AbortSignal, id: string): Error {
  return signal.reason instanceof Error ? signal.reason : new OciRuntimeError(`exec in container "${id}" aborted`);
}
