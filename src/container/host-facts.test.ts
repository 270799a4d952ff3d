import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesFromMask, hasSysResource, kernelSupportsRro, parseMountinfo, propagationOf } from './host-facts.ts';
import { parseV1Controllers } from '../host/cgroup-controllers.ts';
import { memoryCgroupFrom, oomKillCount } from './oom.ts';
import { effectiveStopSignal, normalizeSignalName, signalEnumOf } from './stop-signal.ts';
import { criLogPath, imageRefFor } from './container-create.ts';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
  '30 22 0:25 / /mnt/shared rw shared:5 - tmpfs tmpfs rw',
  '31 22 0:26 / /mnt/slave rw master:5 - tmpfs tmpfs rw',
  '32 30 0:27 / /mnt/shared/inner\\040dir rw - tmpfs tmpfs rw',
].join('\n');

test('parseMountinfo() and propagationOf() find the propagation of the mount holding a path', () => {
  const entries = parseMountinfo(MOUNTINFO);
  assert.equal(propagationOf(entries, '/etc/hosts'), 'private');
  assert.equal(propagationOf(entries, '/mnt/shared/x'), 'shared');
  assert.equal(propagationOf(entries, '/mnt/slave'), 'slave');
  assert.equal(propagationOf(entries, '/mnt/shared/inner dir/y'), 'private');
  assert.equal(propagationOf(entries, '/mnt/sharedx'), 'private', 'a prefix that is not a path component does not count');
});

test('hasSysResource() reads bit 24 of CapEff', () => {
  assert.equal(hasSysResource('Name:\tnode\nCapEff:\t000001ffffffffff\n'), true);
  assert.equal(hasSysResource('CapEff:\t000001fffeffffff\n'), false);
  assert.equal(hasSysResource('no caps here'), false);
});

test('capabilitiesFromMask() names the bits of a CapBnd mask', () => {
  const names = capabilitiesFromMask('000001fffeffffff');
  assert.equal(names.length, 40);
  assert.ok(!names.includes('CAP_SYS_RESOURCE'), 'bit 24 clear');
  assert.ok(names.includes('CAP_CHECKPOINT_RESTORE'));
  assert.deepEqual(capabilitiesFromMask('5'), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
});

test('kernelSupportsRro() needs Linux 5.12', () => {
  assert.equal(kernelSupportsRro('6.1.0-18-amd64'), true);
  assert.equal(kernelSupportsRro('5.12.0'), true);
  assert.equal(kernelSupportsRro('5.10.0-28-amd64'), false);
  assert.equal(kernelSupportsRro('weird'), false);
});

test('memoryCgroupFrom() prefers the v1 memory controller, else the unified path', () => {
  const v1 = '12:pids:/crt-1\n5:memory:/kubepods/crt-1\n0::/\n';
  assert.equal(memoryCgroupFrom(v1, undefined), '/sys/fs/cgroup/memory/kubepods/crt-1');
  assert.equal(memoryCgroupFrom('0::/kubepods/crt-2\n', '/sys/fs/cgroup'), '/sys/fs/cgroup/kubepods/crt-2');
  assert.equal(memoryCgroupFrom('', undefined), '');
});

test('oomKillCount() reads oom_kill from memory.oom_control and memory.events', () => {
  assert.equal(oomKillCount('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n'), 2);
  assert.equal(oomKillCount('low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n'), 1);
  assert.equal(oomKillCount('oom_kill_disable 0\nunder_oom 0\n'), 0);
});

test('effectiveStopSignal() takes the config, else the image, else SIGTERM, and signalEnumOf() maps it', () => {
  assert.equal(effectiveStopSignal(0, undefined), 'SIGTERM');
  assert.equal(effectiveStopSignal(0, 'QUIT'), 'SIGQUIT');
  assert.equal(effectiveStopSignal(0, '10'), 'SIGUSR1');
  assert.equal(effectiveStopSignal(signalEnumOf('SIGINT'), 'SIGQUIT'), 'SIGINT');
  assert.equal(normalizeSignalName('sigusr2'), 'SIGUSR2');
  assert.equal(signalEnumOf('SIGTERM'), 23);
  assert.equal(signalEnumOf('SIGRTMIN+3'), 38);
  assert.throws(() => normalizeSignalName('99'), /not a known signal/);
});

test('criLogPath() joins the pod log dir and the relative log path, and refuses escapes', () => {
  assert.equal(criLogPath('/var/log/pods/ns_p_u', 'c/0.log'), '/var/log/pods/ns_p_u/c/0.log');
  assert.equal(criLogPath('', 'c/0.log'), '');
  assert.throws(() => criLogPath('/var/log/pods/x', '../../etc/passwd'), /relative/);
  assert.throws(() => criLogPath('/var/log/pods/x', '/abs.log'), /relative/);
});

test('imageRefFor() picks the repo digest of the requested repository', () => {
  const image = { id: 'f'.repeat(64), names: [], digests: ['a.io/x@sha256:1', 'b.io/y@sha256:1'], topLayer: '', size: 1, created: '' };
  assert.equal(imageRefFor(image, 'b.io/y:latest'), 'b.io/y@sha256:1');
  assert.equal(imageRefFor(image, 'c.io/z:1'), 'a.io/x@sha256:1');
  assert.equal(imageRefFor({ ...image, digests: [] }, 'x'), `sha256:${'f'.repeat(64)}`);
});

describe('parseV1Controllers()', () => {
  it('parseV1Controllers() lists controllers attached to a v1 hierarchy only', () => {
    const text = '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t60\t1\nhugetlb\t0\t1\t1\npids\t8\t1\t0\n';
    assert.deepEqual(parseV1Controllers(text), ['cpuset', 'cpu', 'memory']);
  });
});
