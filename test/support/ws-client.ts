/**
 * The test suite's own WebSocket clients for the streaming server, written from client-go's
 * `transport/websocket` (remotecommand v4/v5: channel byte prefix, v5 CLOSE = [255, channel]),
 * `tools/portforward/tunneling_connection.go` (SPDY inside binary messages, no prefix) and
 * kubelet's `portforward/websocket.go` (data/error channel pairs, port prefix).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

/** `onMessage` is attached before the handshake: the server may send in the same packet as its 101. */
export function wsConnect(url: string, protocols: string[], onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url), protocols, { perMessageDeflate: false, rejectUnauthorized: false });
    if (onMessage) ws.on('message', onMessage);
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
  const chunks = new Map<number, Buffer[]>([[1, []], [2, []], [3, []]]);
  const order: number[] = [];
  const ws = await wsConnect(url, opts.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'], (data) => {
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

/**
 * Port-forward with SPDY tunnelled in WebSocket, with a hand-made handshake and framing: the
 * `ws` client refuses to send client-go's subprotocol `SPDY/3.1+portforward.k8s.io` (the '/'
 * is not a token character), and gorilla/websocket, which client-go uses, sends it anyway.
 * Each write is one masked binary message; reads are message payloads, as in
 * tunneling_connection.go.
 */
export function wsTunnel(url: string, protocol = 'SPDY/3.1+portforward.k8s.io'): Promise<{ protocol: string; duplex: Duplex; socket: Duplex }> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Protocol': protocol },
    });
    req.on('response', (res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.on('upgrade', (res, socket, head) => {
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        reject(new Error('bad Sec-WebSocket-Accept'));
        return;
      }
      resolve({ protocol: String(res.headers['sec-websocket-protocol'] ?? ''), duplex: rawWsDuplex(socket, head), socket });
    });
    req.end();
  });
}

function rawWsDuplex(socket: Duplex, head: Buffer): Duplex {
  let buf: Buffer = Buffer.from(head);
  const send = (opcode: number, payload: Buffer): boolean => {
    const mask = randomBytes(4);
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
      : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigLen(len)]);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    return socket.write(Buffer.concat([header, mask, masked]));
  };
  const duplex = new Duplex({
    read() { socket.resume(); },
    write(chunk: Buffer, _e, cb) {
      if (send(0x2, chunk)) cb();
      else socket.once('drain', () => cb());
    },
    final(cb) { send(0x8, Buffer.from([0x03, 0xe8])); cb(); },
  });
  const parse = (): void => {
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 0x2 || opcode === 0x0) {
        if (!duplex.push(Buffer.from(payload))) socket.pause();
      } else if (opcode === 0x8) {
        duplex.push(null);
        socket.end();
        return;
      } else if (opcode === 0x9) {
        send(0xa, payload);
      }
    }
  };
  socket.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); parse(); });
  socket.on('close', () => { if (!duplex.readableEnded) duplex.push(null); });
  socket.on('error', () => undefined);
  parse();
  return duplex;
}

function bigLen(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Port-forward over plain channels: per port, channel 2i data and 2i+1 error. */
export class WsChannelPortForward {
  readonly ws: WebSocket;
  readonly received: Map<number, Buffer[]>;
  readonly closed: Promise<number>;
  private constructor(ws: WebSocket, received: Map<number, Buffer[]>) {
    this.ws = ws;
    this.received = received;
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  }
  static async connect(url: string, protocols: string[]): Promise<WsChannelPortForward> {
    const received = new Map<number, Buffer[]>();
    const ws = await wsConnect(url, protocols, (data) => {
      const list = received.get(data[0]!) ?? [];
      list.push(data.subarray(1));
      received.set(data[0]!, list);
    });
    return new WsChannelPortForward(ws, received);
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
