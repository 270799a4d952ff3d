import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAllowFailure } from '../../lib/exec.ts';
import {
  ARCHIVE_ENTRIES, CRIO_ANNOTATIONS, GO_ZERO_TIME, buildConfigDump, buildSpecDump, nsToRfc3339, originalAnnotations, parseConfigDump, rootfsDiff,
} from './archive.ts';

test('buildConfigDump() writes checkpointctl\'s ContainerConfig fields', () => {
  const dump = buildConfigDump({
    id: 'abc', name: 'ctr_pod_ns_uid_0', imageRequested: 'busybox', imageId: 'sha1', imageName: 'busybox', runtimeHandler: 'runc',
    createdAtNs: '1700000000000000000', checkpointedAt: new Date('2024-01-02T03:04:05Z'), restored: false,
  });
  assert.deepEqual(Object.keys(dump).sort(), ['checkpointedTime', 'createdTime', 'id', 'name', 'restored', 'restoredTime', 'rootfsImage', 'rootfsImageName', 'rootfsImageRef', 'runtime']);
  assert.equal(dump.createdTime, '2023-11-14T22:13:20.000Z');
  assert.equal(dump.checkpointedTime, '2024-01-02T03:04:05.000Z');
  assert.equal(dump.restoredTime, GO_ZERO_TIME);
  assert.deepEqual(parseConfigDump(JSON.stringify(dump)), dump);
});

test('parseConfigDump() refuses a dump without id and name, and fills missing times', () => {
  assert.throws(() => parseConfigDump('{"name":"x"}'));
  const d = parseConfigDump('{"id":"a","name":"b"}');
  assert.equal(d.createdTime, GO_ZERO_TIME);
  assert.equal(d.rootfsImageRef, undefined);
  assert.equal(nsToRfc3339('0'), GO_ZERO_TIME);
});

test('buildSpecDump() records the CRI annotations the way CRI-O restores them', () => {
  const spec = buildSpecDump({ ociVersion: '1.0.2', annotations: { 'io.kubernetes.cri.container-name': 'c' } }, { a: '1' }, { l: '2' });
  const ann = spec['annotations'] as Record<string, string>;
  assert.equal(ann['io.kubernetes.cri.container-name'], 'c');
  assert.equal(ann[CRIO_ANNOTATIONS], '{"a":"1"}');
  assert.deepEqual(originalAnnotations(spec as { annotations: Record<string, string> }), { a: '1' });
  assert.deepEqual(originalAnnotations({ annotations: { [CRIO_ANNOTATIONS]: 'not json' } }), {});
});

test('rootfsDiff() lists changed files parents first, whiteouts as deleted, and skips mount points', async (t) => {
  const upper = await mkdtemp(join(tmpdir(), 'critter-diff-'));
  try {
    await mkdir(join(upper, 'etc'));
    await writeFile(join(upper, 'etc', 'hosts'), '');
    await writeFile(join(upper, 'etc', 'motd'), 'hi');
    await mkdir(join(upper, 'tmp'));
    await writeFile(join(upper, 'tmp', 'n'), '42');
    await mkdir(join(upper, 'proc'));
    const whiteout = await runAllowFailure('mknod', [join(upper, 'etc', 'group'), 'c', '0', '0']);
    const diff = await rootfsDiff(upper, new Set(['/etc/hosts']));
    assert.deepEqual(diff.files, ['etc', 'etc/motd', 'tmp', 'tmp/n']);
    if (whiteout.exitCode === 0) assert.deepEqual(diff.deleted, ['/etc/group']);
    else t.diagnostic('mknod of a whiteout needs root: deleted files not checked');
  } finally {
    await rm(upper, { recursive: true, force: true });
  }
});

test('ARCHIVE_ENTRIES names the files checkpointctl reads', () => {
  for (const f of ['checkpoint', 'config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'stats-dump', 'dump.log']) assert.ok(ARCHIVE_ENTRIES.includes(f), f);
});
