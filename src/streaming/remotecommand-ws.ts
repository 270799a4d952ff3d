/**
 * Remote command over WebSocket: v5.channel.k8s.io and v4.channel.k8s.io (client-go
 * `transport/websocket`, KEP-3396), and the older protocols the kubelet's streaming server
 * also accepts (channel.k8s.io, no subprotocol at all, and the base64 variants). Every binary
 * message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (status),
 * 4 resize; base64 protocols send text messages whose first character is '0'+channel and
 * whose rest is base64. v5 adds CLOSE = [255, channel], which the client sends to half-close
 * stdin. The status goes on channel 3, then close 1000.
 */
import { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { StreamingBackend } from './backend.ts';
import { IdleTimer } from './idle-timer.ts';
import { runSession, type SessionSpec } from './session.ts';
import { renderStatus, type RemoteCommandProtocol } from './status.ts';

const Channel = { STDIN: 0, STDOUT: 1, STDERR: 2, ERROR: 3, RESIZE: 4, CLOSE: 255 } as const;

/** Stdin buffered ahead of the backend before the WebSocket is paused. */
const STDIN_HIGH_WATER_MARK = 256 * 1024;

export interface ServeRemoteCommandWsDeps {
  ws: WebSocket;
  protocol: RemoteCommandProtocol;
  spec: SessionSpec;
  backend: StreamingBackend;
  log: Logger;
  idleTimeoutMs: number;
  shutdown: AbortSignal;
}

export async function serveRemoteCommandWs(deps: ServeRemoteCommandWsDeps): Promise<void> {
  const { ws, protocol, spec, log } = deps;
  const r = spec.request;
  const idle = new IdleTimer({
    timeoutMs: deps.idleTimeoutMs,
    onIdle: () => {
      log.info({ idleTimeoutMs: deps.idleTimeoutMs }, 'Closing idle streaming connection');
      ws.close(1000, 'idle timeout');
    },
  });
  const aborter = new AbortController();
  const onShutdown = (): void => aborter.abort(new Error('streaming server is shutting down'));
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });

  let wsPaused = false;
  const stdin = r.stdin
    ? new Readable({
        highWaterMark: STDIN_HIGH_WATER_MARK,
        read() {
          if (wsPaused) {
            wsPaused = false;
            ws.resume();
          }
        },
      })
    : null;
  // Over WebSocket the kubelet opens the resize channel for every protocol version.
  const resize = r.tty ? new Readable({ read() {} }) : null;
  const codec = frameCodec(protocol);
  const stdout = r.stdout ? channelWriter(ws, Channel.STDOUT, idle, codec) : null;
  const stderr = r.stderr && !r.tty ? channelWriter(ws, Channel.STDERR, idle, codec) : null;
  if (protocol !== 'v5.channel.k8s.io') {
    // The kubelet's "connection established" notice: an empty frame on the lowest writable channel.
    ws.send(codec.encode(r.stdout ? Channel.STDOUT : r.stderr && !r.tty ? Channel.STDERR : Channel.ERROR, Buffer.alloc(0)));
  }

  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    idle.touch();
    const frame = codec.decode(raw, isBinary);
    if (frame === undefined) return;
    const { channel, payload } = frame;
    switch (channel) {
      case Channel.STDIN:
        if (stdin && !stdin.readableEnded && payload.length > 0 && !stdin.push(payload)) {
          wsPaused = true;
          ws.pause();
        }
        return;
      case Channel.RESIZE:
        resize?.push(payload);
        return;
      case Channel.CLOSE:
        if (protocol === 'v5.channel.k8s.io' && payload[0] === Channel.STDIN) stdin?.push(null);
        return;
      default:
        return;
    }
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  void closed.then(() => {
    aborter.abort(new Error('streaming client went away'));
    stdin?.push(null);
    resize?.push(null);
  });
  ws.on('error', (err) => log.debug({ err }, 'Streaming WebSocket error'));

  try {
    const outcome = await runSession({ backend: deps.backend, log, signal: aborter.signal }, spec, { stdin, stdout, stderr, resize });
    if (ws.readyState !== ws.OPEN) return;
    const status = renderStatus(protocol, outcome);
    if (status !== '') {
      await new Promise<void>((resolve) => {
        ws.send(codec.encode(Channel.ERROR, Buffer.from(status)), () => resolve());
      });
    }
    ws.close(1000);
  } finally {
    idle.stop();
    deps.shutdown.removeEventListener('abort', onShutdown);
    resize?.push(null);
    if (deps.shutdown.aborted) ws.terminate();
  }
}

interface FrameCodec {
  encode(channel: number, data: Buffer): Buffer | string;
  /** undefined for a frame to ignore (empty, or of the wrong type for the protocol). */
  decode(raw: Buffer, isBinary: boolean): { channel: number; payload: Buffer } | undefined;
}

const BINARY_CODEC: FrameCodec = {
  encode: (channel, data) => Buffer.concat([Buffer.from([channel]), data]),
  decode: (raw, isBinary) => (isBinary && raw.length > 0 ? { channel: raw[0]!, payload: raw.subarray(1) } : undefined),
};

const BASE64_CODEC: FrameCodec = {
  encode: (channel, data) => `${String.fromCharCode(48 + channel)}${data.toString('base64')}`,
  decode: (raw, isBinary) => {
    if (isBinary || raw.length === 0) return undefined;
    // CLOSE (255) is v5-only, which has no base64 variant.
    return { channel: raw[0]! - 48, payload: Buffer.from(raw.subarray(1).toString('latin1'), 'base64') };
  },
};

function frameCodec(protocol: RemoteCommandProtocol): FrameCodec {
  return protocol.includes('base64.') ? BASE64_CODEC : BINARY_CODEC;
}

/** A Writable that sends each chunk as one message on `channel`; the callback waits for the socket. */
function channelWriter(ws: WebSocket, channel: number, idle: IdleTimer, codec: FrameCodec): Writable {
  const writer = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) {
        cb(new Error('WebSocket closed'));
        return;
      }
      idle.touch();
      ws.send(codec.encode(channel, chunk), (err) => cb(err ?? null));
    },
  });
  // A write after the client left fails; the session notices through its abort signal.
  writer.on('error', () => undefined);
  return writer;
}
