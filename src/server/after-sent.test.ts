import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { afterSentInterceptor, afterSentInterceptorFor, withAfterSent } from './after-sent.ts';

type Answer = { payload: Buffer };
const service: ServiceDefinition = {
  Get: {
    path: '/test.AfterSent/Get', requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
    responseSerialize: (a: Answer) => a.payload, responseDeserialize: (b: Buffer) => b,
  },
};

/** A server whose one method answers what `answer` resolves to, and a client for it. */
async function serve(answer: () => Promise<Answer>, interceptor = afterSentInterceptorFor(['/test.AfterSent/Get'])): Promise<{ get: (deadlineMs?: number) => Promise<Buffer>; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'critter-after-sent-'));
  const socket = `unix://${join(dir, 's')}`;
  const server = new Server({ interceptors: [interceptor] });
  server.addService(service, {
    Get: (_call: unknown, cb: (err: Error | null, a?: Answer) => void) => void answer().then((a) => cb(null, a), (e: Error) => cb(e)),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(socket, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  const Client = makeGenericClientConstructor(service, 'AfterSent');
  const client = new Client(socket, credentials.createInsecure()) as unknown as { Get: (req: Buffer, opts: object, cb: (e: ServiceError | null, r?: Buffer) => void) => void; close(): void };
  return {
    get: (deadlineMs = 10_000) => new Promise((resolve, reject) => client.Get(Buffer.alloc(0), { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r!)))),
    close: async () => {
      client.close();
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('afterSentInterceptor: the hook of an answer runs once it is written, once per answer, and is not sent', async () => {
  let runs = 0;
  const payload = Buffer.alloc(4 * 1024 * 1024, 7);
  const s = await serve(async () => withAfterSent({ payload }, () => { runs++; }));
  try {
    const got = await s.get();
    assert.ok(got.equals(payload));
    assert.equal(runs, 1);
    await s.get();
    assert.equal(runs, 2, 'one run per answer');
  } finally {
    await s.close();
  }
});

test('afterSentInterceptor: the hook of an answer to a call the client gave up on runs anyway', async () => {
  let answer = (): void => undefined;
  const answered = new Promise<void>((resolve) => { answer = resolve; });
  let ran!: () => void;
  const hookRan = new Promise<void>((resolve) => { ran = resolve; });
  let runs = 0;
  const s = await serve(async () => {
    await answered;
    return withAfterSent({ payload: Buffer.from('late') }, () => { runs++; ran(); });
  });
  try {
    await assert.rejects(s.get(50), (e: ServiceError) => /Deadline/i.test(e.message));
    answer();
    await hookRan;
    assert.equal(runs, 1);
  } finally {
    await s.close();
  }
});

test('afterSentInterceptor: a method it does not hook passes through untouched (its hook never runs)', async () => {
  let runs = 0;
  const s = await serve(async () => withAfterSent({ payload: Buffer.from('x') }, () => { runs++; }), afterSentInterceptor);
  try {
    assert.equal((await s.get()).toString(), 'x');
    assert.equal(runs, 0, 'only ExecSync is hooked in the daemon');
  } finally {
    await s.close();
  }
});
