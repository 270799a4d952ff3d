/**
 * The daemon side of the admin API (see protocol.ts): an HTTP server on a unix socket
 * that only root may open (mode 0600 in a 0700 run dir). Pulls go through the same
 * ImageService as CRI's PullImage, so a `critter pull` and a kubelet pull of the same
 * image share one operation. Credentials in a request body are never logged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Op } from '../lib/op.ts';
import { InvalidArgumentError, NotFoundError, describeError } from '../lib/errors.ts';
import type { ImageService } from '../image/image-service.ts';
import { credentialsFromAuthConfig } from '../image/auth.ts';
import type { ImageRecord } from '../storage/store.ts';
import { ROUTES, type AdminImage, type AdminStatus, type ImportRequestBody, type PullEvent, type PullRequestBody } from './protocol.ts';
import { adminCode, httpStatusOf } from './error-codes.ts';
import { PullEventSink } from './pull-events.ts';
import { httpServerOptions, limitServer } from '../lib/http-limits.ts';

/** Request bodies are a reference or a path plus credentials: small. */
const MAX_BODY_BYTES = 64 * 1024;

export interface AdminServerDeps {
  socketPath: string;
  log: Logger;
  images: Pick<ImageService, 'pull' | 'list'>;
  /** Loads an OCI-layout or docker-save archive into the store. */
  importArchive(op: Op, path: string): Promise<ImageRecord[]>;
  /** Makes the socket path bindable (stale socket removed, live one refused). */
  prepareSocketPath(path: string): Promise<void>;
  /** The `critter status` summary; absent = the route answers not found. */
  status?: () => Promise<AdminStatus>;
}

export class AdminServer {
  readonly #deps: AdminServerDeps;
  readonly #server: Server;
  readonly #running = new Set<AbortController>();
  #listening = false;

  constructor(deps: AdminServerDeps) {
    this.#deps = deps;
    this.#server = limitServer(createServer(httpServerOptions(), (req, res) => void this.#handle(req, res)));
  }

  async start(): Promise<void> {
    const path = this.#deps.socketPath;
    await this.#deps.prepareSocketPath(path);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#listening = true;
    await chmod(path, 0o600);
    this.#deps.log.info({ socket: path }, 'Admin API listening');
  }

  /** Cancels running requests, closes the listener and removes the socket file. */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    for (const c of this.#running) c.abort(new Error('critter is shutting down'));
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    setTimeout(() => this.#server.closeAllConnections(), 2000).unref();
    await closed;
    await unlink(this.#deps.socketPath).catch(() => undefined);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = `${req.method ?? ''} ${(req.url ?? '').split('?')[0] ?? ''}`;
    const controller = new AbortController();
    // A client that goes away (Ctrl-C on `critter pull`) cancels its request.
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('admin client disconnected'));
      this.#running.delete(controller);
    });
    this.#running.add(controller);
    const op: Op = { log: this.#deps.log.child({ route }), signal: controller.signal };
    try {
      switch (route) {
        case `GET ${ROUTES.list}`:
          return sendJson(res, 200, { images: this.#deps.images.list().map(adminImage) });
        case `POST ${ROUTES.pull}`:
          return await this.#pull(op, parsePull(await readJson(req)), res);
        case `POST ${ROUTES.import}`: {
          const body = parseImport(await readJson(req));
          const recs = await this.#deps.importArchive(op, body.path);
          return sendJson(res, 200, { images: recs.map(adminImage) });
        }
        case `GET ${ROUTES.status}`:
          if (this.#deps.status) return sendJson(res, 200, await this.#deps.status());
          throw new NotFoundError(`no admin route ${route}`);
        default:
          throw new NotFoundError(`no admin route ${route}`);
      }
    } catch (err) {
      const code = adminCode(err);
      op.log.warn({ err: describeError(err), code }, 'Admin request failed');
      if (!res.headersSent) sendJson(res, httpStatusOf(code), { error: describeError(err), code });
      else res.end();
    }
  }

  async #pull(op: Op, body: PullRequestBody, res: ServerResponse): Promise<void> {
    const creds = credentialsFromAuthConfig(body.auth);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const emit = (e: PullEvent): void => void res.write(`${JSON.stringify(e)}\n`);
    const sink = new PullEventSink({ emit });
    op.log.info({ image: body.image, withCredentials: creds !== undefined }, 'Pull requested by the CLI');
    try {
      const rec = await this.#deps.images.pull(op, body.image, creds, sink);
      sink.close();
      emit({ done: true, imageId: `sha256:${rec.id}` });
    } catch (err) {
      sink.close();
      const code = adminCode(err);
      op.log.warn({ image: body.image, err: describeError(err), code }, 'Pull requested by the CLI failed');
      emit({ error: describeError(err), code });
    }
    res.end();
  }
}

function adminImage(r: ImageRecord): AdminImage {
  return { id: `sha256:${r.id}`, names: r.names, digests: r.digests, size: r.size, created: r.created };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new InvalidArgumentError(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError('request body is not JSON', { cause: err });
  }
}

function parsePull(raw: unknown): PullRequestBody {
  const b = raw as Partial<PullRequestBody> | null;
  if (typeof b?.image !== 'string' || b.image === '') throw new InvalidArgumentError('"image": an image reference is required');
  if (b.auth !== undefined && (typeof b.auth !== 'object' || b.auth === null)) throw new InvalidArgumentError('"auth" must be an object');
  return { image: b.image, ...(b.auth ? { auth: b.auth } : {}) };
}

function parseImport(raw: unknown): ImportRequestBody {
  const b = raw as Partial<ImportRequestBody> | null;
  if (typeof b?.path !== 'string' || !b.path.startsWith('/')) throw new InvalidArgumentError('"path": an absolute archive path is required');
  return { path: b.path };
}
