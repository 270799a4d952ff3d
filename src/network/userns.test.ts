import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostIdOfZero, mapText, ociIdMappings } from './userns.ts';

const maps = [{ containerId: 0, hostId: 100000, length: 1000 }, { containerId: 1000, hostId: 300000, length: 5 }];

test('mapText() writes one uid_map line per mapping, as user_namespaces(7) wants it in one write', () => {
  assert.equal(mapText(maps), '0 100000 1000\n1000 300000 5\n');
});

test('hostIdOfZero() is the host id of the pod\'s root; ociIdMappings() the runtime-spec shape', () => {
  assert.equal(hostIdOfZero([...maps].reverse()), 100000);
  assert.throws(() => hostIdOfZero([{ containerId: 1, hostId: 5, length: 1 }]), /container id 0/);
  assert.deepEqual(ociIdMappings(maps), [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 300000, size: 5 }]);
});
