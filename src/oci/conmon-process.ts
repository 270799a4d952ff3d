/**
 * Spawning conmon the way CRI-O does (internal/oci/runtime_oci.go): fd 3 is the sync pipe
 * (`_OCI_SYNCPIPE`) on which conmon reports JSON messages, fd 4 the start pipe
 * (`_OCI_STARTPIPE`) on which we write one byte once conmon may proceed. The pipes are
 * socketpairs (lib/spawn.ts, as libuv's), like CRI-O's `newPipe()`, so conmon behaves the
 * same (reference: derisk §1).
 */
import type { Socket } from 'node:net';
import { exitStatus, spawnChild, type Child } from '../lib/spawn.ts';

/** One JSON message conmon wrote on the sync pipe. */
type SyncMessage = Record<string, unknown>;

export interface ConmonProcess {
  child: Child;
  /** Resolves with conmon's exit code (signal → 128+n) when the spawned process exits. */
  exited: Promise<number>;
  /** Messages received so far on the sync pipe. */
  messages: SyncMessage[];
  /** Resolves when a message arrives or the sync pipe ends (false then). */
  nextMessage(): Promise<boolean>;
  /** conmon's own stderr/stdout text (its pre-daemonise diagnostics), capped. */
  diagnostics(): string;
  /** Lets conmon go on: one byte on the start pipe. */
  release(): void;
  /** Closes our ends of every pipe (the daemonised conmon keeps its own). */
  closePipes(): void;
}

const DIAGNOSTICS_CAP = 64 * 1024;

export interface SpawnConmonOptions {
  cwd?: string;
  /** Extra stdio handling for ExecSync: when set, fds 1 and 2 are given to these. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export function spawnConmon(conmonPath: string, args: readonly string[], opts: SpawnConmonOptions = {}): ConmonProcess {
  const child = spawnChild(conmonPath, args, {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    // conmon must not inherit the daemon's environment (NOTIFY_SOCKET, credentials…).
    env: { PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
  });
  const stdio = child.stdio as [null, Socket, Socket, Socket, Socket];
  let diag = '';
  const keepDiag = (chunk: Buffer): void => {
    if (diag.length < DIAGNOSTICS_CAP) diag += chunk.toString('utf8');
  };
  stdio[1].on('data', opts.onStdout ?? keepDiag);
  stdio[2].on('data', opts.onStderr ?? keepDiag);
  for (const s of [stdio[1], stdio[2], stdio[3]]) s.on('error', () => { /* conmon may vanish; its exit code tells */ });
  stdio[4].on('error', () => { /* conmon may exit before reading the start byte */ });

  const messages: SyncMessage[] = [];
  let waiters: Array<(got: boolean) => void> = [];
  let pending = '';
  let ended = false;
  const wake = (got: boolean): void => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w(got);
  };
  stdio[3].on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      try {
        messages.push(JSON.parse(line) as SyncMessage);
      } catch {
        messages.push({ message: line });
      }
      wake(true);
    }
  });
  const onEnd = (): void => {
    ended = true;
    wake(false);
  };
  stdio[3].on('end', onEnd);
  stdio[3].on('close', onEnd);

  const exited = new Promise<number>((resolve) => {
    child.on('error', (err: Error) => {
      keepDiag(Buffer.from(`cannot run ${conmonPath}: ${err.message}\n`));
      onEnd();
      resolve(127);
    });
    // 'exit', not 'close': the daemonised conmon keeps the sync pipe open for its lifetime.
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve(exitStatus(code, signal)));
  });

  return {
    child,
    exited,
    messages,
    nextMessage: () => (ended ? Promise.resolve(false) : new Promise((resolve) => waiters.push(resolve))),
    diagnostics: () => diag.trim(),
    release: () => {
      stdio[4].end(Buffer.from([0]));
    },
    closePipes: () => {
      for (const s of [stdio[1], stdio[2], stdio[3]]) s.destroy();
      stdio[4].destroy();
    },
  };
}
