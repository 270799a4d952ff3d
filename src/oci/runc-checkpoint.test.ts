import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { OciRuntimeError } from './runtime.ts';
import { checkpointArgv, checkpointError, conmonRestoreArgs, criuLogSummary } from './runc-checkpoint.ts';

test('checkpointArgv() leaves the container running, names criu and puts images and logs where asked', () => {
  const argv = checkpointArgv({ root: '/r', systemdCgroup: false, criuPath: '/c/criu', id: 'abc', imagePath: '/w/checkpoint', workPath: '/w' });
  assert.deepEqual(argv.slice(0, 6), ['--root', '/r', '--log-format', 'json', '--criu', '/c/criu']);
  const verb = argv.indexOf('checkpoint');
  assert.ok(verb > 0);
  const flags = argv.slice(verb);
  for (const f of ['--leave-running', '--file-locks', '--tcp-established']) assert.ok(flags.includes(f), f);
  assert.equal(flags[flags.indexOf('--image-path') + 1], '/w/checkpoint');
  assert.equal(flags[flags.indexOf('--work-path') + 1], '/w');
  assert.equal(argv.at(-1), 'abc');
  const systemd = checkpointArgv({ root: '/r', systemdCgroup: true, criuPath: 'c', id: 'x', imagePath: 'i', workPath: 'w' });
  assert.ok(systemd.includes('--systemd-cgroup') && systemd.indexOf('--systemd-cgroup') < systemd.indexOf('checkpoint'), 'a global flag');
});

test('conmonRestoreArgs() passes the images to conmon and criu as a global runtime flag', () => {
  const args = conmonRestoreArgs('/c/criu', '/b/restore/checkpoint');
  assert.deepEqual(args.slice(0, 4), ['--restore', '/b/restore/checkpoint', '--runtime-arg', '--criu=/c/criu']);
  assert.ok(args.includes('--tcp-established'));
});

test('checkpointError() maps a stopped or unknown container, and carries CRIU\'s words otherwise', () => {
  assert.ok(checkpointError('runc', 'x', '{"level":"error","msg":"container not running"}', 1, '') instanceof FailedPreconditionError);
  assert.ok(checkpointError('runc', 'x', '{"level":"error","msg":"container does not exist"}', 1, '') instanceof NotFoundError);
  const err = checkpointError('runc', 'x', '{"level":"error","msg":"criu failed: type DUMP errno 0"}', 1, 'Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds');
  assert.ok(err instanceof OciRuntimeError);
  assert.match(err.message, /criu failed: type DUMP/);
  assert.match(err.message, /dump\.log ends: Error \(criu\/vdso\.c:381\)/);
});

test('criuLogSummary() keeps the Error lines and the last lines, bounded', () => {
  const log = ['(0.1) Version: 3.17.1', '(0.2) Error (criu/vdso.c:381): vdso: bad', ...Array.from({ length: 5000 }, (_, i) => `(1.${i}) noise ${i}`), '(9.9) Dumping finished with error'].join('\n');
  const s = criuLogSummary(log);
  assert.match(s, /^\(0\.2\) Error \(criu\/vdso\.c:381\)/);
  assert.match(s, /Dumping finished with error$/);
  assert.ok(Buffer.byteLength(s) <= 3072);
  assert.equal(criuLogSummary(''), '');
});
