import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detailFromV1, detailFromV2, devName, deviceNames, sharesOfWeight, v1DevicesIo } from './cgroup-detail.ts';
import { countStates, parsePids, readTaskStats, softOpenFilesLimit, taskStateLetter } from './proc-tasks.ts';

test('detailFromV1() reads the settings and counters cAdvisor exports, "unlimited" as 0', () => {
  const d = detailFromV1({
    'cpuacct.stat': 'user 150\nsystem 25\n', 'cpu.shares': '2\n', 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n',
    'memory.stat': 'cache 10\npgfault 40\npgmajfault 1\ntotal_cache 4096\ntotal_mapped_file 2048\ntotal_pgfault 90\n',
    'memory.failcnt': '0\n', 'memory.max_usage_in_bytes': '123456\n', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    'memory.soft_limit_in_bytes': '9223372036854771712\n', 'memory.memsw.limit_in_bytes': '79998976\n', 'pids.max': 'max\n',
    'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\nTotal 12288\n',
    'blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
  });
  assert.equal(d.cpuUserNs, 1_500_000_000n, 'USER_HZ ticks in ns');
  assert.equal(d.cpuSystemNs, 250_000_000n);
  assert.equal(d.cpuShares, 2);
  assert.equal(d.cpuPeriodUs, 100000);
  assert.equal(d.cpuQuotaUs, undefined, '-1 is no quota');
  assert.equal(d.cacheBytes, 4096);
  assert.equal(d.mappedFileBytes, 2048);
  assert.equal(d.ownPageFaults, 40, 'the cgroup\'s own count, not total_pgfault');
  assert.equal(d.oomKills, 2);
  assert.equal(d.maxUsageBytes, 123456);
  assert.equal(d.memoryReservationBytes, 0, 'no soft limit');
  assert.equal(d.swapLimitBytes, 79998976);
  assert.equal(d.threadsMax, 0, 'pids.max "max" is infinity, reported as 0');
  assert.deepEqual(d.devices, [{ device: '8:0', major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, reads: 1, writes: 2 }]);
});

test('detailFromV2() reads cpu.stat, cpu.max, cpu.weight as shares, memory.events and io.stat', () => {
  const d = detailFromV2({
    'cpu.stat': 'usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\n', 'cpu.weight': '1\n', 'cpu.max': '50000 100000\n',
    'memory.stat': 'file 4096\nfile_mapped 1024\npgfault 9\npgmajfault 0\n', 'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
    'memory.low': '0\n', 'memory.swap.max': 'max\n', 'pids.max': '1024\n', 'io.stat': '259:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n',
  });
  assert.equal(d.cpuUserNs, 2_000_000n);
  assert.equal(d.cpuShares, 2, 'weight 1 is shares 2');
  assert.equal(d.cpuQuotaUs, 50000);
  assert.equal(d.cpuPeriodUs, 100000);
  assert.equal(d.failcnt, 3);
  assert.equal(d.oomKills, 1);
  assert.equal(d.maxUsageBytes, undefined, 'no memory.peak on this kernel');
  assert.equal(d.swapLimitBytes, 0);
  assert.equal(d.threadsMax, 1024);
  assert.deepEqual(d.devices, [{ device: '259:0', major: 259, minor: 0, readBytes: 512, writeBytes: 1024, reads: 1, writes: 2 }]);
  assert.equal(sharesOfWeight(100), 2597);
  assert.equal(sharesOfWeight(10000), 262144);
});

test('v1DevicesIo() keeps a device that only one file lists; devName() and deviceNames() name devices from sysfs', async () => {
  assert.deepEqual(v1DevicesIo(undefined, '8:16 Read 5\n'), [{ device: '8:16', major: 8, minor: 16, readBytes: 0, writeBytes: 0, reads: 5, writes: 0 }]);
  assert.equal(devName('MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n'), 'sda');
  const sys = await mkdtemp(join(tmpdir(), 'critter-sys-'));
  try {
    await mkdir(join(sys, 'dev', 'block', '8:0'), { recursive: true });
    await writeFile(join(sys, 'dev', 'block', '8:0', 'uevent'), 'MAJOR=8\nMINOR=0\nDEVNAME=vda\n');
    const named = await deviceNames([...v1DevicesIo('8:0 Read 1\n', ''), ...v1DevicesIo('9:9 Read 1\n', '')], sys);
    assert.deepEqual(named.map((d) => d.device), ['/dev/vda', '9:9']);
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('taskStateLetter() reads the state after the last parenthesis; countStates() counts R, S, D, T and t', () => {
  assert.equal(taskStateLetter('42 (sh) x (y)) D 1 42'), 'D');
  assert.equal(taskStateLetter('garbage'), undefined);
  assert.deepEqual(countStates(['R', 'S', 'S', 'D', 'T', 't', 'Z', 'I', undefined]), { running: 1, sleeping: 2, uninterruptible: 1, stopped: 2 });
});

test('readTaskStats() counts fds, sockets and threads of every process and the root process\'s open-files limit', async () => {
  assert.deepEqual(parsePids('12\n7\n\n'), [12, 7]);
  assert.equal(softOpenFilesLimit('Limit  Soft Limit  Hard Limit  Units\nMax open files            1048576              1048576              files\n'), 1048576);
  assert.equal(softOpenFilesLimit('Max open files            unlimited            unlimited            files\n'), -1);
  const proc = await mkdtemp(join(tmpdir(), 'critter-proc-'));
  try {
    for (const [pid, fds, threads] of [[12, ['/dev/null', 'socket:[99]', 'pipe:[3]'], 2], [7, ['socket:[5]'], 1]] as const) {
      await mkdir(join(proc, String(pid), 'fd'), { recursive: true });
      for (const [i, target] of fds.entries()) await symlink(target, join(proc, String(pid), 'fd', String(i)));
      for (let t = 0; t < threads; t++) {
        await mkdir(join(proc, String(pid), 'task', String(pid + t)), { recursive: true });
        await writeFile(join(proc, String(pid), 'task', String(pid + t), 'stat'), `${pid + t} (a) b) ${t === 0 ? 'S' : 'R'} 1 1 1 0 -1\n`);
      }
    }
    await writeFile(join(proc, '12', 'limits'), 'Max open files            1024                 4096                 files\n');
    assert.deepEqual(await readTaskStats([12, 7, 999], proc), {
      fileDescriptors: 4, sockets: 2, threads: 3, maxOpenFiles: 1024, states: { running: 1, sleeping: 2, uninterruptible: 0, stopped: 0 },
    });
  } finally {
    await rm(proc, { recursive: true, force: true });
  }
});
