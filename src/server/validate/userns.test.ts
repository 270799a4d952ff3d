import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { checkUserNamespace } from './userns.ts';
import { NamespaceMode } from '../../generated/cri/runtime/v1/NamespaceMode.ts';

const isInvalid = (err: unknown): boolean => err instanceof InvalidArgumentError;
const map = (container_id: number, host_id: number, length: number) => ({ container_id, host_id, length });

test('checkUserNamespace() accepts NODE without mappings and POD with the kubelet mapping', () => {
  checkUserNamespace('u', { mode: NamespaceMode.NODE, uids: [], gids: [] });
  checkUserNamespace('u', { mode: NamespaceMode.POD, uids: [map(0, 100000, 65536)], gids: [map(0, 100000, 65536)] });
});

test('checkUserNamespace() refuses CONTAINER, TARGET, empty, zero-length, overlapping and unmapped-root mappings', () => {
  const ok = [map(0, 1000, 100000)];
  for (const bad of [
    { mode: 1, uids: [], gids: [] },
    { mode: 3, uids: [], gids: [] },
    { mode: 0, uids: [], gids: ok },
    { mode: 0, uids: [map(0, 1000, 0)], gids: ok },
    { mode: 0, uids: [map(0, 1000, 100000), map(0, 2000, 100000)], gids: ok },
    { mode: 0, uids: [map(1, 1000, 100000)], gids: ok },
    { mode: 0, uids: ok, gids: [map(0, 4294967290, 100)] },
  ]) assert.throws(() => checkUserNamespace('u', bad as never), isInvalid, JSON.stringify(bad));
});
