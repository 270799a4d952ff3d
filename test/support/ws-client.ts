/**
 * The test suite's own WebSocket clients for the streaming server, written from client-go's
 * `transport/websocket` (remotecommand v4/v5: channel byte prefix, v5 CLOSE = [255, channel]),
 * `tools/portforward/tunneling_connection.go` (SPDY inside binary messages, no prefix) and
 * kubelet's `portforward/websocket.go` (data/error channel pairs, port prefix).
 */
import { WebSocket, createWebSocketStream } from 'ws';
import type { Duplex } from 'node:stream';

export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

export function wsConnect(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), protocols, { perMessageDeflate: false, rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export interface WsExecOptions {
  protocols?: string[];
  stdin?: string | Buffer;
  /** Send the v5 CLOSE signal for stdin after the data. */
  closeStdin?: boolean;
  resizes?: { Width: number; Height: number }[];
}

export interface WsExecResult {
  protocol: string;
  stdout: string;
  stderr: string;
  status: string;
  closeCode: number;
  /** Channels in the order their messages arrived (to check the status comes last). */
  order: number[];
}

export async function wsExec(url: string, opts: WsExecOptions): Promise<WsExecResult> {
  const ws = await wsConnect(url, opts.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  const chunks = new Map<number, Buffer[]>([[1, []], [2, []], [3, []]]);
  const order: number[] = [];
  ws.on('message', (data: Buffer) => {
    const ch = data[0]!;
    if (data.length > 1) order.push(ch);
    chunks.get(ch)?.push(data.subarray(1));
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  for (const size of opts.resizes ?? []) ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(`${JSON.stringify(size)}\n`)]));
  if (opts.stdin !== undefined) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(opts.stdin)]));
  if (opts.closeStdin) ws.send(Buffer.from([255, 0]));
  const closeCode = await closed;
  const text = (ch: number): string => Buffer.concat(chunks.get(ch) ?? []).toString();
  return { protocol: ws.protocol, stdout: text(1), stderr: text(2), status: text(3), closeCode, order };
}

/** Port-forward with SPDY tunnelled in WebSocket: returns the Duplex to run SPDY over. */
export async function wsTunnel(url: string): Promise<{ ws: WebSocket; duplex: Duplex }> {
  const ws = await wsConnect(url, ['SPDY/3.1+portforward.k8s.io']);
  return { ws, duplex: createWebSocketStream(ws) };
}

/** Port-forward over plain channels: per port, channel 2i data and 2i+1 error. */
export class WsChannelPortForward {
  readonly ws: WebSocket;
  readonly received = new Map<number, Buffer[]>();
  readonly closed: Promise<number>;
  constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data: Buffer) => {
      const ch = data[0]!;
      const list = this.received.get(ch) ?? [];
      list.push(data.subarray(1));
      this.received.set(ch, list);
    });
  }
  send(channel: number, data: Buffer | string): void {
    this.ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  }
  /** Bytes on a channel, without the 2-byte port prefix of its first message. */
  channelData(channel: number): { port: number | null; data: Buffer } {
    const all = Buffer.concat(this.received.get(channel) ?? []);
    if (all.length < 2) return { port: null, data: Buffer.alloc(0) };
    return { port: all.readUInt16LE(0), data: all.subarray(2) };
  }
}
