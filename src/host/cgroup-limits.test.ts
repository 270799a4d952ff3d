import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError } from '../lib/errors.ts';
import { CgroupLimitWriter, cgroupRelativePath, cgroupWrites, cpuSharesToWeight, slicePath, workingSetBytes } from './cgroup-limits.ts';

test('cpuSharesToWeight() follows runc\'s linear map and keeps 0 as unset', () => {
  assert.equal(cpuSharesToWeight(0), 0);
  assert.equal(cpuSharesToWeight(2), 1);
  assert.equal(cpuSharesToWeight(1024), 39);
  assert.equal(cpuSharesToWeight(262144), 10000);
  assert.equal(cpuSharesToWeight(1), 1, 'below the minimum clamps');
});

test('cgroupWrites() names the v1 files, period before quota, -1 as no limit', () => {
  assert.deepEqual(cgroupWrites({ cpuShares: 1126, cpuQuota: 60000, cpuPeriod: 100000, memoryLimit: 209715200 }, 1), [
    { controller: 'cpu', file: 'cpu.shares', value: '1126' },
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '60000' },
    { controller: 'memory', file: 'memory.limit_in_bytes', value: '209715200' },
  ]);
  assert.deepEqual(cgroupWrites({ cpuQuota: -1, memoryLimit: -1 }, 1).map((w) => w.value), ['-1', '-1']);
  assert.deepEqual(cgroupWrites({}, 1), []);
});

test('cgroupWrites() maps v2 to cpu.weight, one cpu.max line and memory.max', () => {
  assert.deepEqual(cgroupWrites({ cpuShares: 1024, cpuQuota: 50000, cpuPeriod: 100000, memoryLimit: 1048576, cpusetCpus: '0' }, 2), [
    { controller: 'cpu', file: 'cpu.weight', value: '39' },
    { controller: 'cpu', file: 'cpu.max', value: '50000 100000' },
    { controller: 'cpuset', file: 'cpuset.cpus', value: '0' },
    { controller: 'memory', file: 'memory.max', value: '1048576' },
  ]);
  assert.deepEqual(cgroupWrites({ cpuQuota: -1, cpuPeriod: 100000, memoryLimit: -1 }, 2).map((w) => w.value), ['max 100000', 'max']);
  assert.deepEqual(cgroupWrites({ cpuQuota: 20000 }, 2).map((w) => w.value), ['20000']);
});

test('slicePath() nests a systemd slice by its dashes; cgroupRelativePath() keeps cgroupfs paths', () => {
  assert.equal(slicePath('kubepods-burstable-pod1.slice'), '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice');
  assert.equal(slicePath('-.slice'), '/');
  assert.equal(cgroupRelativePath('/kubepods/burstable/pod1', 'cgroupfs'), '/kubepods/burstable/pod1');
  assert.equal(cgroupRelativePath('kubepods-pod_a.slice', 'systemd'), '/kubepods.slice/kubepods-pod_a.slice');
});

async function fakeCgroupfs(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cgroup-limits-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

test('CgroupLimitWriter.apply() writes each controller\'s file and skips hierarchies without the cgroup', async () => {
  const root = await fakeCgroupfs({ 'cpu/pod/cpu.shares': '2\n', 'cpu/pod/cpu.cfs_period_us': '100000\n', 'cpu/pod/cpu.cfs_quota_us': '-1\n' });
  try {
    const w = new CgroupLimitWriter({ version: 1, root });
    const r = await w.applyLimits('/pod', 'cgroupfs', { cpuShares: 512, cpuQuota: 25000, cpuPeriod: 100000, memoryLimit: 1 << 20 });
    assert.equal(await readFile(join(root, 'cpu/pod/cpu.shares'), 'utf8'), '512');
    assert.equal(await readFile(join(root, 'cpu/pod/cpu.cfs_quota_us'), 'utf8'), '25000');
    assert.equal(r.written.length, 3);
    assert.deepEqual(r.skipped.map((s) => s.file), ['memory.limit_in_bytes']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('CgroupLimitWriter.apply() refuses a v2 memory.max below the working set and writes nothing', async () => {
  const root = await fakeCgroupfs({
    'pod/cpu.weight': '100\n', 'pod/memory.max': 'max\n', 'pod/memory.current': '10485760\n', 'pod/memory.stat': 'anon 1\ninactive_file 2097152\n',
  });
  try {
    const w = new CgroupLimitWriter({ version: 2, root });
    await assert.rejects(w.apply('/pod', cgroupWrites({ cpuShares: 1024, memoryLimit: 4 << 20 }, 2)), (err: Error) => {
      assert.ok(err instanceof FailedPreconditionError);
      assert.match(err.message, /memory limit 4194304 .* below its current usage \(working set 8388608 bytes\)/);
      return true;
    });
    assert.equal(await readFile(join(root, 'pod/cpu.weight'), 'utf8'), '100', 'the cpu.weight written before is put back');
    assert.equal(await readFile(join(root, 'pod/memory.max'), 'utf8'), 'max\n');
    await w.apply('/pod', cgroupWrites({ memoryLimit: 16 << 20 }, 2));
    assert.equal(await readFile(join(root, 'pod/memory.max'), 'utf8'), String(16 << 20));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('workingSetBytes() is usage minus inactive file pages, per version', async () => {
  const root = await fakeCgroupfs({ 'v1/memory.usage_in_bytes': '5000\n', 'v1/memory.stat': 'cache 1\ntotal_inactive_file 1000\n', 'v2/memory.current': '300\n', 'v2/memory.stat': 'inactive_file 500\n' });
  try {
    assert.equal(await workingSetBytes(join(root, 'v1'), 1), 4000);
    assert.equal(await workingSetBytes(join(root, 'v2'), 2), 0);
    assert.equal(await workingSetBytes(join(root, 'none'), 2), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
