/**
 * Exec and attach over SPDY/3.1 against the real streaming server with a fake backend,
 * driven by the test suite's own SPDY client. Also the URL/token rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { InvalidArgumentError } from '../../src/lib/errors.ts';
import { startFakeStreamingServer } from '../../src/streaming/testing.ts';
import { SpdyClient, UpgradeRefusedError, spdyExec, upgradeSpdy } from '../support/spdy-client.ts';

const execReq = (cmd: string[], o: Partial<{ tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }> = {}) => ({
  containerId: 'c1', cmd, tty: false, stdin: false, stdout: true, stderr: true, ...o,
});

function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('StreamingServer exec over SPDY v4: stdout, stderr, Success status, GOAWAY', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await spdyExec(server.prepareExec(execReq(['emit', '0', 'hi\n', 'err\n'])), {});
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout.toString(), 'hi\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    await r.client.closed;
    assert.equal(r.client.goawayStatus, 0);
    // Go's flate needs every header block to end with a sync-flush marker (derisk §4 gotcha 2).
    assert.equal(r.client.replyHeaderBlocks.length, 3);
    for (const block of r.client.replyHeaderBlocks) assert.deepEqual([...block.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
  } finally {
    await server.close();
  }
});

test('StreamingServer exec reports a non-zero exit as NonZeroExitCode with the code', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await spdyExec(server.prepareExec(execReq(['emit', '3', 'out', 'bad'])), {});
    const status = JSON.parse(r.status);
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.equal(r.stdout.toString(), 'out');
    assert.equal(r.stderr.toString(), 'bad');
  } finally {
    await server.close();
  }
});

test('StreamingServer exec speaks plain-text status to v1–v3 clients', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    for (const proto of ['v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']) {
      const failed = await spdyExec(server.prepareExec(execReq(['emit', '2', '', ''])), { protocols: [proto] });
      assert.equal(failed.protocol, proto);
      assert.equal(failed.status, 'command terminated with non-zero exit code: exit status 2');
      const ok = await spdyExec(server.prepareExec(execReq(['echo', 'fine'])), { protocols: [proto] });
      assert.equal(ok.status, '');
      assert.equal(ok.stdout.toString(), 'fine\n');
    }
  } finally {
    await server.close();
  }
});

test('StreamingServer exec passes stdin through and closes it on FIN', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const r = await spdyExec(server.prepareExec(execReq(['cat'], { stdin: true })), { stdin: 'line one\nline two\n' });
    assert.equal(r.stdout.toString(), 'line one\nline two\n');
    assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    assert.deepEqual(backend.calls[0]?.streams, { stdin: true, stdout: true, stderr: true, resize: false });
  } finally {
    await server.close();
  }
});

test('StreamingServer exec with a TTY has no stderr stream and delivers resize events in order', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const stdin = new PassThrough();
    setTimeout(() => stdin.end(), 300);
    const r = await spdyExec(server.prepareExec(execReq(['resize-echo'], { tty: true, stdin: true, stderr: false })), {
      tty: true, stdin, resizes: [{ Width: 100, Height: 30 }, { Width: 132, Height: 40 }],
    });
    assert.equal(r.stdout.toString(), '100x30\n132x40\n');
    assert.deepEqual(backend.calls[0]?.resizes, [{ width: 100, height: 30 }, { width: 132, height: 40 }]);
    assert.deepEqual(backend.calls[0]?.streams, { stdin: true, stdout: true, stderr: false, resize: true });
  } finally {
    await server.close();
  }
});

test('StreamingServer exec reports a backend failure as InternalError', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    const r = await spdyExec(server.prepareExec(execReq(['missing'])), {});
    const status = JSON.parse(r.status);
    assert.equal(status.reason, 'InternalError');
    assert.match(status.message, /error executing command in container: exec: "missing": executable file not found/);
  } finally {
    await server.close();
  }
});

test('StreamingServer attach streams output and stdin', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const url = server.prepareAttach({ containerId: 'c2', tty: false, stdin: true, stdout: true, stderr: true });
    assert.match(url, /\/attach\/[A-Za-z0-9_-]+$/);
    const r = await spdyExec(url, { stdin: 'ping\n' });
    assert.equal(r.stdout.toString(), 'attached to c2\nping\n');
    assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    assert.equal(backend.calls[0]?.method, 'attach');
  } finally {
    await server.close();
  }
});

test('StreamingServer aborts the backend op when the client goes away', async () => {
  const { server, backend } = await startFakeStreamingServer();
  try {
    const { socket, head } = await upgradeSpdy(server.prepareExec(execReq(['hang'], { stderr: false })), ['v4.channel.k8s.io']);
    const client = new SpdyClient(socket, head);
    await client.openStream({ streamtype: 'error' });
    await client.openStream({ streamtype: 'stdout' });
    await until(() => backend.calls.length === 1, 'the exec to start');
    assert.equal(backend.calls[0]?.aborted, false);
    socket.destroy();
    await until(() => backend.calls[0]?.aborted === true && backend.calls[0]?.settled === true, 'the exec to be aborted');
  } finally {
    await server.close();
  }
});

test('StreamingServer closes a session whose streams do not all arrive in time', async () => {
  const { server, backend } = await startFakeStreamingServer({ streamCreationTimeoutMs: 200 });
  try {
    const { socket, head } = await upgradeSpdy(server.prepareExec(execReq(['echo', 'x'])), ['v4.channel.k8s.io']);
    const client = new SpdyClient(socket, head);
    await client.openStream({ streamtype: 'error' });
    await client.closed;
    assert.equal(backend.calls.length, 0);
  } finally {
    await server.close();
  }
});

test('StreamingServer answers 404 for unknown, reused, expired and mismatched tokens and unknown paths', async () => {
  let now = 1_000_000;
  const { server } = await startFakeStreamingServer({ clock: { now: () => now } });
  const refused = async (url: string): Promise<number> => {
    const err = await upgradeSpdy(url, ['v4.channel.k8s.io']).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof UpgradeRefusedError, `expected a refusal for ${url}`);
    return err.status;
  };
  try {
    const base = server.url();
    assert.equal(await refused(`${base}/exec/AAAAAAAAAAAAAAAAAAAAAA`), 404);
    assert.equal(await refused(`${base}/nope/AAAAAAAAAAAAAAAAAAAAAA`), 404);
    assert.equal(await httpGet(`${base}/`), 404);

    const used = server.prepareExec(execReq(['echo', 'once']));
    assert.equal(await httpGet(used), 400); // a plain GET does not use the token up
    assert.equal((await spdyExec(used, {})).stdout.toString(), 'once\n');
    assert.equal(await refused(used), 404);

    const expiring = server.prepareExec(execReq(['echo', 'late']));
    now += 60_000;
    assert.equal(await refused(expiring), 404);

    const attachToken = server.prepareAttach({ containerId: 'c', tty: false, stdin: false, stdout: true, stderr: false });
    assert.equal(await refused(attachToken.replace('/attach/', '/exec/')), 404);
    assert.equal((await spdyExec(attachToken, { stderr: false })).stdout.toString(), 'attached to c\n');

    const wrongProtocol = server.prepareExec(execReq(['echo', 'x']));
    const err = await upgradeSpdy(wrongProtocol, ['v9.channel.k8s.io']).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof UpgradeRefusedError);
    assert.equal(err.status, 403);
    assert.match(err.body, /unable to negotiate protocol/);
  } finally {
    await server.close();
  }
});

test('StreamingServer.prepareExec() refuses requests the CRI forbids', async () => {
  const { server } = await startFakeStreamingServer();
  try {
    assert.throws(() => server.prepareExec(execReq(['sh'], { tty: true, stderr: true })), InvalidArgumentError);
    assert.throws(() => server.prepareExec(execReq(['sh'], { stdout: false, stderr: false })), InvalidArgumentError);
    assert.throws(() => server.prepareExec(execReq([])), InvalidArgumentError);
    assert.throws(() => server.preparePortForward({ podId: 'p', ports: [70000] }), InvalidArgumentError);
    assert.match(server.preparePortForward({ podId: 'p', ports: [80] }), /^http:\/\/127\.0\.0\.1:\d+\/portforward\/[A-Za-z0-9_-]{16,}$/);
  } finally {
    await server.close();
  }
});
