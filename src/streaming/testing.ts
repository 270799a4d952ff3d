/**
 * FakeStreamingBackend: an in-process StreamingBackend for tests (import only from tests).
 * Exec understands a few commands instead of running processes:
 *   echo WORDS...            stdout "WORDS\n", exit 0
 *   emit CODE OUT ERR        OUT on stdout, ERR on stderr, exit CODE
 *   cat                      stdin → stdout until stdin ends, exit 0
 *   resize-echo              each resize event as "WxH\n" on stdout, until stdin ends
 *   hang                     waits for op.signal, then rejects with its reason
 *   missing                  rejects at once (a command that cannot start)
 * Attach writes "attached to ID\n" then behaves like cat. Port-forward dials 127.0.0.1:PORT.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import type { Op } from '../lib/op.ts';
import { StreamingServer, type StreamingServerDeps } from './server.ts';
import type { AttachIo, ExecIo, PortForwardIo, StreamingBackend, TerminalSize } from './backend.ts';

export interface FakeCall {
  method: 'exec' | 'attach' | 'portForward';
  target: string;
  cmd?: string[];
  tty?: boolean;
  port?: number;
  streams?: { stdin: boolean; stdout: boolean; stderr: boolean; resize: boolean };
  resizes: TerminalSize[];
  aborted: boolean;
  settled: boolean;
}

export class FakeStreamingBackend implements StreamingBackend {
  readonly calls: FakeCall[] = [];

  async exec(op: Op, io: ExecIo): Promise<{ exitCode: number }> {
    const call = this.#record(op, { method: 'exec', target: io.containerId, cmd: io.cmd, tty: io.tty, streams: present(io) });
    try {
      const [name, ...args] = io.cmd;
      switch (name) {
        case 'echo':
          await write(io.stdout, `${args.join(' ')}\n`);
          return { exitCode: 0 };
        case 'emit':
          await write(io.stdout, args[1] ?? '');
          await write(io.stderr, args[2] ?? '');
          return { exitCode: Number(args[0] ?? 0) };
        case 'cat':
          await cat(io.stdin, io.stdout);
          return { exitCode: 0 };
        case 'resize-echo':
          // The resize stream stays open as long as the session does: stdin ending is the cue.
          void this.#echoResizes(call, io);
          await drain(io.stdin);
          return { exitCode: 0 };
        case 'hang':
          await abortOf(op.signal);
          throw op.signal.reason;
        default:
          throw new Error(`exec: "${name ?? ''}": executable file not found in $PATH`);
      }
    } finally {
      call.settled = true;
    }
  }

  async attach(op: Op, io: AttachIo): Promise<void> {
    const call = this.#record(op, { method: 'attach', target: io.containerId, tty: io.tty, streams: present(io) });
    try {
      void this.#collectResizes(call, io.resize);
      await write(io.stdout, `attached to ${io.containerId}\n`);
      await cat(io.stdin, io.stdout);
    } finally {
      call.settled = true;
    }
  }

  async portForward(op: Op, io: PortForwardIo): Promise<void> {
    const call = this.#record(op, { method: 'portForward', target: io.podId, port: io.port });
    try {
      const socket = net.connect({ host: '127.0.0.1', port: io.port });
      const onAbort = (): void => { socket.destroy(); };
      op.signal.addEventListener('abort', onAbort, { once: true });
      try {
        await once(socket, 'connect');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // The Go-style message already says what failed (as the real dialer's does); a cause
        // would add Node's own wording after it (describeError follows causes).
        // eslint-disable-next-line preserve-caught-error -- the message carries the cause's code
        throw new Error(`dial tcp 127.0.0.1:${io.port}: ${code === 'ECONNREFUSED' ? 'connect: connection refused' : String(err)}`);
      }
      io.stream.pipe(socket);
      socket.pipe(io.stream);
      socket.on('error', () => undefined);
      await once(socket, 'close');
      op.signal.removeEventListener('abort', onAbort);
    } finally {
      call.settled = true;
    }
  }

  async #echoResizes(call: FakeCall, io: ExecIo): Promise<void> {
    if (io.resize === null) return;
    for await (const size of io.resize) {
      call.resizes.push(size);
      await write(io.stdout, `${size.width}x${size.height}\n`);
    }
  }

  async #collectResizes(call: FakeCall, resize: AsyncIterable<TerminalSize> | null): Promise<void> {
    if (resize === null) return;
    for await (const size of resize) call.resizes.push(size);
  }

  #record(op: Op, fields: Omit<FakeCall, 'resizes' | 'aborted' | 'settled'>): FakeCall {
    const call: FakeCall = { ...fields, resizes: [], aborted: false, settled: false };
    op.signal.addEventListener('abort', () => { call.aborted = true; }, { once: true });
    this.calls.push(call);
    return call;
  }
}

function present(io: ExecIo | AttachIo): FakeCall['streams'] {
  return { stdin: io.stdin !== null, stdout: io.stdout !== null, stderr: io.stderr !== null, resize: io.resize !== null };
}

async function write(w: Writable | null, text: string): Promise<void> {
  if (w === null || text === '') return;
  if (!w.write(text)) await once(w, 'drain');
}

/** Copies stdin to stdout with backpressure; resolves when stdin ends. */
async function cat(stdin: Readable | null, stdout: Writable | null): Promise<void> {
  if (stdin === null) return;
  if (stdout === null) return drain(stdin);
  stdin.pipe(stdout, { end: false });
  await settledOf(stdin);
  stdin.unpipe(stdout);
}

async function drain(r: Readable | null): Promise<void> {
  if (r === null) return;
  r.resume();
  await settledOf(r);
}

function settledOf(r: Readable): Promise<void> {
  if (r.readableEnded || r.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    r.once('end', resolve);
    r.once('close', resolve);
  });
}

function abortOf(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** A started StreamingServer on 127.0.0.1 with a FakeStreamingBackend and a silent logger. */
export async function startFakeStreamingServer(
  overrides: Partial<StreamingServerDeps> = {},
): Promise<{ server: StreamingServer; backend: FakeStreamingBackend }> {
  const backend = new FakeStreamingBackend();
  const server = new StreamingServer({ log: pino({ level: process.env['STREAMING_TEST_LOG'] ?? 'silent' }), backend, ...overrides });
  await server.start();
  return { server, backend };
}
