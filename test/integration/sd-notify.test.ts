/**
 * The systemd unit's Type=notify: the daemon sends READY=1 to $NOTIFY_SOCKET only once it
 * serves (recovery done: a Version call at that moment is answered, not UNAVAILABLE), and
 * STOPPING=1 when it is told to stop. systemd itself is not needed: the test listens on the
 * socket as systemd would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import { makeDirs, startDaemon } from './helpers/daemon.ts';

/** The datagrams in arrival order, each awaited by its index. */
function inbox(socket: DgramSocket): (i: number, what: string) => Promise<string> {
  const got: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on('data', (buf: Buffer) => {
    got.push(buf.toString());
    for (const w of waiters.splice(0)) w();
  });
  return async (i, what) => {
    const deadline = AbortSignal.timeout(60_000);
    while (got.length <= i) {
      if (deadline.aborted) throw new Error(`no ${what} datagram within 60 s (got ${JSON.stringify(got)})`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        deadline.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return got[i]!;
  };
}

test('Type=notify: READY=1 once serving, then STOPPING=1 on SIGTERM', async () => {
  const dirs = await makeDirs();
  const path = join(dirs.base, 'notify.sock');
  const socket = new DgramSocket();
  socket.bind(path);
  const next = inbox(socket);
  const d = await startDaemon({ dirs, env: { NOTIFY_SOCKET: path }, waitReady: false });
  try {
    assert.equal(await next(0, 'READY=1'), 'READY=1\nSTATUS=serving CRI');
    const v = await d.client.call('Version', {});
    assert.equal(v.runtime_name, 'critter');
    const stopped = d.stop();
    assert.equal(await next(1, 'STOPPING=1'), 'STOPPING=1');
    assert.equal(await stopped, 0);
  } finally {
    socket.close();
    await d.kill();
  }
});
