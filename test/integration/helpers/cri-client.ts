/**
 * A CRI client for tests: the real grpc-js client over the unix socket, with promise
 * wrappers. It loads the same vendored proto, independently of the server's code.
 */
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceError, type ClientReadableStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('../../../../proto/cri/api.proto', import.meta.url));

type Req = Record<string, unknown>;
type Res = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface CriClient {
  runtime: Client;
  image: Client;
  /** Calls a unary RPC of RuntimeService or ImageService by name. */
  call(rpc: string, req?: Req, opts?: { deadlineMs?: number }): Promise<Res>;
  /** Collects every message of a server-streaming RPC. */
  stream(rpc: string, req?: Req): Promise<Res[]>;
  /** Opens a server-streaming RPC and returns the raw stream. */
  open(rpc: string, req?: Req): ClientReadableStream<Res>;
  close(): void;
}

/** Connects to `socket`; authority "localhost" as kubelet ≥ 1.31 sends it. */
export function criClient(socket: string): CriClient {
  const def = loadSync(PROTO, { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
  const v1 = ((loadPackageDefinition(def)).runtime as GrpcObject).v1 as GrpcObject;
  const opts = { 'grpc.default_authority': 'localhost', 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  const Runtime = v1.RuntimeService as unknown as new (addr: string, creds: unknown, o: unknown) => Client;
  const Image = v1.ImageService as unknown as new (addr: string, creds: unknown, o: unknown) => Client;
  const runtime = new Runtime(`unix://${socket}`, credentials.createInsecure(), opts);
  const image = new Image(`unix://${socket}`, credentials.createInsecure(), opts);
  const pick = (rpc: string): Client => {
    const r = runtime as unknown as Record<string, unknown>;
    if (typeof r[rpc] === 'function') return runtime;
    if (typeof (image as unknown as Record<string, unknown>)[rpc] === 'function') return image;
    throw new Error(`no RPC named ${rpc}`);
  };
  return {
    runtime,
    image,
    call(rpc, req = {}, o = {}) {
      const c = pick(rpc) as unknown as Record<string, (req: Req, opts: object, cb: (e: ServiceError | null, r: Res) => void) => void>;
      const deadline = new Date(Date.now() + (o.deadlineMs ?? 60_000));
      return new Promise((resolve, reject) => {
        c[rpc]!.call(pick(rpc), req, { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    },
    open(rpc, req = {}) {
      const c = pick(rpc) as unknown as Record<string, (req: Req) => ClientReadableStream<Res>>;
      return c[rpc]!.call(pick(rpc), req);
    },
    stream(rpc, req = {}) {
      const s = this.open(rpc, req);
      const items: Res[] = [];
      return new Promise((resolve, reject) => {
        s.on('data', (d: Res) => items.push(d));
        s.on('error', reject);
        s.on('end', () => resolve(items));
      });
    },
    close() {
      runtime.close();
      image.close();
    },
  };
}
