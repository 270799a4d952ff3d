import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { checkAbsolutePath, checkCgroupParent, checkRelativePath } from './paths.ts';
import { checkSysctls } from './network.ts';
import { checkCpuList, int64 } from './resources.ts';
import { checkEnum, ENUMS } from './enums.ts';
import { checkArgv, checkEnvKey, checkEnvValue, checkId, checkName } from './text.ts';

const isInvalid = (err: unknown): boolean => err instanceof InvalidArgumentError;

test('checkCgroupParent() accepts cgroupfs paths and systemd slices', () => {
  for (const ok of ['', '/kubepods', '/kubepods/burstable/pod1', 'kubepods/x', 'kubepods-burstable.slice', '/kubepods.slice/kubepods-burstable.slice', '-.slice', 'system.slice']) checkCgroupParent('p', ok);
});

test('checkCgroupParent() refuses any way out of the cgroup root', () => {
  for (const bad of ['/..', '/kubepods/../..', '../x', '/a/./b', '//a', '/a//b', 'a\0b', 'a\nb', 'x y.slice', '-a.slice', 'a--b.slice', `/${'a'.repeat(5000)}`]) {
    assert.throws(() => checkCgroupParent('linux.cgroup_parent', bad), isInvalid, bad);
  }
});

test('checkAbsolutePath() and checkRelativePath() refuse .. and NUL, and normalise on request', () => {
  checkAbsolutePath('p', '/a/b/');
  checkAbsolutePath('p', '/a/b', { normalised: true });
  checkRelativePath('p', 'c/0.log', { normalised: true });
  assert.throws(() => checkAbsolutePath('p', '', { required: true }), isInvalid);
  assert.throws(() => checkAbsolutePath('p', '/a/..'), isInvalid);
  assert.throws(() => checkAbsolutePath('p', '/a\0'), isInvalid);
  assert.throws(() => checkAbsolutePath('p', '/a//b', { normalised: true }), isInvalid);
  assert.throws(() => checkRelativePath('p', '/a'), isInvalid);
  assert.throws(() => checkRelativePath('p', 'a/./b', { normalised: true }), isInvalid);
  assert.throws(() => checkRelativePath('p', '..'), isInvalid);
});

test('checkSysctls() accepts namespaced names in both spellings', () => {
  checkSysctls('s', { 'net.ipv4.conf.all.forwarding': '1', 'net/ipv4/conf/eth0.100/forwarding': '1', 'kernel.msgmax': '1', 'kernel.sem': '1 2 3 4', 'fs.mqueue.msg_max': '9' }, { net: true, ipc: true });
});

test('checkSysctls() refuses bad syntax, node-wide names and namespaces the pod does not own', () => {
  for (const name of ['net/../..', 'net.ipv4.....x', 'net..x', '.net', 'net.', 'NET.ipv4', 'net.ipv4 x', 'kernel.panic', 'vm.swappiness', 'kernel.semx']) {
    assert.throws(() => checkSysctls('s', { [name]: '1' }, { net: true, ipc: true }), isInvalid, name);
  }
  assert.throws(() => checkSysctls('s', { 'kernel.shmmax': '1' }, { net: true, ipc: false }), isInvalid);
  assert.throws(() => checkSysctls('s', { 'net.core.somaxconn': '1' }, { net: false, ipc: true }), isInvalid);
});

test('checkCpuList() accepts cpuset(7) lists only', () => {
  for (const ok of ['', '0', '0-3', '0-3,5,7-8']) checkCpuList('c', ok);
  for (const bad of ['a', '0-', '-1', '0,,1', '1-0', '0-3,', ' 0', '0\n1']) assert.throws(() => checkCpuList('c', bad), isInvalid, bad);
});

test('int64() refuses what is not a decimal integer', () => {
  assert.equal(int64('f', '-12'), -12n);
  for (const bad of ['1.5', '', 'abc', '1e3']) assert.throws(() => int64('f', bad), isInvalid, bad);
});

test('checkEnum() accepts known numbers only, even when a string name arrives', () => {
  checkEnum('m', 2, ENUMS.NamespaceMode);
  assert.throws(() => checkEnum('m', 4, ENUMS.NamespaceMode), /m "4": is not one of POD, CONTAINER, NODE, TARGET/);
  assert.throws(() => checkEnum('m', 'POD', ENUMS.NamespaceMode), isInvalid);
  assert.throws(() => checkEnum('m', 3, ENUMS.NamespaceMode, [0, 2]), /is not one of POD, NODE/);
});

test('checkName(), checkId(), checkArgv() and the env checks refuse NUL and newlines where they break things', () => {
  assert.throws(() => checkName('n', 'a\tb'), isInvalid);
  assert.throws(() => checkName('n', 'a'.repeat(254)), isInvalid);
  checkName('n', '', false);
  assert.throws(() => checkId('id', ''), /is required/);
  assert.throws(() => checkId('id', 'f'.repeat(129)), /longer than 128/);
  checkArgv('cmd', ['/bin/sh', '-c', 'a\nb']);
  assert.throws(() => checkArgv('cmd', ['/bin/sh\n']), isInvalid);
  assert.throws(() => checkEnvKey('k', 'A=B'), isInvalid);
  checkEnvValue('v', Buffer.from('multi\nline'));
  assert.throws(() => checkEnvValue('v', Buffer.from([0x41, 0])), isInvalid);
});

test('checkId() refuses ids that would name another directory, but not unknown ones', () => {
  checkId('id', 'nope');
  checkId('id', 'never-existed');
  for (const bad of ['..', '.', '../../etc', 'a/b']) assert.throws(() => checkId('container_id', bad), /container_id .*is not an id/, bad);
});
