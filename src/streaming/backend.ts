/**
 * The seam between the streaming server (protocols, tokens, transports) and whatever runs
 * processes. The container service implements `StreamingBackend` with `runc exec`, conmon's
 * attach socket and a dial inside the pod's network namespace (DESIGN: Streaming); tests use
 * `FakeStreamingBackend` from `./testing.ts`.
 *
 * Ownership rules, the same for every method:
 * - The backend never ends `stdout`/`stderr`; the server ends them once the returned promise
 *   settles, then writes the status on the error stream (client-go waits for stdout/stderr EOF
 *   before it reads the status).
 * - `op.signal` aborts when the client goes away or the server shuts down: kill the process /
 *   close the connection and settle promptly.
 * - Writes to `stdout`/`stderr` honour backpressure (`write()` returning false, or `pipe()`),
 *   so a slow client slows the process instead of growing daemon memory.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Op } from '../lib/op.ts';

/** A terminal size as the client sends it on the resize stream (remotecommand TerminalSize). */
export interface TerminalSize {
  width: number;
  height: number;
}

/** What an Exec call asks for (a CRI ExecRequest in the streaming server's own terms). */
export interface StreamExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** What an Attach call asks for. */
export interface StreamAttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** What a PortForward call asks for; `ports` is used by the WebSocket channel variant only. */
export interface StreamPortForwardRequest {
  podId: string;
  ports: number[];
}

/** The I/O of one exec or attach session; absent streams are null. */
interface SessionIo {
  tty: boolean;
  /** Ends when the client closes stdin (SPDY FIN, or the v5 WebSocket CLOSE signal). */
  stdin: Readable | null;
  stdout: Writable | null;
  /** Always null with a TTY: the terminal merges stderr into stdout (cri-api item 26). */
  stderr: Writable | null;
  /** Resize events in arrival order; null without a TTY or for protocols without resize. */
  resize: AsyncIterable<TerminalSize> | null;
}

export interface ExecIo extends SessionIo {
  containerId: string;
  cmd: string[];
}

export interface AttachIo extends SessionIo {
  containerId: string;
}

export interface PortForwardIo {
  podId: string;
  port: number;
  /**
   * The client's connection. The backend owns it: pipe it to the target and the target back
   * into it (ending it when the target closes), and settle once both directions are done.
   */
  stream: Duplex;
}

export interface StreamingBackend {
  /** Runs `cmd` in the container; resolves with its exit code once its output is written. */
  exec(op: Op, io: ExecIo): Promise<{ exitCode: number }>;
  /** Attaches to the container's main process; resolves when the attach session ends. */
  attach(op: Op, io: AttachIo): Promise<void>;
  /**
   * Connects `io.stream` to localhost:`io.port` inside the pod's network namespace. Rejects
   * with a message naming the port when the connection is refused; the client sees it.
   */
  portForward(op: Op, io: PortForwardIo): Promise<void>;
}
