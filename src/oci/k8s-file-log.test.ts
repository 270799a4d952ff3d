import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitK8sFileLog } from './k8s-file-log.ts';

const log = Buffer.from(
  '2026-11-22T04:18:29.637290795+00:00 stdout F hello\n' +
    '2026-11-22T04:18:29.637290795+00:00 stdout P partial-\n' +
    '2026-11-22T04:18:29.637346279+00:00 stderr F to stderr\n' +
    '2026-11-22T04:18:29.637346280+00:00 stdout F line\n' +
    '2026-11-22T04:18:29.637346281+00:00 stdout F \n',
);

test('splitK8sFileLog() joins partial records and restores the newline of full ones', () => {
  const { stdout, stderr } = splitK8sFileLog(log, 1024);
  assert.equal(stdout.toString(), 'hello\npartial-line\n\n');
  assert.equal(stderr.toString(), 'to stderr\n');
});

test('splitK8sFileLog() caps each stream separately', () => {
  const { stdout, stderr } = splitK8sFileLog(log, 8);
  assert.equal(stdout.toString(), 'hello\npa');
  assert.equal(stderr.toString(), 'to stder');
});

test('splitK8sFileLog() keeps non-UTF-8 bytes and skips malformed records', () => {
  const bin = Buffer.concat([Buffer.from('T stdout F '), Buffer.from([0xff, 0xfe]), Buffer.from('\ngarbage\n')]);
  assert.deepEqual(splitK8sFileLog(bin, 100).stdout, Buffer.from([0xff, 0xfe, 0x0a]));
});
