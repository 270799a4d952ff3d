/**
 * One exec or attach session, independent of the transport: hands the streams to the backend,
 * turns resize JSON into events, and ends stdout/stderr once the backend is done so the
 * caller can write the status (client-go reads the status only after stdout/stderr EOF).
 */
import { Transform, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';
import type { StreamAttachRequest, StreamExecRequest, StreamingBackend, TerminalSize } from './backend.ts';
import type { SessionOutcome } from './status.ts';

export type SessionSpec =
  | { kind: 'exec'; request: StreamExecRequest }
  | { kind: 'attach'; request: StreamAttachRequest };

export interface SessionStreams {
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  /** Raw bytes of the resize stream (JSON TerminalSize objects, one per line). */
  resize: Readable | null;
}

export interface RunSessionDeps {
  backend: StreamingBackend;
  log: Logger;
  signal: AbortSignal;
}

/** A resize stream is a few hundred bytes at most; anything longer per line is garbage. */
const MAX_RESIZE_LINE = 4096;

export async function runSession(deps: RunSessionDeps, spec: SessionSpec, streams: SessionStreams): Promise<SessionOutcome> {
  const op = { log: deps.log, signal: deps.signal };
  const io = {
    tty: spec.request.tty,
    stdin: streams.stdin,
    stdout: streams.stdout,
    stderr: streams.stderr,
    resize: streams.resize ? streams.resize.pipe(resizeDecoder(deps.log)) : null,
  };
  let outcome: SessionOutcome;
  try {
    if (spec.kind === 'exec') {
      const { exitCode } = await deps.backend.exec(op, { ...io, containerId: spec.request.containerId, cmd: spec.request.cmd });
      outcome = { kind: 'exited', exitCode };
    } else {
      await deps.backend.attach(op, { ...io, containerId: spec.request.containerId });
      outcome = { kind: 'exited', exitCode: 0 };
    }
  } catch (err) {
    const what = spec.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    outcome = { kind: 'failed', message: `${what}: ${describeError(err)}` };
    if (!deps.signal.aborted) deps.log.warn({ err }, `Streaming ${spec.kind} failed`);
  }
  await Promise.all([endAndWait(streams.stdout), endAndWait(streams.stderr)]);
  return outcome;
}

/** Ends a writable and waits until its last byte is handed to the transport. */
export async function endAndWait(w: Writable | null): Promise<void> {
  if (w === null || w.destroyed) return;
  if (!w.writableEnded) w.end();
  await finished(w, { readable: false }).catch(() => undefined);
}

/** Bytes → TerminalSize objects. Go's json.Encoder ends each object with a newline. */
function resizeDecoder(log: Logger): Transform {
  let pending = '';
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _enc, cb) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const size = parseTerminalSize(pending.slice(0, nl), log);
        pending = pending.slice(nl + 1);
        if (size) this.push(size);
      }
      // Tolerate a final object without a newline, but never buffer without bound.
      const whole = parseTerminalSize(pending, undefined);
      if (whole) {
        this.push(whole);
        pending = '';
      } else if (pending.length > MAX_RESIZE_LINE) {
        pending = '';
      }
      cb();
    },
  });
}

function parseTerminalSize(line: string, log: Logger | undefined): TerminalSize | null {
  const text = line.trim();
  if (text === '') return null;
  try {
    const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
    if (typeof v.Width === 'number' && typeof v.Height === 'number') return { width: v.Width, height: v.Height };
  } catch {
    // fall through
  }
  log?.debug({ line: text.slice(0, 200) }, 'Ignoring malformed resize message');
  return null;
}
