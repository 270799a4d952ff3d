/** Exec over WebSocket (v5.channel.k8s.io / v4.channel.k8s.io) with the test suite's own client. */
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

test('StreamingServer refuses a WebSocket exec without a remotecommand subprotocol', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    await assert.rejects(wsConnect(server.prepareExec(req(['echo'])), ['channel.k8s.io']), /HTTP 403/);
  } finally {
    await server.close();
  }
});
