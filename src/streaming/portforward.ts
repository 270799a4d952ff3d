/**
 * Port-forward over SPDY/3.1, protocol `portforward.k8s.io` (kubelet
 * `portforward/httpstream.go`). Used both for a plain upgraded socket and for SPDY tunnelled
 * inside WebSocket (`SPDY/3.1+portforward.k8s.io`, client-go ≥ 1.30). For every forwarded
 * connection the client opens a pair of streams sharing a `requestID` header: `streamType`
 * error (which it half-closes at once) and data, both with a `port` header. The error stream
 * is closed only once the dial result is known (derisk §4 gotcha 7).
 */
import type { Duplex } from 'node:stream';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';
import type { StreamingBackend } from './backend.ts';
import { endAndWait } from './session.ts';
import { SpdyConnection } from './spdy/connection.ts';
import { RstStatus } from './spdy/frames.ts';
import type { SpdyStream } from './spdy/stream.ts';

export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

interface StreamPair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface ServePortForwardSpdyDeps {
  transport: Duplex;
  head: Buffer;
  podId: string;
  backend: StreamingBackend;
  log: Logger;
  creationTimeoutMs: number;
  idleTimeoutMs: number;
  shutdown: AbortSignal;
}

/** Parses the `port` header; kubelet accepts 1–65535 only. */
function parsePort(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return null;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : null;
}

/** Serves one port-forward connection until the client closes it. */
export async function servePortForwardSpdy(deps: ServePortForwardSpdyDeps): Promise<void> {
  const { log, podId } = deps;
  const pairs = new Map<string, StreamPair>();
  const aborter = new AbortController();
  // One signal is shared by every forwarded connection of this session.
  setMaxListeners(0, aborter.signal);
  const forwards = new Set<Promise<void>>();

  const onStream = (stream: SpdyStream): void => {
    stream.on('error', (err) => log.debug({ err, streamId: stream.id }, 'Port-forward stream error'));
    const type = stream.headers['streamtype'];
    if (type !== 'error' && type !== 'data') {
      stream.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    // Clients before requestID existed paired a data stream with the error stream opened
    // just before it (stream ids step by 2), as kubelet's requestID() does.
    const requestId = stream.headers['requestid'] ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(requestId);
    if (pair === undefined) {
      const timer = setTimeout(() => {
        log.warn({ requestId }, 'Timed out waiting for the other stream of a port-forward pair');
        pairs.delete(requestId);
        pair?.error?.reset(RstStatus.CANCEL);
        pair?.data?.reset(RstStatus.CANCEL);
      }, deps.creationTimeoutMs);
      timer.unref();
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) {
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[type] = stream;
    if (pair.error === undefined || pair.data === undefined) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    const done = forwardPair(pair.error, pair.data);
    forwards.add(done);
    void done.finally(() => forwards.delete(done));
  };

  const forwardPair = async (errorStream: SpdyStream, data: SpdyStream): Promise<void> => {
    errorStream.resume(); // the client half-closes it at once; let that FIN be read
    const port = parsePort(data.headers['port']);
    const portLog = log.child({ port: data.headers['port'] });
    try {
      if (port === null) throw new Error(`invalid port ${JSON.stringify(data.headers['port'] ?? '')}`);
      await deps.backend.portForward({ log: portLog, signal: aborter.signal }, { podId, port, stream: data });
    } catch (err) {
      if (aborter.signal.aborted) return;
      const message = `error forwarding port ${data.headers['port'] ?? ''} to pod ${podId}: ${describeError(err)}`;
      portLog.info({ reason: describeError(err) }, 'Port-forward connection failed');
      if (!errorStream.destroyed) errorStream.write(message);
    }
    await endAndWait(data);
    await endAndWait(errorStream);
  };

  const conn = new SpdyConnection({ transport: deps.transport, head: deps.head, log, idleTimeoutMs: deps.idleTimeoutMs, onStream });
  const onShutdown = (): void => conn.close();
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });
  try {
    await conn.closed;
  } finally {
    deps.shutdown.removeEventListener('abort', onShutdown);
    aborter.abort(new Error('port-forward connection closed'));
    for (const pair of pairs.values()) clearTimeout(pair.timer);
    await Promise.allSettled(forwards);
  }
}
