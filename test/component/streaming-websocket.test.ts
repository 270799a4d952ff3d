/** Exec over WebSocket (v5, v4 and the kubelet's older channel.k8s.io protocols) with the test suite's own client. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeStreamingServer } from '../../src/streaming/testing.ts';
import { wsConnect, wsExec } from '../support/ws-client.ts';

const req = (cmd: string[], o: Partial<{ tty: boolean; stdin: boolean; stderr: boolean }> = {}) => ({
  containerId: 'c1', cmd, tty: false, stdin: false, stdout: true, stderr: true, ...o,
});

test('StreamingServer exec over WebSocket v5: stdin, CLOSE signal, status last, close 1000', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await wsExec(server.prepareExec(req(['cat'], { stdin: true })), { stdin: 'ws-input\n', closeStdin: true });
    assert.equal(r.protocol, 'v5.channel.k8s.io');
    assert.equal(r.stdout, 'ws-input\n');
    assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    assert.equal(r.order.at(-1), 3);
    assert.equal(r.closeCode, 1000);
  } finally {
    await server.close();
  }
});

test('StreamingServer exec over WebSocket reports stderr and a non-zero exit', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await wsExec(server.prepareExec(req(['emit', '7', 'o', 'e'])), { protocols: ['v4.channel.k8s.io'] });
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout, 'o');
    assert.equal(r.stderr, 'e');
    const status = JSON.parse(r.status);
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '7' }]);
  } finally {
    await server.close();
  }
});

test('StreamingServer exec over WebSocket with a TTY delivers resize events', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const r = await wsExec(server.prepareExec(req(['resize-echo'], { tty: true, stdin: true, stderr: false })), {
      resizes: [{ Width: 111, Height: 22 }], closeStdin: true,
    });
    assert.equal(r.stdout, '111x22\n');
    assert.deepEqual(backend.calls[0]?.resizes, [{ width: 111, height: 22 }]);
  } finally {
    await server.close();
  }
});

test('StreamingServer aborts a WebSocket exec when the client disconnects', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const ws = await wsConnect(server.prepareExec(req(['hang'])), ['v5.channel.k8s.io']);
    const end = Date.now() + 3000;
    while (backend.calls.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    ws.terminate();
    while (!(backend.calls[0]?.aborted && backend.calls[0]?.settled) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.equal(backend.calls[0]?.aborted, true);
  } finally {
    await server.close();
  }
});

/** Every message as [channel, payload], for the pre-v4 protocols whose frames the test reads itself. */
async function collectFrames(url: string, protocols: string[], base64: boolean): Promise<{ protocol: string; frames: [number, string][] }> {
  const frames: [number, string][] = [];
  const ws = await wsConnect(url, protocols, (data) => {
    frames.push(base64 ? [data[0]! - 48, Buffer.from(data.subarray(1).toString(), 'base64').toString()] : [data[0]!, data.subarray(1).toString()]);
  });
  await new Promise((resolve) => ws.once('close', resolve));
  return { protocol: ws.protocol, frames };
}

test('StreamingServer exec over WebSocket channel.k8s.io, as the kubelet serves it: an empty first frame, output, no status on success', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await collectFrames(server.prepareExec(req(['emit', '0', 'remote execution test', ''])), ['channel.k8s.io'], false);
    assert.equal(r.protocol, 'channel.k8s.io');
    assert.deepEqual(r.frames[0], [1, ''], 'the connection-established notice on stdout');
    assert.ok(r.frames.every(([ch]) => ch === 1), `only stdout frames (the node e2e suite fails on others): ${JSON.stringify(r.frames)}`);
    assert.equal(r.frames.map(([, d]) => d).join(''), 'remote execution test');
    const failed = await collectFrames(server.prepareExec(req(['emit', '7', 'o', 'e'])), ['channel.k8s.io'], false);
    assert.match(failed.frames.filter(([ch]) => ch === 3).map(([, d]) => d).join(''), /non-zero exit code: exit status 7/, 'pre-v4 status is plain text');
  } finally {
    await server.close();
  }
});

test('StreamingServer exec over WebSocket base64.channel.k8s.io and v4.base64.channel.k8s.io encodes frames as text', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await collectFrames(server.prepareExec(req(['emit', '0', 'hello', 'oops'])), ['base64.channel.k8s.io'], true);
    assert.equal(r.protocol, 'base64.channel.k8s.io');
    assert.equal(r.frames.filter(([ch]) => ch === 1).map(([, d]) => d).join(''), 'hello');
    assert.equal(r.frames.filter(([ch]) => ch === 2).map(([, d]) => d).join(''), 'oops');
    const v4 = await collectFrames(server.prepareExec(req(['emit', '0', 'x', ''])), ['v4.base64.channel.k8s.io'], true);
    assert.deepEqual(JSON.parse(v4.frames.filter(([ch]) => ch === 3).map(([, d]) => d).join('')), { metadata: {}, status: 'Success' });
  } finally {
    await server.close();
  }
});

test('StreamingServer refuses a WebSocket exec with only unknown subprotocols', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    await assert.rejects(wsConnect(server.prepareExec(req(['echo'])), ['v9.channel.k8s.io']), /HTTP 403/);
  } finally {
    await server.close();
  }
});
