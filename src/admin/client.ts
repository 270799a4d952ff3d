/**
 * The CLI side of the admin API: one HTTP request over the daemon's admin socket.
 * Connection failures become one sentence that says what to check.
 */
import { request, type IncomingMessage } from 'node:http';
import { UnavailableError, CritterError } from '../lib/errors.ts';
import type { ErrorBody } from './protocol.ts';

/** An error the daemon answered with (its code kept for the exit message). */
export class AdminError extends CritterError {
  readonly adminCode: string;
  constructor(message: string, adminCode: string) {
    super(message);
    this.adminCode = adminCode;
  }
}

export interface AdminClientDeps {
  socketPath: string;
}

export class AdminClient {
  readonly #socketPath: string;

  constructor(deps: AdminClientDeps) {
    this.#socketPath = deps.socketPath;
  }

  /** GET/POST `path`; resolves with the response once its headers are in. */
  open(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.#socketPath, method, path, signal,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      }, resolve);
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new UnavailableError(`cannot reach the critter daemon's admin socket ${this.#socketPath} (${err.code}): is the daemon running, and is --run-root right?`, { cause: err }));
        } else if (err.code === 'EACCES') {
          reject(new UnavailableError(`permission denied on ${this.#socketPath}: the admin socket is root-only`, { cause: err }));
        } else {
          reject(err);
        }
      });
      req.end(payload);
    });
  }

  /** A JSON request whose answer is one JSON document. @throws AdminError for a non-2xx answer */
  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = await readAll(res);
    const doc = parseJson(text, path);
    if ((res.statusCode ?? 500) >= 300) throw errorFrom(doc, res.statusCode);
    return doc as T;
  }

  /** Streams the NDJSON lines of a 2xx answer. @throws AdminError for a non-2xx answer */
  async *ndjson<T>(path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const res = await this.open('POST', path, body, signal);
    if ((res.statusCode ?? 500) >= 300) throw errorFrom(parseJson(await readAll(res), path), res.statusCode);
    let pending = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line !== '') yield parseJson(line, path) as T;
      }
    }
    if (pending.trim() !== '') yield parseJson(pending, path) as T;
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CritterError(`the daemon answered ${path} with something that is not JSON: ${text.slice(0, 200)}`);
  }
}

function errorFrom(doc: unknown, status: number | undefined): AdminError {
  const b = doc as Partial<ErrorBody> | null;
  return new AdminError(typeof b?.error === 'string' ? b.error : `HTTP ${status ?? '?'}`, typeof b?.code === 'string' ? b.code : 'UNKNOWN');
}
