/**
 * The streaming server against hostile clients (issue 12 class 5): oversized headers, bad
 * and reused tokens, an oversized SPDY frame and an oversized WebSocket message each get a
 * clear refusal with bounded memory, and the server keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import http from 'node:http';
import { startFakeStreamingServer } from '../../src/streaming/testing.ts';
import { HTTP_LIMITS, limitServer } from '../../src/lib/http-limits.ts';
import { MAX_WS_MESSAGE_BYTES } from '../../src/streaming/server.ts';
import { wsConnect, wsExec } from '../support/ws-client.ts';

const exec = (cmd: string[], stdin = false) => ({ containerId: 'c1', cmd, tty: false, stdin, stdout: true, stderr: true });

/** Sends raw bytes, collects everything until the server closes (or `untilMs` passes). */
async function raw(url: string, payload: (Buffer | string)[], untilMs = 10_000): Promise<{ text: string; bytes: Buffer; closed: boolean; ms: number }> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  const began = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  for (const p of payload) socket.write(p);
  const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), untilMs).unref())]);
  socket.destroy();
  const bytes = Buffer.concat(chunks);
  return { text: bytes.toString('latin1'), bytes, closed, ms: Date.now() - began };
}

test('StreamingServer answers oversized headers with 431 and keeps serving', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await raw(server.url(), [`GET /exec/abc HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`]);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
    assert.ok(r.closed);
    const after = await raw(server.url(), ['GET /exec/sometoken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.match(after.text, /^HTTP\/1\.1 404 /);
    assert.ok(!after.text.includes('sometoken'), 'a 404 does not echo the token');
  } finally {
    await server.close();
  }
});

test('StreamingServer refuses a bad, a missing and a reused token with 404', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const url = server.prepareExec(exec(['echo', 'hi']));
    const first = await wsExec(url, {});
    assert.equal(first.stdout, 'hi\n');
    const path = new URL(url).pathname;
    for (const p of [path, '/exec/', '/exec/not-a-token', `/exec/${'x'.repeat(8000)}`]) {
      const r = await raw(server.url(), [`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`]);
      assert.match(r.text, /^HTTP\/1\.1 404 /, p.slice(0, 40));
      assert.ok(r.text.length < 300, 'a short answer, echoing nothing');
    }
  } finally {
    await server.close();
  }
});

test('StreamingServer ends a SPDY connection that announces a frame over the cap', async () => {
  // A long creation timeout, so only the frame cap can end the connection within the wait.
  const { server } = await startFakeStreamingServer({ streamCreationTimeoutMs: 120_000 });
  try {
    const url = new URL(server.prepareExec(exec(['hang'])));
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0x80030001, 0); // control, version 3, SYN_STREAM
    header.writeUInt32BE(0x00ffffff, 4); // flags 0, length 16 MiB - 1
    const r = await raw(url.href, [
      `POST ${url.pathname} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`,
      header, Buffer.alloc(64 * 1024),
    ], 15_000);
    assert.match(r.text, /^HTTP\/1\.1 101 /);
    assert.ok(r.closed, 'the server closed the connection');
    // Its GOAWAY: control bit, version 3, type 7.
    assert.ok(r.bytes.includes(Buffer.from([0x80, 0x03, 0x00, 0x07])), 'a GOAWAY came first');
  } finally {
    await server.close();
  }
});

test('StreamingServer closes a WebSocket that sends a message over the cap with 1009', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const ws = await wsConnect(server.prepareExec(exec(['cat'], true)), ['v5.channel.k8s.io']);
    const closed = once(ws, 'close');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(MAX_WS_MESSAGE_BYTES + 1)]));
    const [code] = (await closed) as [number];
    assert.equal(code, 1009);
    const ok = await wsExec(server.prepareExec(exec(['echo', 'still'])), {});
    assert.equal(ok.stdout, 'still\n');
  } finally {
    await server.close();
  }
});

test('limitServer() sets the header, slow-request and keep-alive limits', () => {
  const s = limitServer(http.createServer());
  assert.equal(s.maxHeadersCount, HTTP_LIMITS.maxHeadersCount);
  assert.equal(s.headersTimeout, HTTP_LIMITS.headersTimeoutMs);
  assert.equal(s.requestTimeout, HTTP_LIMITS.requestTimeoutMs);
  assert.equal(s.keepAliveTimeout, HTTP_LIMITS.keepAliveTimeoutMs);
  assert.ok(HTTP_LIMITS.headersTimeoutMs <= 10_000 && HTTP_LIMITS.maxHeaderSize <= 16 * 1024);
});
