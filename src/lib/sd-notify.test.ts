import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DgramSocket } from 'node-unix-socket';
import { sdNotify, takeNotifySocket, unixAddress } from './sd-notify.ts';

test('sdNotify() sends the state as one datagram to the socket systemd listens on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-notify-'));
  const receiver = new DgramSocket();
  try {
    const path = join(dir, 'notify');
    receiver.bind(path);
    const got = once(receiver, 'data') as Promise<[Buffer]>;
    sdNotify(path, 'READY=1\nSTATUS=serving CRI');
    const [buf] = await got;
    assert.equal(buf.toString(), 'READY=1\nSTATUS=serving CRI');
  } finally {
    receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('sdNotify() to a socket nobody listens on throws naming sendto and the errno', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-notify-'));
  try {
    assert.throws(() => sdNotify(join(dir, 'absent'), 'READY=1'), /^Error: sd_notify: sendto ".*absent": ENOENT$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unixAddress(): a path ends in NUL, an @abstract name starts with one; a relative or oversized one is refused', () => {
  assert.deepEqual(unixAddress('/run/n'), Buffer.from([1, 0, ...Buffer.from('/run/n'), 0]));
  assert.deepEqual(unixAddress('@sd/n'), Buffer.from([1, 0, 0, ...Buffer.from('sd/n')]));
  assert.throws(() => unixAddress('run/n'), /NOTIFY_SOCKET "run\/n" is not an absolute path/);
  assert.throws(() => unixAddress(`/${'x'.repeat(107)}`), /at most 107 bytes/);
});

test('takeNotifySocket() returns $NOTIFY_SOCKET and removes it, so no child (runc) inherits it', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/bin' };
  assert.equal(takeNotifySocket(env), '/run/systemd/notify');
  assert.deepEqual(env, { PATH: '/bin' });
  assert.equal(takeNotifySocket({ NOTIFY_SOCKET: '' }), undefined);
});
