/**
 * The HTTP(S) streaming server behind Exec, Attach and PortForward (DESIGN: Streaming;
 * cri-api item 25). The RPCs call `prepare*()` and return the URL; the client (kubelet proxy,
 * crictl) then upgrades `/exec|attach|portforward/{token}` to SPDY/3.1 or WebSocket.
 * Shaped like cri-streaming `server.go`: single-use tokens with a TTL, 30 s stream creation
 * timeout, 4 h idle timeout.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { InvalidArgumentError } from '../lib/errors.ts';
import type { StreamAttachRequest, StreamExecRequest, StreamPortForwardRequest, StreamingBackend } from './backend.ts';
import { PORTFORWARD_PROTOCOL, servePortForwardSpdy } from './portforward.ts';
import { PORTFORWARD_WS_CHANNEL_PROTOCOL, servePortForwardWs } from './portforward-ws.ts';
import { negotiateSpdyProtocol, serveRemoteCommandSpdy } from './remotecommand.ts';
import { serveRemoteCommandWs } from './remotecommand-ws.ts';
import type { SessionSpec } from './session.ts';
import { REMOTECOMMAND_SPDY_PROTOCOLS, REMOTECOMMAND_WS_PROTOCOLS, type RemoteCommandProtocol } from './status.ts';
import { TokenCache, systemClock, type Clock } from './token-cache.ts';
import { httpServerOptions, limitServer } from '../lib/http-limits.ts';

/** Port-forward tunnelled as SPDY inside WebSocket (client-go tunneling_dialer.go). */
const PORTFORWARD_WS_TUNNEL_PROTOCOL = `SPDY/3.1+${PORTFORWARD_PROTOCOL}`;

export interface StreamingServerDeps {
  log: Logger;
  backend: StreamingBackend;
  /** Listen address; default 127.0.0.1 (never exposed beyond the node by default). */
  address?: string;
  /** 0 picks a random free port. */
  port?: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  streamCreationTimeoutMs?: number;
  streamIdleTimeoutMs?: number;
  clock?: Clock;
  tokenTtlMs?: number;
  maxTokensInFlight?: number;
}

type Pending =
  | SessionSpec
  | { kind: 'portforward'; request: StreamPortForwardRequest };

/**
 * The largest WebSocket message accepted (ws defaults to 100 MiB, buffered whole): client-go
 * writes stdin and port-forward data in 32 KiB pieces, so 4 MiB is generous and bounded.
 */
export const MAX_WS_MESSAGE_BYTES = 4 * 1024 * 1024;

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/;

export class StreamingServer {
  readonly #deps: StreamingServerDeps;
  readonly #log: Logger;
  readonly #tokens: TokenCache<Pending>;
  readonly #server: http.Server;
  readonly #wsRemoteCommand: WebSocketServer;
  readonly #wsPortForward: WebSocketServer;
  readonly #sockets = new Set<Duplex>();
  readonly #sessions = new Set<Promise<void>>();
  readonly #shutdown = new AbortController();
  readonly #creationTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  #baseUrl: string | undefined;

  constructor(deps: StreamingServerDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#creationTimeoutMs = deps.streamCreationTimeoutMs ?? 30_000;
    this.#idleTimeoutMs = deps.streamIdleTimeoutMs ?? 4 * 60 * 60_000;
    this.#tokens = new TokenCache({ clock: deps.clock ?? systemClock, ttlMs: deps.tokenTtlMs, maxInFlight: deps.maxTokensInFlight });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => this.#onRequest(req, res);
    this.#server = limitServer(deps.tls ? https.createServer({ ...httpServerOptions(), cert: deps.tls.cert, key: deps.tls.key }, onRequest) : http.createServer(httpServerOptions(), onRequest));
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => rejectClient(err, socket));
    this.#wsRemoteCommand = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_WS_MESSAGE_BYTES,
      handleProtocols: (offered) => REMOTECOMMAND_WS_PROTOCOLS.find((p) => offered.has(asWsToken(p))) ?? false,
    });
    this.#wsPortForward = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: MAX_WS_MESSAGE_BYTES,
      handleProtocols: (offered) =>
        [PORTFORWARD_WS_TUNNEL_PROTOCOL, PORTFORWARD_WS_CHANNEL_PROTOCOL].find((p) => offered.has(asWsToken(p))) ?? false,
    });
  }

  async start(): Promise<void> {
    const address = this.#deps.address ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#deps.port ?? 0, address, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    this.#baseUrl = `${this.#deps.tls ? 'https' : 'http'}://${host}:${port}`;
    this.#log.info({ url: this.#baseUrl }, 'Streaming server listening');
  }

  /** Stops listening, ends every session (their backend ops are aborted) and waits for them. */
  async close(): Promise<void> {
    this.#shutdown.abort(new Error('streaming server is shutting down'));
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await Promise.allSettled(this.#sessions);
    this.#wsRemoteCommand.close();
    this.#wsPortForward.close();
    await closed;
  }

  /** The base URL, e.g. `http://127.0.0.1:41234`; throws before start(). */
  url(): string {
    if (this.#baseUrl === undefined) throw new Error('streaming server is not started');
    return this.#baseUrl;
  }

  prepareExec(req: StreamExecRequest): string {
    if (req.containerId === '') throw new InvalidArgumentError('exec: container id must not be empty');
    if (req.cmd.length === 0) throw new InvalidArgumentError(`exec in container "${req.containerId}": cmd must not be empty`);
    validateStreams('exec', req);
    return this.#issue('exec', { kind: 'exec', request: { ...req, cmd: [...req.cmd] } });
  }

  prepareAttach(req: StreamAttachRequest): string {
    if (req.containerId === '') throw new InvalidArgumentError('attach: container id must not be empty');
    validateStreams('attach', req);
    return this.#issue('attach', { kind: 'attach', request: { ...req } });
  }

  preparePortForward(req: StreamPortForwardRequest): string {
    if (req.podId === '') throw new InvalidArgumentError('port-forward: pod sandbox id must not be empty');
    const bad = req.ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
    if (bad !== undefined) throw new InvalidArgumentError(`port-forward to pod "${req.podId}": invalid port ${bad}`);
    return this.#issue('portforward', { kind: 'portforward', request: { podId: req.podId, ports: [...req.ports] } });
  }

  #issue(path: string, pending: Pending): string {
    return `${this.url()}/${path}/${this.#tokens.insert(pending)}`;
  }

  #lookup(url: string | undefined): { kind: string; token: string; pending: Pending | undefined } | null {
    const m = ROUTE.exec(url ?? '');
    if (m === null) return null;
    const kind = m[1]!;
    const token = m[2]!;
    const pending = this.#tokens.peek(token);
    return { kind, token, pending: pending?.kind === kind ? pending : undefined };
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const found = this.#lookup(req.url);
    if (found?.pending === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    // Not consumed: the client may still come back with the upgrade.
    res.writeHead(400, { 'content-type': 'text/plain' }).end('this endpoint needs an SPDY/3.1 or WebSocket upgrade\n');
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.#log.debug({ err }, 'Streaming socket error'));
    const found = this.#lookup(req.url);
    if (found?.pending === undefined) {
      rejectUpgrade(socket, 404, 'Not Found', '404 page not found\n');
      return;
    }
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade !== 'spdy/3.1' && upgrade !== 'websocket') {
      rejectUpgrade(socket, 400, 'Bad Request', `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}\n`);
      return;
    }
    const pending = found.pending;
    const offered = (upgrade === 'spdy/3.1' ? headerValues(req, 'x-stream-protocol-version') : headerValues(req, 'sec-websocket-protocol'));
    const refusal = refuseProtocols(pending.kind, upgrade, offered);
    if (refusal !== null) {
      rejectUpgrade(socket, 403, 'Forbidden', `unable to upgrade: ${refusal}\n`);
      return;
    }
    this.#tokens.consume(found.token); // single use: from here on the token is spent
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    (socket as Socket).setNoDelay?.(true);
    const log = this.#log.child(sessionLogFields(pending));
    const session = upgrade === 'spdy/3.1'
      ? this.#serveSpdy(socket, head, pending, offered, log)
      : this.#serveWebSocket(req, socket, head, pending, log);
    const tracked = session.catch((err: unknown) => log.warn({ err }, 'Streaming session failed')).finally(() => {
      this.#sessions.delete(tracked);
      if (!socket.destroyed) socket.end();
    });
    this.#sessions.add(tracked);
  }

  #serveSpdy(socket: Duplex, head: Buffer, pending: Pending, offered: string[], log: Logger): Promise<void> {
    const common = { transport: socket, head, log, backend: this.#deps.backend, creationTimeoutMs: this.#creationTimeoutMs, idleTimeoutMs: this.#idleTimeoutMs, shutdown: this.#shutdown.signal };
    if (pending.kind === 'portforward') {
      socket.write(switchingProtocols(PORTFORWARD_PROTOCOL));
      return servePortForwardSpdy({ ...common, podId: pending.request.podId });
    }
    const protocol = negotiateSpdyProtocol(offered)!;
    socket.write(switchingProtocols(protocol));
    return serveRemoteCommandSpdy({ ...common, protocol, spec: pending });
  }

  async #serveWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, pending: Pending, log: Logger): Promise<void> {
    const wss = pending.kind === 'portforward' ? this.#wsPortForward : this.#wsRemoteCommand;
    const offered = headerValues(req, 'sec-websocket-protocol');
    if (offered.length > 0) req.headers['sec-websocket-protocol'] = offered.map(asWsToken).join(', ');
    const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
    const common = { ws, log, backend: this.#deps.backend, idleTimeoutMs: this.#idleTimeoutMs, shutdown: this.#shutdown.signal };
    if (pending.kind !== 'portforward') {
      // No subprotocol at all is the kubelet's binary channel protocol.
      const protocol = (ws.protocol === '' ? 'channel.k8s.io' : ws.protocol) as RemoteCommandProtocol;
      return serveRemoteCommandWs({ ...common, protocol, spec: pending });
    }
    if (ws.protocol === PORTFORWARD_WS_TUNNEL_PROTOCOL) {
      const tunnel = createWebSocketStream(ws);
      return servePortForwardSpdy({
        transport: tunnel, head: Buffer.alloc(0), log, podId: pending.request.podId, backend: this.#deps.backend,
        creationTimeoutMs: this.#creationTimeoutMs, idleTimeoutMs: this.#idleTimeoutMs, shutdown: this.#shutdown.signal,
      });
    }
    return servePortForwardWs({ ...common, podId: pending.request.podId, ports: pending.request.ports });
  }
}

/**
 * `ws` rejects (400) a Sec-WebSocket-Protocol value that is not an RFC 7230 token, but
 * client-go's tunnel protocol `SPDY/3.1+portforward.k8s.io` holds a '/'. The offered values
 * are rewritten into tokens before `ws` parses them, and handleProtocols answers with the
 * original spelling, which `ws` echoes verbatim.
 */
function asWsToken(protocol: string): string {
  return protocol.replaceAll('/', '~');
}

/** cri-api item 26 (containerd's validateExecRequest / CRI-O). */
function validateStreams(what: string, req: { containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): void {
  if (req.tty && req.stderr) throw new InvalidArgumentError(`${what} in container "${req.containerId}": tty and stderr cannot both be true`);
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw new InvalidArgumentError(`${what} in container "${req.containerId}": one of stdin, stdout or stderr must be set`);
  }
}

/** Returns why the offered protocols cannot be served, or null when they can. */
function refuseProtocols(kind: Pending['kind'], upgrade: string, offered: string[]): string | null {
  if (upgrade === 'spdy/3.1') {
    if (kind === 'portforward') {
      return offered.length === 0 || offered.includes(PORTFORWARD_PROTOCOL) ? null : protocolMismatch(offered, [PORTFORWARD_PROTOCOL]);
    }
    return negotiateSpdyProtocol(offered) !== null ? null : protocolMismatch(offered, [...REMOTECOMMAND_SPDY_PROTOCOLS]);
  }
  if (kind === 'portforward') {
    // No subprotocol at all is kubelet's legacy binary channel protocol; allow it.
    const ours = [PORTFORWARD_WS_TUNNEL_PROTOCOL, PORTFORWARD_WS_CHANNEL_PROTOCOL];
    return offered.length === 0 || ours.some((p) => offered.includes(p)) ? null : protocolMismatch(offered, ours);
  }
  return offered.length === 0 || REMOTECOMMAND_WS_PROTOCOLS.some((p) => offered.includes(p)) ? null : protocolMismatch(offered, [...REMOTECOMMAND_WS_PROTOCOLS]);
}

function protocolMismatch(offered: string[], accepted: string[]): string {
  return `unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(accepted)}`;
}

/** All values of a possibly repeated, comma-joined header (Node joins repeats with ", "). */
function headerValues(req: http.IncomingMessage, name: string): string[] {
  const raw = req.headers[name];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function switchingProtocols(protocol: string): string {
  return `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`;
}

/**
 * A request Node could not parse or that came too slowly: say why (431 for oversized
 * headers, 408 for a timeout) and close, rather than dropping the connection silently.
 */
function rejectClient(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  (socket as Socket).destroySoon?.();
}

function rejectUpgrade(socket: Duplex, code: number, reason: string, body: string): void {
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function sessionLogFields(pending: Pending): Record<string, unknown> {
  if (pending.kind === 'portforward') return { stream: 'portforward', podId: pending.request.podId };
  return { stream: pending.kind, containerId: pending.request.containerId, tty: pending.request.tty };
}
