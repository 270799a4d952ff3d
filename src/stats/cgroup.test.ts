import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupDirsFor, cgroupPathOfMemoryDir, parseCgroupMounts, sampleFromV1, sampleFromV2 } from './cgroup.ts';
import { nanoCoresBetween } from './cpu-rate.ts';
import { parseNetDev } from './net-dev.ts';

const MOUNTINFO = [
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

test('parseCgroupMounts() and cgroupDirsFor() find each v1 controller of a hybrid host', () => {
  const m = parseCgroupMounts(MOUNTINFO);
  assert.equal(m.v2Root, '/sys/fs/cgroup/unified');
  assert.deepEqual(cgroupDirsFor(m, '/kubepods/crt-1'), {
    version: 1, memory: '/sys/fs/cgroup/memory/kubepods/crt-1', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/kubepods/crt-1', cpu: '/sys/fs/cgroup/cpu,cpuacct/kubepods/crt-1',
    pids: '/sys/fs/cgroup/pids/kubepods/crt-1', blkio: '/sys/fs/cgroup/memory/kubepods/crt-1',
  }, 'cpu shares the cpu,cpuacct mount; an unmounted controller (blkio here) falls back to the memory dir, whose files it lacks');
  assert.equal(cgroupPathOfMemoryDir(m, '/sys/fs/cgroup/memory/kubepods/crt-1'), '/kubepods/crt-1');
  const v2 = parseCgroupMounts('30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw');
  assert.deepEqual(cgroupDirsFor(v2, '/crt-1'), { version: 2, dir: '/sys/fs/cgroup/crt-1' });
});

test('sampleFromV1() computes working set as usage minus inactive file and swap from memsw', () => {
  const s = sampleFromV1({
    'cpuacct.usage': '1500000000\n', 'memory.usage_in_bytes': '1000000\n', 'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.stat': 'total_rss 600000\ntotal_inactive_file 300000\ntotal_pgfault 42\ntotal_pgmajfault 2\n',
    'memory.memsw.usage_in_bytes': '1200000\n', 'pids.current': '3\n',
  });
  assert.equal(s.cpuUsageNs, 1_500_000_000n);
  assert.equal(s.workingSetBytes, 700000);
  assert.equal(s.rssBytes, 600000);
  assert.equal(s.pageFaults, 42);
  assert.equal(s.majorPageFaults, 2);
  assert.equal(s.memoryLimitBytes, undefined, 'the v1 "unlimited" value is no limit');
  assert.equal(s.swapUsageBytes, 200000);
  assert.equal(s.processes, 3);
});

test('sampleFromV2() reads cpu.stat usage_usec in ns and memory.max "max" as no limit', () => {
  const s = sampleFromV2({
    'cpu.stat': 'usage_usec 2500\nuser_usec 2000\n', 'memory.current': '5000\n', 'memory.max': 'max\n',
    'memory.stat': 'anon 3000\nfile 2000\ninactive_file 1000\npgfault 7\npgmajfault 1\n', 'memory.swap.current': '0\n', 'pids.current': '1\n',
  });
  assert.equal(s.cpuUsageNs, 2_500_000n);
  assert.equal(s.workingSetBytes, 4000);
  assert.equal(s.rssBytes, 3000);
  assert.equal(s.memoryLimitBytes, undefined);
  assert.equal(s.swapUsageBytes, 0);
});

test('nanoCoresBetween() is the CPU rate in billionths of a core, undefined for an empty or negative window', () => {
  assert.equal(nanoCoresBetween({ cpuNs: 0n, atNs: 0n }, { cpuNs: 500_000_000n, atNs: 1_000_000_000n }), 500_000_000);
  assert.equal(nanoCoresBetween({ cpuNs: 0n, atNs: 5n }, { cpuNs: 10n, atNs: 5n }), undefined);
  assert.equal(nanoCoresBetween({ cpuNs: 10n, atNs: 0n }, { cpuNs: 5n, atNs: 5n }), undefined);
});

test('parseNetDev() reads rx/tx bytes, packets, errors and drops, leaving out lo', () => {
  const text = 'Inter-|   Receive\n face |bytes\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1234 5 1 3 0 0 0 0 4321 6 2 4 0 0 0 0\n';
  assert.deepEqual(parseNetDev(text), [{ name: 'eth0', rxBytes: 1234, rxPackets: 5, rxErrors: 1, rxDropped: 3, txBytes: 4321, txPackets: 6, txErrors: 2, txDropped: 4 }]);
});
