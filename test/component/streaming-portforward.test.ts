/**
 * Port-forward over SPDY, over SPDY tunnelled in WebSocket, and over WebSocket channels,
 * against a TCP echo server on 127.0.0.1 reached through the fake backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { startFakeStreamingServer } from '../../src/streaming/testing.ts';
import { SpdyClient, collect, openPortForward, upgradeSpdy } from '../support/spdy-client.ts';
import { WsChannelPortForward, wsTunnel } from '../support/ws-client.ts';

async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function echoThrough(client: SpdyClient, port: number, requestId: number, payload: Buffer): Promise<{ echoed: Buffer; error: string }> {
  const { data, error } = await openPortForward(client, port, requestId);
  const echoed = collect(data);
  data.end(payload);
  return { echoed: await echoed, error: await error };
}

test('StreamingServer port-forward over SPDY: 8 concurrent streams x 1 MiB echo intact', async (t) => {
  const echo = await echoServer();
  const { server, backend } = await startFakeStreamingServer();
  try {
    const { socket, head, protocol } = await upgradeSpdy(server.preparePortForward({ podId: 'p1', ports: [] }), ['portforward.k8s.io']);
    assert.equal(protocol, 'portforward.k8s.io');
    const client = new SpdyClient(socket, head);
    const payloads = Array.from({ length: 8 }, () => randomBytes(1 << 20));
    const started = performance.now();
    const results = await Promise.all(payloads.map((p, i) => echoThrough(client, echo.port, i, p)));
    const ms = performance.now() - started;
    t.diagnostic(`8 x 1 MiB echoed in ${ms.toFixed(0)} ms (${((16 / ms) * 1000).toFixed(0)} MiB/s both ways)`);
    results.forEach((r, i) => {
      assert.ok(r.echoed.equals(payloads[i]!), `stream ${i} intact`);
      assert.equal(r.error, '');
    });
    assert.equal(backend.calls.filter((c) => c.method === 'portForward' && c.target === 'p1').length, 8);
    client.close();
    await client.closed;
  } finally {
    await server.close();
    await echo.close();
  }
});

test('StreamingServer port-forward reports a refused port on the error stream', async () => {
  const port = await closedPort();
  const { server } = await startFakeStreamingServer();
  try {
    const { socket, head } = await upgradeSpdy(server.preparePortForward({ podId: 'p1', ports: [] }), ['portforward.k8s.io']);
    const client = new SpdyClient(socket, head);
    const { data, error } = await openPortForward(client, port, 0);
    const echoed = collect(data);
    assert.equal(await error, `error forwarding port ${port} to pod p1: dial tcp 127.0.0.1:${port}: connect: connection refused`);
    assert.equal((await echoed).length, 0); // the data stream is closed too
    const bad = await openPortForward(client, 0, 1);
    assert.match(await bad.error, /invalid port "0"/);
    socket.destroy();
  } finally {
    await server.close();
  }
});

test('StreamingServer port-forward over SPDY tunnelled in WebSocket', async () => {
  const echo = await echoServer();
  const { server } = await startFakeStreamingServer();
  try {
    const { protocol, duplex, socket } = await wsTunnel(server.preparePortForward({ podId: 'p1', ports: [] }));
    assert.equal(protocol, 'SPDY/3.1+portforward.k8s.io');
    const client = new SpdyClient(duplex);
    const payloads = [randomBytes(300_000), randomBytes(5)];
    const results = await Promise.all(payloads.map((p, i) => echoThrough(client, echo.port, i, p)));
    results.forEach((r, i) => assert.ok(r.echoed.equals(payloads[i]!)));
    const refused = await closedPort();
    const r = await echoThrough(client, refused, 9, Buffer.from('x'));
    assert.match(r.error, /connection refused/);
    socket.destroy();
  } finally {
    await server.close();
    await echo.close();
  }
});

test('StreamingServer port-forward over WebSocket channels: port prefix, echo, refused port', async () => {
  const echo = await echoServer();
  const refused = await closedPort();
  const { server } = await startFakeStreamingServer();
  try {
    const pf = await WsChannelPortForward.connect(server.preparePortForward({ podId: 'p1', ports: [echo.port, refused] }), ['v4.channel.k8s.io']);
    const ws = pf.ws;
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    pf.send(0, 'hello through channels');
    const end = Date.now() + 3000;
    while (pf.channelData(0).data.toString() !== 'hello through channels' && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(pf.channelData(0), { port: echo.port, data: Buffer.from('hello through channels') });
    assert.equal(pf.channelData(1).port, echo.port);
    assert.equal(pf.channelData(2).port, refused);
    assert.match(pf.channelData(3).data.toString(), new RegExp(`error forwarding port ${refused} to pod p1: .*connection refused`));
    ws.close();
    await pf.closed;
  } finally {
    await server.close();
    await echo.close();
  }
});
