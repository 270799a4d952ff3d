/**
 * Remote command (exec/attach) over SPDY/3.1: protocols channel.k8s.io and v2–v4 (kubelet
 * `remotecommand/httpstream.go`). The client opens one SPDY stream per channel with a
 * `streamType` header; we wait for every expected stream before any DATA goes out, because
 * spdystream delivers DATA from its single frame loop to an unbuffered per-stream channel and
 * DATA for a stream nobody reads yet blocks the next SYN_REPLY (derisk §4 gotcha 1).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { StreamingBackend } from './backend.ts';
import { endAndWait, runSession, type SessionSpec } from './session.ts';
import { SpdyConnection } from './spdy/connection.ts';
import { RstStatus } from './spdy/frames.ts';
import type { SpdyStream } from './spdy/stream.ts';
import { REMOTECOMMAND_SPDY_PROTOCOLS, renderStatus, supportsResize, type RemoteCommandProtocol } from './status.ts';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** Picks our most preferred protocol among those the client offered; '' (no header) means v1. */
export function negotiateSpdyProtocol(offered: string[]): RemoteCommandProtocol | null {
  if (offered.length === 0) return 'channel.k8s.io';
  return REMOTECOMMAND_SPDY_PROTOCOLS.find((p) => offered.includes(p)) ?? null;
}

/** The streams client-go opens for these options (remotecommand v2 createStreams). */
function expectedStreamTypes(spec: SessionSpec, protocol: RemoteCommandProtocol): Set<StreamType> {
  const r = spec.request;
  const want = new Set<StreamType>(['error']);
  if (r.stdin) want.add('stdin');
  if (r.stdout) want.add('stdout');
  if (r.stderr && !r.tty) want.add('stderr');
  if (r.tty && supportsResize(protocol)) want.add('resize');
  return want;
}

export interface ServeRemoteCommandSpdyDeps {
  transport: Duplex;
  head: Buffer;
  protocol: RemoteCommandProtocol;
  spec: SessionSpec;
  backend: StreamingBackend;
  log: Logger;
  creationTimeoutMs: number;
  idleTimeoutMs: number;
  /** Aborts when the server shuts down. */
  shutdown: AbortSignal;
}

/** Serves one upgraded connection until the session ends or the client goes away. */
export async function serveRemoteCommandSpdy(deps: ServeRemoteCommandSpdyDeps): Promise<void> {
  const { log, protocol, spec } = deps;
  const expected = expectedStreamTypes(spec, protocol);
  const got = new Map<StreamType, SpdyStream>();
  let ready!: () => void;
  const allStreams = new Promise<void>((resolve) => { ready = resolve; });

  const conn = new SpdyConnection({
    transport: deps.transport,
    head: deps.head,
    log,
    idleTimeoutMs: deps.idleTimeoutMs,
    onStream: (stream) => {
      stream.on('error', (err) => log.debug({ err, streamId: stream.id }, 'Streaming stream error'));
      const type = stream.headers['streamtype'] as StreamType | undefined;
      if (type === undefined || !expected.has(type) || got.has(type)) {
        log.debug({ streamType: type }, 'Refusing unexpected remotecommand stream');
        stream.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      got.set(type, stream);
      if (got.size === expected.size) ready();
    },
  });

  const aborter = new AbortController();
  const onShutdown = (): void => aborter.abort(new Error('streaming server is shutting down'));
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });
  void conn.closed.then(() => aborter.abort(new Error('streaming client went away')));

  const timer = setTimeout(() => {
    log.warn({ got: [...got.keys()], expected: [...expected] }, 'Timed out waiting for remotecommand streams');
    conn.close();
  }, deps.creationTimeoutMs);
  timer.unref();
  try {
    await Promise.race([allStreams, conn.closed]);
    clearTimeout(timer);
    if (conn.isClosed) return;

    const stream = (t: StreamType): SpdyStream | null => got.get(t) ?? null;
    // Read sides we never consume must still flow, or a client FIN would sit unread.
    for (const t of ['error', 'stdout', 'stderr'] as const) stream(t)?.resume();
    log.debug({ protocol, streams: [...got.keys()] }, 'Remotecommand streams ready');
    const outcome = await runSession(
      { backend: deps.backend, log, signal: aborter.signal },
      spec,
      { stdin: stream('stdin'), stdout: stream('stdout'), stderr: stream('stderr'), resize: stream('resize') },
    );
    if (conn.isClosed) return;
    const errorStream = stream('error')!;
    const status = renderStatus(protocol, outcome);
    // Close the stdin stream too: client-go waits for the server to close it.
    await endAndWait(stream('stdin'));
    if (status !== '') errorStream.write(status);
    await endAndWait(errorStream);
    conn.close();
  } finally {
    clearTimeout(timer);
    deps.shutdown.removeEventListener('abort', onShutdown);
    if (deps.shutdown.aborted) conn.destroy();
  }
}
