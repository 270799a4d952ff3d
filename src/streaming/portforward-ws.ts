/**
 * Port-forward over plain WebSocket channels (`v4.channel.k8s.io`, or no subprotocol; kubelet
 * `portforward/websocket.go`). The ports come from the PortForward request. Port i gets
 * channel 2i for data and 2i+1 for errors; the server's first message on each channel is the
 * port as a little-endian uint16. There is one connection per port and no half-close, so a
 * port is done when its target closes; the WebSocket closes when every port is done.
 */
import { Duplex } from 'node:stream';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { describeError } from '../lib/errors.ts';
import type { StreamingBackend } from './backend.ts';
import { IdleTimer } from './idle-timer.ts';

export const PORTFORWARD_WS_CHANNEL_PROTOCOL = 'v4.channel.k8s.io';

const DATA_HIGH_WATER_MARK = 256 * 1024;

export interface ServePortForwardWsDeps {
  ws: WebSocket;
  podId: string;
  ports: number[];
  backend: StreamingBackend;
  log: Logger;
  idleTimeoutMs: number;
  shutdown: AbortSignal;
}

export async function servePortForwardWs(deps: ServePortForwardWsDeps): Promise<void> {
  const { ws, log, podId, ports } = deps;
  const aborter = new AbortController();
  // One signal is shared by every forwarded connection of this session.
  setMaxListeners(0, aborter.signal);
  const onShutdown = (): void => aborter.abort(new Error('streaming server is shutting down'));
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });
  const idle = new IdleTimer({ timeoutMs: deps.idleTimeoutMs, onIdle: () => ws.close(1000, 'idle timeout') });
  ws.on('error', (err) => log.debug({ err }, 'Port-forward WebSocket error'));

  const paused = new Set<number>();
  const streams = ports.map((port, i) => channelDuplex(ws, 2 * i, idle, () => {
    paused.delete(i);
    if (paused.size === 0) ws.resume();
  }));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    idle.touch();
    if (!isBinary || data.length === 0) return;
    const channel = data[0]!;
    const stream = channel % 2 === 0 ? streams[channel / 2] : undefined;
    if (stream && !stream.readableEnded && !stream.push(data.subarray(1))) {
      paused.add(channel / 2);
      ws.pause();
    }
  });
  ws.once('close', () => {
    aborter.abort(new Error('port-forward client went away'));
    for (const s of streams) s.destroy();
  });

  for (const [i, port] of ports.entries()) {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    ws.send(Buffer.concat([Buffer.from([2 * i]), portBytes]));
    ws.send(Buffer.concat([Buffer.from([2 * i + 1]), portBytes]));
  }

  try {
    await Promise.all(ports.map(async (port, i) => {
      const stream = streams[i]!;
      try {
        await deps.backend.portForward({ log: log.child({ port }), signal: aborter.signal }, { podId, port, stream });
      } catch (err) {
        if (aborter.signal.aborted || ws.readyState !== ws.OPEN) return;
        const message = `error forwarding port ${port} to pod ${podId}: ${describeError(err)}`;
        ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(message)]));
      }
    }));
    if (ws.readyState === ws.OPEN) ws.close(1000);
  } finally {
    idle.stop();
    deps.shutdown.removeEventListener('abort', onShutdown);
    if (deps.shutdown.aborted) ws.terminate();
  }
}

/** One port's data channel as a Duplex; ending the writable side ends the readable side too. */
function channelDuplex(ws: WebSocket, channel: number, idle: IdleTimer, onRead: () => void): Duplex {
  const prefix = Buffer.from([channel]);
  const duplex = new Duplex({
    readableHighWaterMark: DATA_HIGH_WATER_MARK,
    read: onRead,
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) {
        cb(new Error('WebSocket closed'));
        return;
      }
      idle.touch();
      ws.send(Buffer.concat([prefix, chunk]), (err) => cb(err ?? null));
    },
    final(cb) {
      // The protocol has no per-channel close: once the target is done, so is this port.
      duplex.push(null);
      cb();
    },
  });
  duplex.on('error', () => undefined);
  return duplex;
}
