import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUN_PATH_MAX, attachSocketPath } from '../oci/conmon.ts';
import { SHORT_SOCKET_BASE, socketDirsFor } from './socket-dirs.ts';

test('socketDirsFor() keeps a short run root\'s dirs and gives a long one a short, stable dir of its own', () => {
  assert.deepEqual(socketDirsFor('/run/critter'), { conmon: '/run/critter/socket', portForward: '/run/critter/streaming/portforward' });
  const long = `/var/tmp/${'x'.repeat(80)}/run`;
  const a = socketDirsFor(long);
  assert.ok(a.short?.startsWith(`${SHORT_SOCKET_BASE}/`));
  assert.deepEqual(socketDirsFor(long), a, 'the same run root gets the same dir after a restart');
  assert.notEqual(socketDirsFor(`${long}2`).conmon, a.conmon, 'another daemon gets another dir');
  assert.ok(Buffer.byteLength(attachSocketPath(a.conmon, 'f'.repeat(64))) <= SUN_PATH_MAX);
});
